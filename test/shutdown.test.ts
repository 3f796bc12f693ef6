import type { Socket as NetSocket } from 'node:net';
import { io } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { closeClients, openClient } from './helpers/clients.js';
import { startServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { WsTestClient } from './helpers/ws-client.js';

/** The TCP socket under a client, to stop it reading (a frozen tab, a stalled phone). */
const tcpOf = (holder: unknown): NetSocket => {
  const socket = (holder as { _socket?: NetSocket })._socket;
  if (socket === undefined) throw new Error('no underlying TCP socket');
  return socket;
};

describe('graceful stop', () => {
  it(
    'completes even when clients stopped reading (their close handshakes are cut after a short grace)',
    async () => {
      const srv = await startServer();
      const io = openClient(srv.url, { token: mintToken({ userId: 'frozen-io' }, { expiresIn: 60 }) });
      await io.next('auth_success');
      const raw = new WsTestClient(srv.url);
      await raw.opened();
      raw.send({ type: 'heartbeat' });
      await raw.next('heartbeat_response');

      // Positive control first: both are live and registered.
      expect(srv.server.hub.registry.size).toBe(2);
      const engineWs = (io.socket.io.engine.transport as unknown as { ws: unknown }).ws;
      tcpOf(engineWs).pause();
      tcpOf(raw.ws).pause();

      // Without the cut, `ws` waits 30 s for each close frame: the test's own timeout (10 s) bounds this.
      await srv.stop();
      expect(srv.server.hub.registry.size).toBe(0);
      raw.close();
      closeClients();
    },
    10_000,
  );
});

describe('graceful stop with long-polling clients', () => {
  it('tells every polling client server_shutdown before closing', async () => {
    const srv = await startServer();
    const clients = Array.from({ length: 5 }, (_, i) =>
      io(srv.url, {
        transports: ['polling'],
        reconnection: false,
        forceNew: true,
        auth: { token: mintToken({ userId: `polling-${i}` }, { expiresIn: 60 }) },
      }),
    );
    try {
      await Promise.all(clients.map((c) => new Promise((resolve) => c.once('auth_success', resolve))));
      const notices = clients.map(
        (c) =>
          new Promise<string>((resolve) => {
            c.once('server_shutdown', () => resolve('notified'));
            c.once('disconnect', () => setTimeout(() => resolve('disconnected without notice'), 50));
          }),
      );
      await srv.stop();
      expect(await Promise.all(notices)).toEqual(clients.map(() => 'notified'));
    } finally {
      for (const c of clients) c.disconnect();
    }
  });
});
