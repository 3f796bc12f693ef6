import { createNotificationClient } from '../../client/src/index.js';
import type { ClientError, ClientOptions, ClientState, GapInfo, Notification, NotificationClient } from '../../client/src/index.js';
import { ALL_EVENT_TYPES } from './webhook-deliveries.js';
import { mintToken, type TokenClaims } from './tokens.js';

const open = new Set<NotificationClient>();

/** Test-friendly defaults: quick reconnects, short timeouts. */
export const FAST: Partial<ClientOptions> = { reconnectDelayMs: 50, reconnectDelayMaxMs: 400, requestTimeoutMs: 3000, connectTimeoutMs: 3000 };

/**
 * An SDK client (from client/src, as an application imports it) and everything it reported, in order. Waiting looks
 * at what already happened first, so a test never races an event that came before it started waiting.
 */
export class SdkRecorder {
  readonly notifications: Notification[] = [];
  readonly gaps: GapInfo[] = [];
  readonly states: ClientState[] = [];
  readonly errors: ClientError[] = [];
  /** Every event in order, for failure messages. */
  readonly log: string[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(
    readonly client: NotificationClient,
    readonly issued = { count: 0 },
  ) {
    client.on('notification', (n) => this.#record(() => this.notifications.push(n), `notification ${n.id}`));
    client.on('gap', (g) => this.#record(() => this.gaps.push(g), `gap since ${g.since}`));
    client.on('state', (s) => this.#record(() => this.states.push(s), `state ${s}`));
    client.on('error', (e) => this.#record(() => this.errors.push(e), `error ${e.code}: ${e.message}`));
  }

  get ids(): string[] {
    return this.notifications.map((n) => n.id);
  }

  /** Resolves once `ready()` holds; rejects after `timeoutMs` with what happened so far. */
  until(ready: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const wake = () => {
        if (!ready()) return;
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; log: ${this.log.slice(-30).join(' | ')}`));
      }, timeoutMs);
      this.#waiters.add(wake);
    });
  }

  /** The `count`-th time (from 1) the client reached `state`. */
  reached(state: ClientState, count = 1, timeoutMs = 5000): Promise<void> {
    return this.until(() => this.states.filter((s) => s === state).length >= count, `state ${state} #${count}`, timeoutMs);
  }

  received(id: string, timeoutMs = 5000): Promise<void> {
    return this.until(() => this.ids.includes(id), `notification ${id}`, timeoutMs);
  }

  #record(apply: () => void, line: string): void {
    apply();
    this.log.push(line);
    for (const wake of [...this.#waiters]) wake();
  }
}

export interface SdkClientOptions extends Partial<ClientOptions> {
  /** Claims of the tokens `getToken` mints (a fresh token on every call). */
  claims?: TokenClaims;
  /** Lifetime of each minted token, in seconds. */
  tokenSeconds?: number;
}

/** Creates an SDK client whose `getToken` mints a fresh test token on each call; closed by `closeSdkClients`. */
export function sdkClient(url: string, options: SdkClientOptions = {}): SdkRecorder {
  const { claims = { userId: 'sdk-user', accountIds: ['*'] }, tokenSeconds = 3600, ...rest } = options;
  const issued = { count: 0 };
  const client = createNotificationClient({
    url,
    eventTypes: ALL_EVENT_TYPES as ClientOptions['eventTypes'],
    getToken: () => {
      issued.count++;
      return mintToken(claims, { expiresIn: tokenSeconds });
    },
    ...FAST,
    ...rest,
  });
  open.add(client);
  return new SdkRecorder(client, issued);
}

export async function closeSdkClients(): Promise<void> {
  await Promise.all([...open].map((c) => c.close()));
  open.clear();
}
