import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Notification } from '../src/notifications/notification.js';
import { bounded, closeClients, openClient, type TestClient } from './helpers/clients.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';

const A = '17841400000000001';
const B = '17841400000000002';

/** Unique per test: registry counts by user are then exact. */
let nextUser = 0;
const newUser = () => `recovery-user-${++nextUser}`;

function recoveringClient(url: string, token?: string): TestClient {
  return openClient(url, { reconnecting: true, ...(token !== undefined && { token }) });
}

const tokenFor = (userId: string, accountIds: unknown = [A], expiresIn = 3600) =>
  mintToken({ userId, accountIds }, { expiresIn });

type AuthPath = 'handshake' | 'authenticate event';

/** A connected, authenticated, subscribed client, with its received `webhook_event`s and `auth_success`es counted. */
async function readyClient(url: string, path: AuthPath, options: { token?: string; userId?: string } = {}) {
  const userId = options.userId ?? newUser();
  const token = options.token ?? tokenFor(userId);
  const socket = recoveringClient(url, path === 'handshake' ? token : undefined);
  const received: Notification[] = [];
  let authSuccesses = 0;
  socket.socket.on('webhook_event', (n) => received.push(n));
  socket.socket.on('auth_success', () => authSuccesses++);
  if (path === 'handshake') {
    await socket.next('auth_success');
  } else {
    await socket.connected();
    expect(await socket.request('authenticate', { token, userId, timestamp: Date.now() })).toMatchObject({
      message: 'Authentication successful',
    });
  }
  await socket.request('subscribe', { eventTypes: ['comments', 'messages'] });
  return { socket, userId, received, authSuccesses: () => authSuccesses };
}

/** Resolves once the server side of `socket` has disconnected (bounded). */
function serverDisconnect(srv: RunningServer, socketId: string): Promise<void> {
  const serverSocket = srv.server.io.of('/').sockets.get(socketId);
  if (serverSocket === undefined) return Promise.resolve();
  return bounded(new Promise((resolve) => serverSocket.once('disconnect', () => resolve())), 'server-side disconnect');
}

/**
 * Drops the transport as a network failure would: the server sees `transport close` and keeps the session. The
 * client's automatic reconnection is held until `comeBack`, so that what a test publishes meanwhile is certainly missed.
 */
async function goDown(srv: RunningServer, client: TestClient): Promise<void> {
  const gone = Promise.all([serverDisconnect(srv, client.id), client.disconnected()]);
  client.socket.io.reconnection(false);
  client.socket.io.engine.close();
  await gone;
}

/** Reconnects with the session id and offset the client kept, as its backoff timer would. */
async function comeBack(client: TestClient): Promise<void> {
  client.socket.io.reconnection(true);
  const back = client.connected();
  client.socket.connect();
  await back;
}

async function dropTransport(srv: RunningServer, socket: TestClient, whileDown: () => Promise<unknown>): Promise<void> {
  await goDown(srv, socket);
  await whileDown();
  await comeBack(socket);
}

/** Drops the transport and lets the client reconnect on its own. */
async function dropAndAutoReconnect(srv: RunningServer, { socket }: TestClient): Promise<void> {
  const back = bounded(new Promise<void>((resolve) => socket.once('connect', resolve)), 'the reconnection');
  const serverGone = serverDisconnect(srv, socket.id as string);
  socket.io.engine.close();
  await Promise.all([serverGone, back]);
}

/** Resolves once `id` is among `received` (bounded). */
async function eventuallyReceived(received: Notification[], id: string | undefined): Promise<void> {
  if (id === undefined) throw new Error('nothing was published');
  const deadline = Date.now() + 3000;
  while (!received.some((n) => n.id === id)) {
    if (Date.now() > deadline) throw new Error(`${id} did not arrive; received ${received.map((n) => n.id).join(', ')}`);
    await delay(10);
  }
}

async function publish(url: string, events: Array<Record<string, unknown>>): Promise<string[]> {
  for (const event of events) expect((await postFlat(url, event)).status).toBe(200);
  return events.map((e) => e.id as string);
}

/** Closes every client and waits until the server has seen them go, so that counts start from zero in each test. */
async function closeClientsAndDrain(srv: RunningServer): Promise<void> {
  const serverSockets = [...srv.server.io.of('/').sockets.values()];
  const gone = serverSockets.map(
    (s) => new Promise<void>((resolve) => (s.connected ? s.once('disconnect', () => resolve()) : resolve())),
  );
  closeClients();
  await bounded(Promise.all(gone), 'the server to see every client go');
}

