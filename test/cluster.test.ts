import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Notification } from '../src/notifications/notification.js';
import { authedClient, bounded as boundedBy, closeClients, openClient } from './helpers/clients.js';
import { redisAvailable, startRedis, type RedisServer } from './helpers/redis.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { countDelta, Deliveries, webhookCounts } from './helpers/webhook-deliveries.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';
import { WsTestClient } from './helpers/ws-client.js';

const HAS_REDIS = redisAvailable();

/** Small bounds, so that the history tests reach them; every test uses its own accounts. */
const HISTORY_SIZE = 5;
const HISTORY_MAX_ACCOUNTS = 3;

let nextAccount = 0;
/** A fresh Instagram account id: what one test posts never shows up in another's assertions. */
const newAccount = () => `178414009${String(++nextAccount).padStart(8, '0')}`;
let nextUser = 0;
const newUser = () => `cluster-user-${++nextUser}`;

/** What every instance of a cluster shares. All test sockets come from 127.0.0.1: lift the per-user bound. */
const clusterEnv = (redis: RedisServer) => ({
  REDIS_URL: redis.url,
  MAX_CONNECTIONS_PER_USER: '100',
  RECOVERY_WINDOW_MS: '30000',
  HISTORY_SIZE: String(HISTORY_SIZE),
  HISTORY_MAX_ACCOUNTS: String(HISTORY_MAX_ACCOUNTS),
});

const bounded = <T>(promise: Promise<T>, what: string, ms = 5000) => boundedBy(promise, what, ms);

