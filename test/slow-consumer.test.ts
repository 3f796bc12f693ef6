import type { Socket as NetSocket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Session } from '../src/session/session.js';
import { ACCOUNT_A, authedClient, closeClients, eventually, type TestClient } from './helpers/clients.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';
import { WsTestClient } from './helpers/ws-client.js';

const LIMIT = 20_000;
/** Bounds of the flood: enough to fill loopback's kernel buffers (a few MB) several times over, never unbounded. */
const MAX_EVENTS = 300;
const FLOOD_DEADLINE_MS = 20_000;
const CONTENT = 'x'.repeat(50_000);

/** The TCP socket under a socket.io-client connection on the websocket transport. */
const ioTcp = (client: TestClient): NetSocket =>
  (client.socket.io.engine.transport as unknown as { ws: { _socket: NetSocket } }).ws._socket;
/** The TCP socket under a raw `ws` client. */
const wsTcp = (client: WsTestClient): NetSocket => (client.ws as unknown as { _socket: NetSocket })._socket;

describe('MAX_CLIENT_BUFFER_BYTES: a client that stops reading is disconnected as a slow consumer', () => {
  let srv: RunningServer | undefined;
  const wsClients: WsTestClient[] = [];
  const paused: NetSocket[] = [];

  afterEach(async () => {
    // A peer that never reads would hold the close handshakes open (ws waits 30 s for them): read again, then close.
    for (const socket of paused.splice(0)) socket.resume();
    for (const client of wsClients.splice(0)) client.close();
    closeClients();
    await srv?.stop();
    srv = undefined;
  });

  it('on Socket.IO and raw WebSocket alike, while a reading client receives every notification', async () => {
    srv = await startServer({ MAX_CLIENT_BUFFER_BYTES: String(LIMIT) });
    const { url, server } = srv;
    const sessionOf = (transport: string, userId: string): Session | undefined =>
      [...server.hub.registry.values()].find((s) => s.transport === transport && s.state.userId === userId);

    const reader = await authedClient(url, { userId: 'reader', accountIds: ['*'] }, { subscribe: ['comments'] });
    const slowIo = await authedClient(url, { userId: 'slow-io', accountIds: ['*'] }, { subscribe: ['comments'] });
    const slowWs = new WsTestClient(url);
    wsClients.push(slowWs);
    await slowWs.opened();
    slowWs.send({ type: 'authenticate', token: mintToken({ userId: 'slow-ws', accountIds: ['*'] }, { expiresIn: 3600 }), userId: 'slow-ws' });
    await slowWs.next('auth_success');
    slowWs.send({ type: 'subscribe', eventTypes: ['comments'] });
    await slowWs.next('subscription_confirmed');
    const slowIoSession = sessionOf('socketio', 'slow-io');
    const slowWsSession = sessionOf('websocket', 'slow-ws');
    expect(slowIoSession).toBeDefined();
    expect(slowWsSession).toBeDefined();

    // Stop reading: the server's writes pile up, first in the kernel's buffers, then in the process.
    for (const socket of [ioTcp(slowIo), wsTcp(slowWs)]) {
      socket.pause();
      paused.push(socket);
    }
    const gone = () => slowIoSession?.closed === true && slowWsSession?.closed === true;

    const published: string[] = [];
    const deadline = Date.now() + FLOOD_DEADLINE_MS;
    while (!gone() && published.length < MAX_EVENTS && Date.now() < deadline) {
      const event = flatEvent({ accountId: ACCOUNT_A, comment: { text: CONTENT } });
      const res = await postFlat(url, event);
      expect(res.status).toBe(200);
      published.push(event.id as string);
      // A slow consumer is told, and its goodbye waits behind its backlog for a short grace: read again at once.
      if (slowWsSession?.closed === true) paused[1]?.resume();
      if (slowIoSession?.closed === true) paused[0]?.resume();
      // The reader keeps up: its backlog never grows past one notification.
      await reader.waitForDelivery(event.id as string, 5000);
      // The raw WebSocket backlog is checked at each send, Socket.IO's once a second: once the kernel's buffers are
      // full (the raw client is gone), give the Socket.IO check a tick before piling up more.
      if (slowWsSession?.closed === true && slowIoSession?.closed !== true) {
        await eventually(() => slowIoSession?.closed === true, 1500, 'the Socket.IO slow-consumer check').catch(() => undefined);
      }
    }

    expect(
      { socketio: slowIoSession?.closed, websocket: slowWsSession?.closed },
      `slow consumers disconnected after ${published.length} notifications of ${CONTENT.length} bytes`,
    ).toEqual({ socketio: true, websocket: true });
    expect(server.hub.registry.get(slowIoSession?.id ?? '')).toBeUndefined();
    expect(server.hub.registry.get(slowWsSession?.id ?? '')).toBeUndefined();
    // Positive control: the reading client got every notification, in order, and is still connected.
    expect(reader.deliveredIds()).toEqual(published);
    expect(reader.socket.connected).toBe(true);
    expect(server.hub.registry.size).toBe(1);
    await reader.settle();

    // Reading again within the grace, each finds the server's goodbye behind its backlog.
    for (const socket of paused) socket.resume();
    expect(await slowIo.disconnected(15_000)).toBe('io server disconnect');
    expect(await slowWs.closedWithin(15_000)).toEqual({ code: 1013, reason: 'Slow consumer' });
  }, 60_000);
});
