import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Notification } from '../src/notifications/notification.js';
import { bounded, closeAllClients, connected, createClient, disconnected, nextEvent, request, type TestSocket } from './helpers/clients.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';

/**
 * SPEC, Socket.IO protocol: "A Socket.IO client that recovers its session (`socket.recovered`) with a token in its
 * handshake `auth` has that token verified (same user, else `User ID mismatch`) and applied before anything else, so a
 * client that refreshed its token while away comes back authenticated with the new expiry and entitlement."
 * Found while writing test/session-core.test.ts: with `skipMiddlewares: true` the handshake middleware does not run
 * for a recovered socket, so its new token is never seen.
 */

const A = '17841400000000001';
const B = '17841400000000002';
let nextUser = 0;
const newUser = () => `refresh-user-${++nextUser}`;

describe('Socket.IO recovery with a token refreshed while away', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer({ RECOVERY_WINDOW_MS: '30000' });
  });
  afterEach(() => closeAllClients());
  afterAll(() => srv.stop());

  /** A handshake-authenticated client subscribed to comments that has received one broadcast (so it has an offset). */
  async function readyClient(token: string) {
    const socket = createClient(srv.url, { reconnecting: true, token });
    const received: Notification[] = [];
    socket.on('webhook_event', (n) => received.push(n));
    await nextEvent(socket, 'auth_success');
    await request(socket, 'subscribe', { eventTypes: ['comments'] });
    const first = nextEvent(socket, 'webhook_event');
    expect((await postFlat(srv.url, flatEvent({ accountId: A }))).status).toBe(200);
    await first;
    return { socket, received };
  }

  /** Drops the transport (the server keeps the session), then reconnects with `token` in the handshake. */
  async function dropAndComeBackWith(socket: TestSocket, token: string, whileDown: () => Promise<unknown> = async () => {}) {
    const serverSocket = srv.server.io.of('/').sockets.get(socket.id as string);
    const gone = Promise.all([
      serverSocket === undefined ? undefined : bounded(new Promise((r) => serverSocket.once('disconnect', r)), 'server-side disconnect'),
      disconnected(socket),
    ]);
    socket.io.reconnection(false);
    socket.io.engine.close();
    await gone;
    await whileDown();
    socket.auth = { token };
    socket.io.reconnection(true);
    const back = connected(socket);
    socket.connect();
    await back;
  }

  it('a narrower accountIds claim applies at once: the account it dropped is no longer delivered, the one it kept is', async () => {
    const userId = newUser();
    const { socket, received } = await readyClient(mintToken({ userId, accountIds: [A, B] }, { expiresIn: 3600 }));

    await dropAndComeBackWith(socket, mintToken({ userId, accountIds: [A] }, { expiresIn: 7200 }));

    expect(socket.recovered).toBe(true);
    expect(await request(socket, 'get_subscriptions', {})).toMatchObject({ subscriptions: ['comments'], accountIds: [A] });
    const forB = flatEvent({ accountId: B });
    const forA = flatEvent({ accountId: A });
    const arrived = bounded(new Promise<void>((resolve) => socket.on('webhook_event', (n) => n.id === forA.id && resolve())), 'A');
    await postFlat(srv.url, forB);
    await postFlat(srv.url, forA);
    await arrived;
    // Delivery keeps arrival order: A arriving proves B would have arrived before it.
    expect(received.map((n) => n.accountId).slice(1)).toEqual([A]);
  });

  it('a token that expired while away is replaced by the fresh one: no "Token expired", the session stays', async () => {
    const userId = newUser();
    const expiresAt = Date.now() + 1500;
    const { socket } = await readyClient(mintToken({ userId, accountIds: [A], exp: expiresAt / 1000 }));
    const failures: unknown[] = [];
    socket.on('auth_failed', (f) => failures.push(f));

    await dropAndComeBackWith(socket, mintToken({ userId, accountIds: [A] }, { expiresIn: 3600 }), () =>
      delay(Math.max(0, expiresAt - Date.now() + 100)),
    );

    expect(socket.recovered).toBe(true);
    // An answer, or the disconnect that would come instead.
    const answer = await Promise.race([request(socket, 'heartbeat', {}), disconnected(socket).then((reason) => ({ disconnected: reason }))]);
    expect(failures).toEqual([]);
    expect(answer).toMatchObject({ serverTime: expect.any(String) });
    expect(socket.connected).toBe(true);
  });
});
