import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../observability/logger.js';
import type { trackConnections } from './connections.js';

/** How long the end of a drain waits for connections to close by themselves before cutting them. */
const CLOSE_GRACE_MS = 1000;
/** Kept back from SHUTDOWN_TIMEOUT_MS so that the drain ends on its own before the signal handler's hard exit. */
const SAFETY_MS = 250;

export interface ShutdownSteps {
  readonly logger: Logger;
  readonly requests: ReturnType<typeof trackConnections>;
  /** Readiness turns 503 (load balancers stop routing here); everything else keeps serving. */
  notReady(): void;
  /** New sockets, webhooks and admin events are refused from now on. */
  refuseNew(): void;
  /** Every socket is told `server_shutdown` and disconnected; resolves when they are gone or after `graceMs`. */
  sayGoodbye(graceMs: number): Promise<void>;
  /** Closes the listener and both transports; resolves when they are closed. */
  closeTransports(): Promise<void>;
  /** Releases the backend (Redis) once nothing uses it any more. */
  closeBackend(): Promise<void>;
}

/** How a stop went: clean unless work in progress (a request being processed) had to be cut at the deadline. */
export interface StopResult {
  readonly clean: boolean;
}

/**
 * The graceful stop, within `timeoutMs` whatever clients hold open:
 * 1. readiness 503 for `delayMs` while everything keeps serving (SIGTERM; SIGINT skips it);
 * 2. new sockets and webhooks refused; requests in flight finish (what they carry reaches the sockets still open),
 *    for up to half of what remains;
 * 3. uploads still arriving are answered 503 (Meta retries them: nothing of them was accepted) and every socket is
 *    told `server_shutdown`;
 * 4. requests being processed get the rest of the budget; then the transports close, and what is left is cut.
 * The stop is clean (exit 0) unless a request still being processed had to be cut.
 */
export async function gracefulStop(steps: ShutdownSteps, options: { delayMs: number; timeoutMs: number }): Promise<StopResult> {
  const deadline = Date.now() + options.timeoutMs - SAFETY_MS;
  const left = () => Math.max(0, deadline - Date.now());
  steps.notReady();
  if (options.delayMs > 0) await sleep(Math.min(options.delayMs, Math.max(0, left() - 2 * CLOSE_GRACE_MS)));

  steps.refuseNew();
  await within(steps.requests.idle(), left() / 2);
  const refused = steps.requests.refuseUnfinishedUploads();
  if (refused > 0) steps.logger.info({ refused }, 'uploads still arriving refused with 503');
  await steps.sayGoodbye(Math.min(CLOSE_GRACE_MS, left()));
  await within(steps.requests.idle(), left() - CLOSE_GRACE_MS);

  const cut = steps.requests.working();
  if (cut > 0) steps.logger.error({ requests: cut }, 'shutdown deadline: cutting requests still being processed');
  await within(steps.closeTransports(), Math.min(CLOSE_GRACE_MS, left()));
  steps.requests.destroyAll();
  await within(steps.closeTransports(), left());
  await within(steps.closeBackend(), left());
  steps.logger.info({ clean: cut === 0 }, 'server stopped');
  return { clean: cut === 0 };
}

/** Resolves when `promise` settles or after `ms`, whichever comes first; never rejects. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  const timer = new AbortController();
  await Promise.race([promise.catch(() => undefined), sleep(ms, undefined, { signal: timer.signal }).catch(() => undefined)]);
  timer.abort();
}
