import type { Readiness } from '../http/health.js';
import type { Logger } from '../observability/logger.js';

/**
 * Readiness as `/readyz` reports it, logged once per change (not once per probe: a load balancer asks every few
 * seconds): a warning with the reason when it turns not ready, a line when it is ready again.
 */
export function watchReadiness(reason: () => string | undefined, logger: Logger): Readiness {
  let last: string | undefined;
  return {
    notReadyReason() {
      const now = reason();
      if (now !== last) {
        if (now === undefined) logger.info({ was: last }, 'ready again');
        else logger.warn({ reason: now }, 'not ready');
        last = now;
      }
      return now;
    },
  };
}
