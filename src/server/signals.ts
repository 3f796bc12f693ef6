import type { Logger } from '../observability/logger.js';
import type { StopResult } from './shutdown.js';

/**
 * SIGTERM starts a graceful stop after `delayMs` of readiness 503 (a load balancer's cue), SIGINT (a developer's
 * Ctrl-C) at once. The process exits 0 when the stop was clean, 1 when it had to cut work in progress or took longer
 * than `timeoutMs` (a hard bound, whatever a client holds open), and 1 at once on a second signal.
 */
export function exitOnSignals(
  stop: (options: { delayMs: number }) => Promise<StopResult>,
  options: { delayMs: number; timeoutMs: number; logger: Logger },
): void {
  const { logger } = options;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    const delayMs = signal === 'SIGTERM' ? options.delayMs : 0;
    logger.info({ signal, delayMs, timeoutMs: options.timeoutMs }, 'shutting down gracefully');
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs: options.timeoutMs }, 'graceful shutdown timed out');
      process.exit(1);
    }, options.timeoutMs);
    deadline.unref();
    stop({ delayMs }).then(
      ({ clean }) => {
        clearTimeout(deadline);
        process.exit(clean ? 0 : 1);
      },
      (err: unknown) => {
        logger.error({ err }, 'graceful shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