const activeSocketIo = async (srv: RunningServer) =>
  (await srv.server.metrics.activeConnections.get()).values.find((v) => v.labels.transport === 'socketio')?.value;

describe('Socket.IO connection state recovery', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer({ RECOVERY_WINDOW_MS: '30000', MAX_CONNECTIONS_PER_USER: '50' });
  });
  afterEach(() => closeClientsAndDrain(srv));
  afterAll(async () => {
    await closeClientsAndDrain(srv);
    await srv.stop();
  });

  describe.each<AuthPath>(['handshake', 'authenticate event'])('authenticated through the %s', (path) => {
    it('when the transport drops and comes back, then the missed events arrive once each, in order, without re-authentication', async () => {
      const client = await readyClient(srv.url, path);
      const { socket } = client;
      // Positive control before the drop: a live event arrives.
      const liveArrived = socket.next('webhook_event');
      const [live] = await publish(srv.url, [flatEvent({ accountId: A })]);
      await liveArrived;
      expect(client.received.map((n) => n.id)).toEqual([live]);
      const idBefore = socket.id;
      expect(srv.server.hub.registry.size).toBe(1);

      let missed: string[] = [];
      let notForUs: string[] = [];
      await dropTransport(srv, socket, async () => {
        missed = await publish(srv.url, [
          flatEvent({ accountId: A, eventType: 'comments' }),
          flatEvent({ accountId: A, eventType: 'messages' }),
          flatEvent({ accountId: A, eventType: 'comments' }),
        ]);
        // Not subscribed (mentions) and not entitled (account B): never replayed.
        notForUs = await publish(srv.url, [
          flatEvent({ accountId: A, eventType: 'mentions' }),
          flatEvent({ accountId: B }),
        ]);
      });

      expect(socket.socket.recovered).toBe(true);
      expect(socket.id).toBe(idBefore);
      // Replayed packets are emitted before `connect`: they are all here already, exactly once, in order.
      expect(client.received.map((n) => n.id)).toEqual([live, ...missed]);

      // Still authenticated and still subscribed, without a second auth_success.
      expect(await socket.request('get_subscriptions', {})).toMatchObject({
        status: 'connected',
        subscriptions: ['comments', 'messages'],
        accountIds: [A],
      });
      const laterArrived = socket.next('webhook_event');
      const [later] = await publish(srv.url, [flatEvent({ accountId: A })]);
      await laterArrived;
      const ids = client.received.map((n) => n.id);
      expect(ids).toEqual([live, ...missed, later]);
      for (const id of notForUs) expect(ids).not.toContain(id);
      expect(client.authSuccesses()).toBe(1);

      // One session in the registry, not the dropped one plus the recovered one; the gauge agrees.
      expect(srv.server.hub.registry.size).toBe(1);
      expect(srv.server.hub.registry.countForUser(client.userId)).toBe(1);
      expect(srv.server.hub.registry.get(socket.id as string)?.closed).toBe(false);
      expect(await activeSocketIo(srv)).toBe(1);
    });

    it('when no webhook_event was received before the drop, then the socket is still recovered (auth_success carries an offset)', async () => {
      const client = await readyClient(srv.url, path);
      expect(client.received).toEqual([]);

      await dropAndAutoReconnect(srv, client.socket);

      expect(client.socket.socket.recovered).toBe(true);
      expect(await client.socket.request('get_subscriptions', {})).toMatchObject({
        subscriptions: ['comments', 'messages'],
      });
      const arrived = client.socket.next('webhook_event');
      const [after] = await publish(srv.url, [flatEvent({ accountId: A })]);
      await arrived;
      expect(client.received.map((n) => n.id)).toEqual([after]);
      expect(client.authSuccesses()).toBe(1);
      expect(srv.server.hub.registry.size).toBe(1);
    });
  });

  it('when a socket that never authenticated drops, then it comes back as a fresh, unauthenticated session', async () => {
    // The control of the offset trick: without any broadcast received, there is no offset to recover from.
    const socket = recoveringClient(srv.url);
    await socket.connected();
    await dropAndAutoReconnect(srv, socket);
    expect(socket.socket.recovered).toBe(false);
    expect(await socket.request('get_subscriptions', {})).toMatchObject({ code: 'not_authenticated' });
    expect(srv.server.hub.registry.size).toBe(1);
  });

  it('when recovered, then entitlement still holds: only the entitled account is replayed and delivered', async () => {
    const userId = newUser();
    const client = await readyClient(srv.url, 'handshake', { userId, token: tokenFor(userId, [A]) });
    let missedA: string[] = [];
    let missedB: string[] = [];
    await dropTransport(srv, client.socket, async () => {
      missedB = await publish(srv.url, [flatEvent({ accountId: B })]);
      missedA = await publish(srv.url, [flatEvent({ accountId: A })]);
    });
    expect(client.socket.socket.recovered).toBe(true);
    expect(client.received.map((n) => n.id)).toEqual(missedA);

    // Live after recovery: B first, then A; A arriving proves B would have arrived before it.
    const arrived = client.socket.next('webhook_event');
    const [liveB, liveA] = await publish(srv.url, [flatEvent({ accountId: B }), flatEvent({ accountId: A })]);
    await arrived;
    expect(client.received.map((n) => n.id)).toEqual([...missedA, liveA]);
    expect([...missedB, liveB].some((id) => client.received.some((n) => n.id === id))).toBe(false);
    expect(await client.socket.request('get_history', { accountIds: [B] })).toMatchObject({
      code: 'forbidden_account',
    });
  });

  it('when recovered, then the token expiry is still enforced on the live connection', async () => {
    const userId = newUser();
    const token = mintToken({ userId, accountIds: [A], exp: (Date.now() + 1000) / 1000 });
    const client = await readyClient(srv.url, 'authenticate event', { userId, token });
    const authFailed = client.socket.next('auth_failed', 4000);

    await dropAndAutoReconnect(srv, client.socket);
    const gone = client.socket.disconnected(4000);
    expect(client.socket.socket.recovered).toBe(true);
    // Positive control: authenticated until the expiry.
    expect(await client.socket.request('get_subscriptions', {})).toMatchObject({ status: 'connected' });
    expect(await authFailed).toMatchObject({ reason: 'Token expired' });
    expect(await gone).toBe('io server disconnect');
  });

  it('when the token expired while disconnected, then after recovery: auth_failed "Token expired", disconnect, nothing replayed', async () => {
    const expiresAt = Date.now() + 1200;
    // A fractional `exp` (seconds): the tokens expire at a known millisecond, not at a second boundary.
    const shortToken = (userId: string) => mintToken({ userId, accountIds: [A], exp: expiresAt / 1000 });
    const [expiringUser, refreshedUser] = [newUser(), newUser()];
    const expiring = await readyClient(srv.url, 'handshake', { userId: expiringUser, token: shortToken(expiringUser) });
    // Positive control: the same short token, refreshed with `authenticate` before the drop, keeps the session.
    const refreshed = await readyClient(srv.url, 'handshake', {
      userId: refreshedUser,
      token: shortToken(refreshedUser),
    });
    await refreshed.socket.request('authenticate', { token: tokenFor(refreshedUser), userId: refreshedUser });

    const bothLive = Promise.all([
      expiring.socket.next('webhook_event'),
      refreshed.socket.next('webhook_event'),
    ]);
    const [live] = await publish(srv.url, [flatEvent({ accountId: A })]);
    await bothLive;
    const expiredFailures = async () =>
      (await srv.server.metrics.authFailures.get()).values.find((v) => v.labels.reason === 'token_expired')?.value ?? 0;
    const failuresBefore = await expiredFailures();

    await Promise.all([goDown(srv, expiring.socket), goDown(srv, refreshed.socket)]);
    // No event says "the token has expired" on a disconnected client: wait past the expiry.
    await delay(Math.max(0, expiresAt - Date.now() + 100));
    const missed = await publish(srv.url, [flatEvent({ accountId: A })]);
    // Connect, auth_failed and the disconnect may come in one read: listen before reconnecting.
    const authFailed = expiring.socket.next('auth_failed');
    const gone = expiring.socket.next('disconnect');
    await Promise.all([comeBack(expiring.socket), comeBack(refreshed.socket)]);

    expect(expiring.socket.socket.recovered).toBe(true);
    expect(await authFailed).toMatchObject({ reason: 'Token expired' });
    expect(await gone).toBe('io server disconnect');
    // What was published after the expiry is not replayed to the expired session...
    expect(expiring.received.map((n) => n.id)).toEqual([live]);
    expect(expiring.authSuccesses()).toBe(1);
    expect(await expiredFailures()).toBe(failuresBefore + 1);
    // ...while the refreshed one recovers with it, still subscribed.
    expect(refreshed.socket.socket.recovered).toBe(true);
    expect(refreshed.received.map((n) => n.id)).toEqual([live, ...missed]);
    expect(await refreshed.socket.request('get_subscriptions', {})).toMatchObject({
      subscriptions: ['comments', 'messages'],
    });
    // Only the refreshed session is left, in the registry and in the gauge.
    expect(srv.server.hub.registry.size).toBe(1);
    expect(srv.server.hub.registry.countForUser(refreshedUser)).toBe(1);
    expect(await activeSocketIo(srv)).toBe(1);
  });
});