/** Polls a condition no event announces (readiness, open handles), bounded in time. */
async function eventually(check: () => Promise<boolean> | boolean, what: string, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const readyz = async (url: string) => {
  const res = await request(url).get('/readyz');
  return { status: res.status, body: res.body as unknown };
};
const NOT_READY = { status: 503, body: { status: 'not_ready', reason: 'redis_unreachable' } };
const READY = { status: 200, body: { status: 'ready' } };

/** Readiness follows Redis with the clients' reconnection backoff (at most 2 s between attempts). */
const readinessBecomes = (url: string, expected: typeof READY | typeof NOT_READY) =>
  eventually(async () => (await readyz(url)).status === expected.status, `/readyz ${expected.status} at ${url}`);

// ---- clients ----

const wsClients: WsTestClient[] = [];

/** A raw WebSocket client, authenticated for `accountIds` and subscribed to `comments`. */
async function wsSubscriber(url: string, accountIds: string[]): Promise<WsTestClient> {
  const client = new WsTestClient(url);
  wsClients.push(client);
  await client.opened();
  const userId = newUser();
  client.send({ type: 'authenticate', token: mintToken({ userId, accountIds }, { expiresIn: 3600 }), userId });
  await client.next('auth_success');
  client.send({ type: 'subscribe', eventTypes: ['comments'] });
  await client.next('subscription_confirmed');
  return client;
}

/** The ids of the `webhook_event` frames a raw client receives, up to and including `lastId` (bounded). */
async function wsIdsUntil(client: WsTestClient, lastId: string): Promise<string[]> {
  const ids: string[] = [];
  while (ids.at(-1) !== lastId) {
    const frame = await client.next('webhook_event', 5000);
    ids.push((frame.payload as Notification).id);
  }
  return ids;
}

/** A Socket.IO client (handshake token), subscribed to `comments`, recording what it receives. */
const sioSubscriber = async (url: string, accountIds: string[]) =>
  new Deliveries(await authedClient(url, { userId: newUser(), accountIds }, { subscribe: ['comments'] }));

/** A Socket.IO client as a browser has it, reconnection on; `goDown`/`comeBack` hold and release it (recovery.test). */
async function recoveringSubscriber(url: string, accountIds: string[]): Promise<Deliveries> {
  const socket = openClient(url, {
    reconnecting: true,
    token: mintToken({ userId: newUser(), accountIds }, { expiresIn: 3600 }),
  });
  const deliveries = new Deliveries(socket);
  await bounded(new Promise((resolve) => socket.socket.once('auth_success', resolve)), 'auth_success');
  await socket.request('subscribe', { eventTypes: ['comments'] });
  return deliveries;
}

/** Drops the transport as a network failure would, and holds the client's reconnection until `comeBack`. */
async function goDown(srv: RunningServer, { client, socket }: Deliveries): Promise<void> {
  const serverSocket = srv.server.io.of('/').sockets.get(socket.id as string);
  expect(serverSocket, 'the socket is connected to this instance').toBeDefined();
  const serverGone = new Promise<void>((resolve) => serverSocket?.once('disconnect', () => resolve()));
  const gone = Promise.all([bounded(serverGone, 'server-side disconnect'), client.disconnected()]);
  socket.io.reconnection(false);
  socket.io.engine.close();
  await gone;
}

/** Reconnects with the session id and offset the client kept; `via` stands for a load balancer choosing an instance. */
async function comeBack({ client, socket }: Deliveries, via?: RunningServer): Promise<void> {
  if (via !== undefined) (socket.io as unknown as { uri: string }).uri = via.url;
  socket.io.reconnection(true);
  const back = client.connected();
  socket.connect();
  await back;
}

function closeEverything(): void {
  for (const client of wsClients.splice(0)) client.close();
  closeClients();
}

// ---- webhooks ----

/** Posts a flat-shape comment for `accountId`; resolves with its id once the instance has answered 200. */
async function post(url: string, accountId: string, overrides: Record<string, unknown> = {}): Promise<string> {
  const event = flatEvent({ accountId, ...overrides });
  const res = await postFlat(url, event);
  expect(res.status, res.text).toBe(200);
  return event.id as string;
}

/** The kinds of handles and requests keeping the event loop alive, counted. */
function openResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** What is open now and was not in `baseline`. */
function resourcesBeyond(baseline: Map<string, number>): string[] {
  return [...openResources()]
    .filter(([kind, count]) => count > (baseline.get(kind) ?? 0))
    .map(([kind, count]) => `${kind} ×${count - (baseline.get(kind) ?? 0)}`);
}

/**
 * Waits (bounded: closing sockets and a reconnection attempt's pause end by themselves) until nothing of `kinds` is
 * open beyond `baseline`, then fails listing what still is.
 */
async function expectNothingLeft(baseline: Map<string, number>, kinds: (kind: string) => boolean = () => true) {
  const left = () => resourcesBeyond(baseline).filter(kinds);
  await eventually(() => left().length === 0, 'open resources to close', 3000).catch(() => undefined);
  expect(left()).toEqual([]);
}

describe.skipIf(!HAS_REDIS)('cluster mode: two instances sharing one Redis', () => {
  let redis: RedisServer;
  let a: RunningServer;
  let b: RunningServer;
  let baseline: Map<string, number>;

  beforeAll(async () => {
    baseline = openResources();
    redis = await startRedis();
    [a, b] = await Promise.all([startServer(clusterEnv(redis)), startServer(clusterEnv(redis))]);
  });
  afterEach(closeEverything);
  afterAll(async () => {
    closeEverything();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  describe('answers and goodbyes', () => {
    it('auth_failed and server_shutdown arrive as events before the disconnect, and a heartbeat is answered at once', async () => {
      // A third instance, stopped here; the shared ones stay up.
      const c = await startServer(clusterEnv(redis));
      try {
        const bad = openClient(c.url);
        await bad.connected();
        const failed = new Promise((resolve) => bad.socket.once('auth_failed', resolve));
        bad.socket.emit('authenticate', { token: mintToken({ userId: 'x' }, { secret: 'wrong' }), userId: 'x' });
        expect(await bounded(failed, 'auth_failed')).toMatchObject({ reason: 'Invalid token' });

        const good = openClient(c.url, { token: mintToken({ userId: newUser() }, { expiresIn: 600 }) });
        await bounded(new Promise((resolve) => good.socket.once('auth_success', resolve)), 'auth_success');
        const beat = new Promise((resolve) => good.socket.once('heartbeat_response', resolve));
        good.socket.emit('heartbeat', { timestamp: Date.now() });
        expect(await bounded(beat, 'heartbeat_response')).toMatchObject({ serverTime: expect.any(String) });

        const bye = new Promise((resolve) => good.socket.once('server_shutdown', resolve));
        await c.stop();
        expect(await bounded(bye, 'server_shutdown')).toMatchObject({ reason: 'Server shutting down' });
      } finally {
        await c.stop();
      }
    });
  });

  describe('delivery', () => {
    it('when A receives a burst of webhooks, then the entitled, subscribed sockets on both instances and both transports get each once, in order', async () => {
      const [p, q] = [newAccount(), newAccount()];
      const sioForP = await Promise.all([sioSubscriber(a.url, [p]), sioSubscriber(b.url, [p])]);
      const wsForP = await Promise.all([wsSubscriber(a.url, [p]), wsSubscriber(b.url, [p])]);
      const everyAccount = await sioSubscriber(b.url, ['*']);
      // Entitled to another account: the negative, with its own positive control (qLast).
      const sioForQ = await sioSubscriber(b.url, [q]);
      const wsForQ = await wsSubscriber(b.url, [q]);

      const burst: string[] = [];
      for (let i = 0; i < 30; i++) burst.push(await post(a.url, p, { comment: { text: `#${i}` } }));
      const qFirst = await post(a.url, q);
      // The last two through B: any instance fans out to every other.
      const pLast = await post(b.url, p);
      const qLast = await post(b.url, q);

      for (const deliveries of sioForP) {
        await deliveries.arrival(pLast);
        expect(deliveries.ids).toEqual([...burst, pLast]);
      }
      for (const ws of wsForP) expect(await wsIdsUntil(ws, pLast)).toEqual([...burst, pLast]);
      await everyAccount.arrival(qLast);
      expect(everyAccount.ids).toEqual([...burst, qFirst, pLast, qLast]);
      await sioForQ.arrival(qLast);
      expect(sioForQ.ids).toEqual([qFirst, qLast]);
      expect(await wsIdsUntil(wsForQ, qLast)).toEqual([qFirst, qLast]);

      // What B's sockets receive is the notification A normalized, whole.
      const onB = sioForP[1]?.events[0];
      expect(onB).toEqual(sioForP[0]?.events[0]);
      expect(onB).toEqual({
        id: burst[0],
        eventType: 'comments',
        accountId: p,
        sender: { id: '111', username: 'alice' },
        content: '#0',
        timestamp: '2024-01-01T12:00:00.000Z',
      });
    });
  });

  describe('dedupe is shared', () => {
    it('when one webhook is POSTed to A then to B, then it is delivered once and B answers 200, counted as a duplicate', async () => {
      const account = newAccount();
      const watchers = await Promise.all([sioSubscriber(a.url, [account]), sioSubscriber(b.url, [account])]);
      const ws = await wsSubscriber(b.url, [account]);
      const [beforeA, beforeB] = await Promise.all([webhookCounts(a.url), webhookCounts(b.url)]);

      const event = flatEvent({ accountId: account });
      expect((await postFlat(a.url, event)).status).toBe(200);
      const again = await postFlat(b.url, event);
      expect(again.status).toBe(200);
      expect(again.text).toBe('EVENT_RECEIVED');

      expect(countDelta(beforeA, await webhookCounts(a.url))).toEqual({ accepted: 1 });
      expect(countDelta(beforeB, await webhookCounts(b.url))).toEqual({ duplicate: 1 });
      // Positive control, posted after the duplicate: once it is in, the duplicate would have been too.
      const control = await post(b.url, account);
      for (const watcher of watchers) {
        await watcher.arrival(control);
        expect(watcher.ids).toEqual([event.id, control]);
      }
      expect(await wsIdsUntil(ws, control)).toEqual([event.id, control]);
    });

    it('when one webhook is POSTed to A and B at the same moment, then it is delivered once', async () => {
      const account = newAccount();
      const watcher = await sioSubscriber(b.url, [account]);
      const [beforeA, beforeB] = await Promise.all([webhookCounts(a.url), webhookCounts(b.url)]);

      const events = Array.from({ length: 5 }, () => flatEvent({ accountId: account }));
      for (const event of events) {
        const answers = await Promise.all([postFlat(a.url, event), postFlat(b.url, event)]);
        expect(answers.map((res) => res.status)).toEqual([200, 200]);
      }

      const [deltaA, deltaB] = [
        countDelta(beforeA, await webhookCounts(a.url)),
        countDelta(beforeB, await webhookCounts(b.url)),
      ];
      // Which instance wins each race is chance; that each event wins exactly once is not.
      const total = (key: 'accepted' | 'duplicate') => (deltaA[key] ?? 0) + (deltaB[key] ?? 0);
      expect({ accepted: total('accepted'), duplicate: total('duplicate') }).toEqual({ accepted: 5, duplicate: 5 });
      const control = await post(a.url, account);
      await watcher.arrival(control);
      expect(watcher.ids).toEqual([...events.map((e) => e.id as string), control]);
    });
  });

  describe('history is shared', () => {
    /** `get_history` through its acknowledgement. */
    const history = async (deliveries: Deliveries, query: Record<string, unknown>) =>
      (await deliveries.socket.timeout(3000).emitWithAck('get_history', query)) as {
        events?: Notification[];
        complete?: boolean;
        code?: string;
      };
    const ids = (page: { events?: Notification[] }) => page.events?.map((n) => n.id);

    it('when A received notifications, then get_history on B answers them: since, limit, HISTORY_SIZE, entitlement', async () => {
      const [h1, h2, hidden] = [newAccount(), newAccount(), newAccount()];
      const asker = await sioSubscriber(b.url, [h1, h2]);
      const onA = await sioSubscriber(a.url, [h1, h2]);

      const e1 = await post(a.url, h1);
      const e2 = await post(a.url, h2);
      const e3 = await post(a.url, h1);
      const e4 = await post(a.url, hidden);
      const e5 = await post(a.url, h1);
      const e6 = await post(b.url, h1);
      const e7 = await post(a.url, h2, { eventType: 'messages', message: { text: 'hi' }, comment: undefined });
      const e8 = await post(a.url, h1);
      const e9 = await post(b.url, h1);
      const e10 = await post(a.url, h1);

      // h1 had 7: its oldest 2 are gone (HISTORY_SIZE 5); the account not entitled is left out; arrival order.
      const everything = await history(asker, {});
      expect(everything).toMatchObject({ complete: true });
      expect(ids(everything)).toEqual([e2, e5, e6, e7, e8, e9, e10]);
      expect(ids(await history(onA, {}))).toEqual(ids(everything));
      expect(everything.events?.find((n) => n.id === e7)).toMatchObject({ eventType: 'messages', content: 'hi' });

      expect(ids(await history(asker, { limit: 3 }))).toEqual([e8, e9, e10]);
      expect(await history(asker, { since: e6, limit: 2 })).toMatchObject({ complete: true });
      expect(ids(await history(asker, { since: e6, limit: 2 }))).toEqual([e7, e8]);
      expect(ids(await history(asker, { since: e10 }))).toEqual([]);
      expect(ids(await history(asker, { eventTypes: ['messages'] }))).toEqual([e7]);
      expect(ids(await history(asker, { accountIds: [h2] }))).toEqual([e2, e7]);

      // Pushed out by HISTORY_SIZE, never seen, or another account's id: not complete, oldest kept first.
      for (const since of [e1, e3, 'never-seen', e4]) {
        const page = await history(asker, { since, limit: 2 });
        expect(page, `since ${since}`).toMatchObject({ complete: false });
        expect(ids(page)).toEqual([e2, e5]);
      }

      // Kept, but h1 dropped e3 after it (HISTORY_SIZE): the page says so, whichever instance recorded what.
      expect(await history(asker, { since: e2 })).toMatchObject({ complete: false });
      expect(await history(onA, { since: e5 })).toMatchObject({ complete: true });

      // Not entitled: refused; the positive control is a socket that is entitled to it.
      expect(await history(asker, { accountIds: [hidden] })).toMatchObject({ code: 'forbidden_account' });
      const entitled = await sioSubscriber(b.url, [hidden]);
      expect(ids(await history(entitled, {}))).toEqual([e4]);
    });

    it('when more than HISTORY_MAX_ACCOUNTS accounts are active, then every instance forgets the least recently active', async () => {
      const [m1, m2, m3, m4] = [newAccount(), newAccount(), newAccount(), newAccount()];
      const asker = await sioSubscriber(b.url, [m1, m2, m3, m4]);

      const first = await post(a.url, m1);
      const forgotten = await post(b.url, m2);
      // m1 is older than m2 but active again: m2 is now the least recently active.
      const second = await post(a.url, m1);
      const third = await post(b.url, m3);
      const kept = [first, forgotten, second, third];
      expect(ids(await history(asker, {}))).toEqual(kept);

      const fourth = await post(a.url, m4);
      expect(ids(await history(asker, {}))).toEqual([first, second, third, fourth]);
      expect(ids(await history(asker, { accountIds: [m2] }))).toEqual([]);
      expect(await history(asker, { since: forgotten })).toMatchObject({ complete: false });
      // Kept, but m2's notification after it is gone: not a silent gap either.
      expect(await history(asker, { since: first })).toMatchObject({ complete: false });
      // Positive control: an anchor newer than everything forgotten is complete, on either instance.
      const onA = await sioSubscriber(a.url, [m1, m2, m3, m4]);
      for (const deliveries of [asker, onA]) {
        const page = await history(deliveries, { since: second });
        expect(page).toMatchObject({ complete: true });
        expect(ids(page)).toEqual([third, fourth]);
      }
    });
  });

  describe('connection state recovery', () => {
    it('when a socket on B loses its transport while A receives a webhook, then it comes back recovered and gets it once', async () => {
      const [mine, other] = [newAccount(), newAccount()];
      const client = await recoveringSubscriber(b.url, [mine]);
      const live = await post(a.url, mine);
      await client.arrival(live);
      const idBefore = client.socket.id;

      await goDown(b, client);
      const missed = [await post(a.url, mine), await post(b.url, mine)];
      const notMine = await post(a.url, other);
      await comeBack(client);

      expect(client.socket.recovered).toBe(true);
      expect(client.socket.id).toBe(idBefore);
      // Replayed packets are emitted before `connect`: already here, once each, in order.
      expect(client.ids).toEqual([live, ...missed]);
      const later = await post(a.url, mine);
      await client.arrival(later);
      expect(client.ids).toEqual([live, ...missed, later]);
      expect(client.ids).not.toContain(notMine);
    });

    it('when it comes back through the other instance, then it is recovered there, still subscribed', async () => {
      const account = newAccount();
      const client = await recoveringSubscriber(b.url, [account]);
      // No webhook_event before the drop: the offset comes from auth_success, which goes through the adapter.
      await goDown(b, client);
      const missed = await post(b.url, account);
      await comeBack(client, a);

      expect(client.socket.recovered).toBe(true);
      expect(a.server.io.of('/').sockets.has(client.socket.id as string)).toBe(true);
      expect(client.ids).toEqual([missed]);
      const later = await post(b.url, account);
      await client.arrival(later);
      expect(client.ids).toEqual([missed, later]);
    });
  });

  it('when every instance stops, then each stop completes and nothing is left open (Redis connections, timers)', async () => {
    // Positive control: while running, the instances hold listeners and Redis connections.
    expect(resourcesBeyond(baseline)).toEqual(expect.arrayContaining([expect.stringMatching(/^TCP/)]));
    closeEverything();
    await bounded(Promise.all([a.stop(), b.stop()]), 'both instances to stop');
    // Redis still runs: a connection left open now is one an instance forgot (its blocking stream read, say).
    await expectNothingLeft(baseline, (kind) => kind.startsWith('TCP'));
    await redis.stop();
    await expectNothingLeft(baseline);
  });
});

describe.skipIf(!HAS_REDIS)('cluster mode: when Redis goes away', () => {
  let redis: RedisServer;
  const instances: RunningServer[] = [];
  const start = async (options: { waitReady?: boolean } = {}) => {
    const srv = await startServer(clusterEnv(redis), options);
    instances.push(srv);
    return srv;
  };

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    closeEverything();
    await Promise.all(instances.splice(0).map((srv) => srv.stop()));
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('/readyz turns 503 redis_unreachable while Redis is down and 200 after; a webhook meanwhile gets a 5xx and its retry is delivered once', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const account = newAccount();
    const watchers = [await sioSubscriber(a.url, [account]), await sioSubscriber(b.url, [account])];
    const ws = await wsSubscriber(b.url, [account]);
    expect(await readyz(a.url)).toEqual(READY);
    expect(await readyz(b.url)).toEqual(READY);
    const before = await post(a.url, account);
    // Delivered everywhere before the outage (what the outage does to deliveries in flight is another test's).
    for (const watcher of watchers) await watcher.arrival(before);

    await redis.kill();
    await Promise.all([readinessBecomes(a.url, NOT_READY), readinessBecomes(b.url, NOT_READY)]);
    expect(await readyz(a.url)).toEqual(NOT_READY);
    expect(await readyz(b.url)).toEqual(NOT_READY);
    expect((await request(b.url).get('/healthz')).status).toBe(200);
    const event = flatEvent({ accountId: account });
    // Not accepted, so Meta retries it: never a 200 for what could not be deduplicated and kept.
    for (const url of [a.url, b.url]) expect((await postFlat(url, event)).status).toBeGreaterThanOrEqual(500);

    await redis.restart();
    await Promise.all([readinessBecomes(a.url, READY), readinessBecomes(b.url, READY)]);
    expect(await readyz(a.url)).toEqual(READY);
    expect((await postFlat(a.url, event)).status).toBe(200);
    const control = await post(b.url, account);
    for (const watcher of watchers) {
      await watcher.arrival(control);
      expect(watcher.ids).toEqual([before, event.id, control]);
    }
    expect(await wsIdsUntil(ws, control)).toEqual([before, event.id, control]);
  });

  it('when an instance starts while Redis is down, then it listens, live but not ready, and becomes ready when Redis starts', async () => {
    await redis.kill();
    const late = await start({ waitReady: false });
    expect((await request(late.url).get('/healthz')).status).toBe(200);
    expect(await readyz(late.url)).toEqual(NOT_READY);
    expect((await postFlat(late.url, flatEvent())).status).toBeGreaterThanOrEqual(500);

    await redis.restart();
    await readinessBecomes(late.url, READY);
    const account = newAccount();
    const watcher = await sioSubscriber(late.url, [account]);
    const id = await post(late.url, account);
    await watcher.arrival(id);
    expect(watcher.ids).toEqual([id]);
  });

  it('when Redis is down at shutdown, then stop still completes and leaves nothing open', async () => {
    const baseline = openResources();
    const srv = await start();
    const client = await recoveringSubscriber(srv.url, [newAccount()]);
    await redis.kill();
    await readinessBecomes(srv.url, NOT_READY);
    // A dropped transport makes the adapter persist a session for recovery: a write that cannot complete now.
    await goDown(srv, client);
    closeEverything();

    await bounded(srv.stop(), 'stop during the outage', 3000);
    await expectNothingLeft(baseline);
    await redis.restart();
  });
});

describe.skipIf(!HAS_REDIS)('cluster mode: when Redis freezes without closing its connections', () => {
  it('/readyz turns 503, a webhook gets a 5xx instead of hanging, and stop() completes; all recovers when it thaws', async () => {
    const redis = await startRedis();
    const srv = await startServer(clusterEnv(redis));
    try {
      expect(await readyz(srv.url)).toEqual(READY);
      redis.freeze();
      await readinessBecomes(srv.url, NOT_READY);
      const res = await bounded(postFlat(srv.url, flatEvent()), 'the webhook answer', 10_000);
      expect(res.status).toBeGreaterThanOrEqual(500);

      redis.thaw();
      await readinessBecomes(srv.url, READY);
      // Positive control: delivered again once Redis answers.
      const account = newAccount();
      const watcher = await sioSubscriber(srv.url, [account]);
      await watcher.arrival(await post(srv.url, account));

      redis.freeze();
      await readinessBecomes(srv.url, NOT_READY);
      await bounded(srv.stop(), 'stop() while Redis is frozen', 10_000);
    } finally {
      closeEverything();
      redis.thaw();
      await srv.stop();
      await redis.stop();
    }
  });
});
