import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Counts HTTP requests in progress, so that a graceful drain can wait for them while the listener stays open, and
 * keeps every TCP connection, upgraded ones included (which `closeAllConnections()` does not reach), so that the end
 * of a drain can cut what a peer that stopped reading would otherwise hold open for `ws`'s 30 s close timeout.
 */
export function trackConnections(server: Server) {
  let active = 0;
  let waiters: Array<() => void> = [];
  const sockets = new Set<Socket>();

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
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
    /** Resolves when no request is in progress. */
    idle(): Promise<void> {
      return active === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve));
    },
    destroyAll(): void {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
  };
}