describe('past RECOVERY_WINDOW_MS', () => {
  const WINDOW_MS = 500;
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer({ RECOVERY_WINDOW_MS: String(WINDOW_MS) });
  });
  afterEach(() => closeClientsAndDrain(srv));
  afterAll(async () => {
    await closeClientsAndDrain(srv);
    await srv.stop();
  });

  it('when the client comes back too late, then it is a fresh session: authenticate again, missed events in get_history', async () => {
    const client = await readyClient(srv.url, 'authenticate event');
    const { socket, userId } = client;
    const lastArrived = socket.next('webhook_event');
    const [lastSeen] = await publish(srv.url, [flatEvent({ accountId: A })]);
    await lastArrived;
    expect(client.received.map((n) => n.id)).toEqual([lastSeen]);
    // Positive control on this server: a drop shorter than the window is recovered.
    await dropAndAutoReconnect(srv, socket);
    expect(socket.socket.recovered).toBe(true);

    let missed: string[] = [];
    await dropTransport(srv, socket, async () => {
      missed = await publish(srv.url, [
        flatEvent({ accountId: A }),
        flatEvent({ accountId: A, eventType: 'messages' }),
      ]);
      // No event marks the end of the window: wait past it.
      await delay(WINDOW_MS + 100);
    });

    expect(socket.socket.recovered).toBe(false);
    expect(client.received.map((n) => n.id)).toEqual([lastSeen]);
    expect(await socket.request('get_subscriptions', {})).toMatchObject({ code: 'not_authenticated' });

    const token = tokenFor(userId);
    expect(await socket.request('authenticate', { token, userId, timestamp: Date.now() })).toMatchObject({ userId });
    expect(client.authSuccesses()).toBe(2);
    // Fresh: the subscriptions are gone too.
    expect(await socket.request('get_subscriptions', {})).toMatchObject({ subscriptions: [] });
    const history = await socket.request('get_history', { since: lastSeen });
    expect(history).toMatchObject({ complete: true });
    expect((history.events as Notification[]).map((n) => n.id)).toEqual(missed);
    expect(srv.server.hub.registry.size).toBe(1);
  });

  it('when a handshake-authenticated client comes back too late, then it is authenticated afresh from its handshake token', async () => {
    const client = await readyClient(srv.url, 'handshake');
    const reauthenticated = client.socket.next('auth_success', 3000 + WINDOW_MS);
    await dropTransport(srv, client.socket, () => delay(WINDOW_MS + 100));
    expect(client.socket.socket.recovered).toBe(false);
    await reauthenticated;
    expect(client.authSuccesses()).toBe(2);
    expect(await client.socket.request('get_subscriptions', {})).toMatchObject({
      status: 'connected',
      subscriptions: [],
    });
  });
});

