import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { knowEachOther, listClients, revokeUser, type ListedClient } from './helpers/admin-api.js';
import { authedClient, bounded, closeClients, openClient } from './helpers/clients.js';
import { redisAvailable, startRedis, type RedisServer } from './helpers/redis.js';
import { spawnServer, startServer, TEST_ADMIN_TOKEN as ADMIN_TOKEN, testEnv, type RunningServer, type SpawnedServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { WsTestClient } from './helpers/ws-client.js';

const HAS_REDIS = redisAvailable();
const A1 = '17841400000000001';
const A2 = '17841400000000002';
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

let nextUser = 0;
const newUser = (name: string) => `${name}-${++nextUser}`;

const wsClients: WsTestClient[] = [];

/** A raw WebSocket client authenticated as `userId` and subscribed to `eventTypes`. */
async function wsSubscriber(url: string, userId: string, accountIds: string[], eventTypes: string[]): Promise<WsTestClient> {
  const client = new WsTestClient(url);
  wsClients.push(client);
  await client.opened();
  client.send({ type: 'authenticate', token: mintToken({ userId, accountIds }, { expiresIn: 3600 }), userId });
  await client.next('auth_success');
  client.send({ type: 'subscribe', eventTypes });
  await client.next('subscription_confirmed');
  return client;
}

/** Its server-side id, as the admin list names it: the raw WebSocket's is the server's, asked with test_connection. */
async function wsId(client: WsTestClient): Promise<string> {
  client.send({ type: 'test_connection' });
  return String((await client.next('connection_info')).socketId);
}

function closeEverything(): void {
  for (const client of wsClients.splice(0)) client.close();
  closeClients();
}

describe.skipIf(!HAS_REDIS)('GET /api/admin/clients across instances', () => {
  let redis: RedisServer;
  let a: RunningServer;
  let b: RunningServer;
  let c: SpawnedServer;
  const env = () => ({ REDIS_URL: redis.url, ADMIN_TOKEN, MAX_CONNECTIONS_PER_USER: '50' });

  beforeAll(async () => {
    redis = await startRedis();
    // C is a separate process (the compiled server, as `npm start` runs it), so that it can be frozen.
    [c, a, b] = await Promise.all([spawnServer(testEnv(env()), { waitFor: '/readyz' }), startServer(env()), startServer(env())]);
    for (const [from, to] of [[a, b], [a, c], [b, a], [b, c], [c, a]] as const) await knowEachOther(from, to);
  });
  afterEach(closeEverything);
  afterAll(async () => {
    closeEverything();
    await c?.stop({ graceful: true });
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  it('when clients are connected to several instances on both transports, then every instance lists every connection with SPEC fields', async () => {
    const alice = newUser('alice');
    const bob = newUser('bob');
    const onA = await authedClient(a.url, { userId: alice, accountIds: [A1, A2] }, { subscribe: ['comments', 'messages'] });
    const rawOnB = await wsSubscriber(b.url, alice, [A1, A2], ['mentions']);
    const anonymousOnB = openClient(b.url);
    await anonymousOnB.connected();
    const onC = await authedClient(c.url, { userId: bob, accountIds: ['*'] }, { subscribe: ['comments'], accountIds: [A2] });
    const rawId = await wsId(rawOnB);

    for (const instance of [a, b, c]) {
      const { status, body } = await listClients(instance);
      expect(status).toBe(200);
      expect(body).not.toHaveProperty('partial');
      const entry = (socketId: string | undefined) => body.clients.find((client) => client.socketId === socketId);
      expect(entry(onA.id)).toEqual({
        userId: alice,
        socketId: onA.id as string,
        transport: 'socketio',
        subscriptions: ['comments', 'messages'],
        accountIds: [A1, A2],
        connectedAt: expect.stringMatching(ISO),
        lastActivityAt: expect.stringMatching(ISO),
      } satisfies ListedClient);
      expect(entry(rawId)).toMatchObject({ userId: alice, transport: 'websocket', subscriptions: ['mentions'], accountIds: [A1, A2] });
      expect(entry(anonymousOnB.id)).toMatchObject({ userId: null, transport: 'socketio', subscriptions: [], accountIds: [] });
      expect(entry(onC.id)).toMatchObject({ userId: bob, transport: 'socketio', subscriptions: ['comments'], accountIds: [A2] });
      // One entry per connection, whichever instance is asked.
      expect(new Set(body.clients.map((client) => client.socketId)).size).toBe(body.clients.length);
    }
  });

  it('when an instance is frozen, then the list and a revocation answer without it, saying partial; thawed, it closes the revoked user there too', async () => {
    const carol = newUser('carol');
    const dave = newUser('dave');
    const carolOnA = await authedClient(a.url, { userId: carol, accountIds: [A1] }, { subscribe: ['comments'] });
    const carolOnC = await authedClient(c.url, { userId: carol, accountIds: [A1] }, { subscribe: ['comments'] });
    const daveOnC = await authedClient(c.url, { userId: dave, accountIds: [A1] }, { subscribe: ['comments'] });
    const daveOnA = await authedClient(a.url, { userId: dave, accountIds: [A1] }, { subscribe: ['comments'] });
    const toldOnA = carolOnA.next('auth_failed', 10_000);
    const toldOnC = carolOnC.next('auth_failed', 20_000);
    const goneOnC = new Promise<string>((resolve) => carolOnC.socket.once('disconnect', resolve));

    c.child.kill('SIGSTOP');
    let listed: Awaited<ReturnType<typeof listClients>>;
    let revoked: Awaited<ReturnType<typeof revokeUser>>;
    try {
      // The adapter waits its fixed 5 s for the frozen instance.
      [listed, revoked] = await Promise.all([listClients(a), revokeUser(a, carol)]);
    } finally {
      c.child.kill('SIGCONT');
    }

    expect(listed.status).toBe(200);
    expect(listed.body.partial).toBe(true);
    const ids = listed.body.clients.map((client) => client.socketId);
    expect(ids).toContain(daveOnA.id);
    expect(ids).not.toContain(daveOnC.id);
    expect(revoked).toMatchObject({ status: 200, body: { userId: carol, disconnected: 1, partial: true } });
    expect(await toldOnA).toMatchObject({ reason: 'Session revoked' });

    // The event waited in the adapter's stream: once C runs again, it closes carol's connection there too.
    expect(await toldOnC).toMatchObject({ reason: 'Session revoked' });
    expect(await bounded(goneOnC, 'the disconnect on C', 20_000)).toBe('io server disconnect');
    expect(await daveOnC.request('heartbeat', { timestamp: Date.now(), clientId: 'x' })).toMatchObject({ serverTime: expect.any(String) });
    const after = await listClients(a);
    expect(after.body).not.toHaveProperty('partial');
    expect(after.body.clients.map((client) => client.socketId)).toContain(daveOnC.id);
  });
});

