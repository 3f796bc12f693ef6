import type { Socket as NetSocket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closeAllClients, createClient, nextEvent } from './helpers/clients.js';
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
      const io = createClient(srv.url, { token: mintToken({ userId: 'frozen-io' }, { expiresIn: 60 }) });
      await nextEvent(io, 'auth_success');
      const raw = new WsTestClient(srv.url);
      await raw.opened();
      raw.send({ type: 'heartbeat' });
      await raw.next('heartbeat_response');

      // Positive control first: both are live and registered.
      expect(srv.server.hub.registry.size).toBe(2);
      const engineWs = (io.io.engine.transport as unknown as { ws: unknown }).ws;
      tcpOf(engineWs).pause();
      tcpOf(raw.ws).pause();

      // Without the cut, `ws` waits 30 s for each close frame: the test's own timeout (10 s) bounds this.
      await srv.stop();
      expect(srv.server.hub.registry.size).toBe(0);
      raw.close();
      closeAllClients();
    },
    10_000,
  );
});