describe('recovery with the token the client reconnects with', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterEach(() => closeClientsAndDrain(srv));
  afterAll(() => srv.stop());

  it('when the token expired while away and the client comes back with a fresh one, then it is recovered with it: what it missed arrives, no auth_failed, the new expiry holds', async () => {
    const userId = newUser();
    const expiresAt = Date.now() + 1200;
    const client = await readyClient(srv.url, 'handshake', {
      userId,
      token: mintToken({ userId, accountIds: [A], exp: expiresAt / 1000 }),
    });
    const failures: unknown[] = [];
    client.socket.socket.on('auth_failed', (f) => failures.push(f));
    const [live] = await publish(srv.url, [flatEvent({ accountId: A })]);
    await eventuallyReceived(client.received, live);

    await goDown(srv, client.socket);
    await delay(Math.max(0, expiresAt - Date.now() + 100));
    const missed = await publish(srv.url, [flatEvent({ accountId: A }), flatEvent({ accountId: A })]);
    // As a frontend does with `auth` as a function: the reconnection carries the token refreshed meanwhile.
    client.socket.socket.auth = { token: tokenFor(userId, [A], 60) };
    await comeBack(client.socket);

    expect(client.socket.socket.recovered).toBe(true);
    await eventuallyReceived(client.received, missed.at(-1) as string);
    expect(client.received.map((n) => n.id)).toEqual([live, ...missed]);
    // Past the old expiry, still served: the fresh token is in effect.
    expect(await client.socket.request('get_subscriptions', {})).toMatchObject({ subscriptions: ['comments', 'messages'] });
    const [later] = await publish(srv.url, [flatEvent({ accountId: A })]);
    await eventuallyReceived(client.received, later);
    expect(failures).toEqual([]);
    expect(client.socket.socket.connected).toBe(true);
  });

  it('when the client comes back with a narrower fresh token, then only what the new token entitles it to is replayed and delivered', async () => {
    const userId = newUser();
    const client = await readyClient(srv.url, 'handshake', { userId, token: tokenFor(userId, [A, B], 30) });
    await goDown(srv, client.socket);
    const [forA, forB] = await publish(srv.url, [flatEvent({ accountId: A }), flatEvent({ accountId: B })]);
    client.socket.socket.auth = { token: tokenFor(userId, [A], 3600) };
    await comeBack(client.socket);

    expect(client.socket.socket.recovered).toBe(true);
    await eventuallyReceived(client.received, forA);
    const [laterB, laterA] = await publish(srv.url, [flatEvent({ accountId: B }), flatEvent({ accountId: A })]);
    await eventuallyReceived(client.received, laterA);
    expect(client.received.map((n) => n.id)).toEqual([forA, laterA]);
    expect([forB, laterB].some((id) => client.received.some((n) => n.id === id))).toBe(false);
  });

  it('when the client comes back with another user\'s token, then auth_failed "User ID mismatch" and the disconnect', async () => {
    const userId = newUser();
    const client = await readyClient(srv.url, 'handshake', { userId });
    await goDown(srv, client.socket);
    client.socket.socket.auth = { token: tokenFor(newUser()) };
    const failed = client.socket.next('auth_failed');
    const gone = client.socket.next('disconnect');
    await comeBack(client.socket);

    expect(await failed).toMatchObject({ reason: 'User ID mismatch' });
    expect(await gone).toBe('io server disconnect');
  });

  it('when the client comes back with the stale token it first connected with, after refreshing with authenticate, then the session goes on', async () => {
    const userId = newUser();
    const expiresAt = Date.now() + 1200;
    const client = await readyClient(srv.url, 'handshake', {
      userId,
      token: mintToken({ userId, accountIds: [A], exp: expiresAt / 1000 }),
    });
    await client.socket.request('authenticate', { token: tokenFor(userId), userId });
    await goDown(srv, client.socket);
    await delay(Math.max(0, expiresAt - Date.now() + 100));
    const [missed] = await publish(srv.url, [flatEvent({ accountId: A })]);
    await comeBack(client.socket);

    expect(client.socket.socket.recovered).toBe(true);
    await eventuallyReceived(client.received, missed);
    expect(await client.socket.request('get_subscriptions', {})).toMatchObject({ status: 'connected' });
  });
});

describe('recovery and MAX_CONNECTIONS_PER_USER', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer({ MAX_CONNECTIONS_PER_USER: '1' });
  });
  afterEach(() => closeClientsAndDrain(srv));
  afterAll(() => srv.stop());

  it('when the user connected again while a session was away, then its recovery is refused with Too many connections', async () => {
    const first = await readyClient(srv.url, 'handshake');
    await goDown(srv, first.socket);
    // While it is away, the same user connects again: allowed, the first no longer counts.
    const second = await readyClient(srv.url, 'handshake', { userId: first.userId });
    expect(srv.server.hub.registry.countForUser(first.userId)).toBe(1);

    const refused = first.socket.next('auth_failed');
    await comeBack(first.socket);
    expect(first.socket.socket.recovered).toBe(true);
    expect(await refused).toMatchObject({ reason: 'Too many connections' });
    await first.socket.disconnected();
    // Positive control: the second session is untouched and still the only one.
    expect(second.socket.socket.connected).toBe(true);
    expect(srv.server.hub.registry.countForUser(first.userId)).toBe(1);
  });
});
