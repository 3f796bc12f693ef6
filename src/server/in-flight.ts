import type { Server } from 'node:http';

/**
 * Counts HTTP requests in progress, so that a graceful drain can wait for them while the listener stays open.
 */
export function trackInFlight(server: Server) {
  let active = 0;
  let waiters: Array<() => void> = [];
  server.on('request', (_req, res) => {
    active++;
    res.once('close', () => {
      active--;
      if (active === 0) {
        const done = waiters;
        waiters = [];
        for (const resolve of done) resolve();
      }
    });
  });
  return {
    get active() {
      return active;
    },
    /** Resolves when no request is in progress. */
    idle(): Promise<void> {
      return active === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve));
    },
  };
}
