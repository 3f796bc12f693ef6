import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The HTTP requests in progress and every TCP connection, so that a graceful drain can wait for the requests while the
 * listener stays open, tell a request still being received (a stalled upload) from one being worked on, and at the
 * end cut what a peer that stopped reading would otherwise hold open (`closeAllConnections()` does not reach upgraded
 * ones, and `ws` waits 30 s for a close frame). Call it before Socket.IO attaches: Engine.IO then hands this listener
 * only what is not its own (its long-polling requests, held until it has something to send, it closes itself).
 */
export function trackConnections(server: Server) {
  const requests = new Map<ServerResponse, IncomingMessage>();
  let waiters: Array<() => void> = [];
  const sockets = new Set<Socket>();

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    requests.set(res, req);
    res.once('close', () => {
      requests.delete(res);
      if (requests.size === 0) {
        const done = waiters;
        waiters = [];
        for (const resolve of done) resolve();
      }
    });
  });

  return {
    /** Resolves when no request is in progress. */
    idle(): Promise<void> {
      return requests.size === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve));
    },
    /**
     * Ends every request whose body is still arriving with 503 `not_ready` (Meta retries it; nothing of it was
     * accepted). Returns how many.
     */
    refuseUnfinishedUploads(): number {
      let refused = 0;
      for (const [res, req] of requests) {
        if (req.complete || res.headersSent) continue;
        refused++;
        res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
        res.end(JSON.stringify({ error: 'not_ready', message: 'Server shutting down; retry later' }));
        req.socket.destroySoon();
      }
      return refused;
    },
    /** Requests whose body arrived and whose answer has not been sent: work a cut would lose. */
    working(): number {
      let count = 0;
      for (const [res, req] of requests) if (req.complete && !res.writableFinished) count++;
      return count;
    },
    destroyAll(): void {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
  };
}
