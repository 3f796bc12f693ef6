import type { Logger } from '../observability/logger.js';

/**
 * SIGTERM/SIGINT start a graceful stop; the process exits 0 when it completes, 1 if it takes longer than
 * `timeoutMs`, and 1 at once on a second signal.
 */
export function exitOnSignals(stop: () => Promise<void>, options: { timeoutMs: number; logger: Logger }): void {
  const { logger } = options;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, timeoutMs: options.timeoutMs }, 'shutting down gracefully');
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs: options.timeoutMs }, 'graceful shutdown timed out');
      process.exit(1);
    }, options.timeoutMs);
    deadline.unref();
    stop().then(
      () => {
        clearTimeout(deadline);
        process.exit(0);
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
