import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransportKind } from '../client/src/transports/transport.js';
import { RedisConnection, type RedisClient } from '../src/cluster/redis-connection.js';
import { RedisDedupeStore } from '../src/cluster/redis-dedupe-store.js';
import { RedisHistoryStore } from '../src/cluster/redis-history-store.js';
import { createBroadcaster, type RoomEmitter } from '../src/delivery/broadcaster.js';
import type { Notification } from '../src/notifications/notification.js';
import { createPublishOnce } from '../src/notifications/publish-once.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import { countFrames, Instance, MetaSender, readHistory, repeated } from './helpers/cluster-faults.js';
import { redisAvailable, startRedis, type RedisServer } from './helpers/redis.js';
import { closeSdkClients, sdkClient, type SdkRecorder } from './helpers/sdk-client.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

/**
 * Faults under a steady webhook stream (SPEC, Scale-out): two spawned instances sharing one real redis-server,
 * webhooks at 20/s retried like Meta, SDK clients on both transports connected to both instances. After each fault
 * heals: every webhook answered 200 is in the shared history, once, and reached every client, once.
 */
const HAS_REDIS = redisAvailable();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Cluster {
  redis: RedisServer;
  a: Instance;
  b: Instance;
}

interface Scenario {
  /** Client proxies by instance: a fault may send one instance's clients to the other. */
  proxies: { a: TcpProxy; b: TcpProxy };
  sender: MetaSender;
  /** The instances Meta's retries go to (a load balancer's healthy members). */
  targets: string[];
}

let scenarioCount = 0;

/**
 * Runs `fault` while webhooks flow, then checks history and every client. Returns the report (printed too), so that
 * a test can assert what its fault promises.
 */
async function runScenario(cluster: Cluster, name: string, fault: (s: Scenario) => Promise<void>) {
  const n = ++scenarioCount;
  const accountId = `1784140000009${String(n).padStart(4, '0')}`;
  const claims = { userId: `fault-user-${n}`, accountIds: [accountId] };
  const proxies = { a: await TcpProxy.start(cluster.a.url), b: await TcpProxy.start(cluster.b.url) };
  const clients: { label: string; r: SdkRecorder; frames: Map<string, number> }[] = [];
  for (const [where, proxy] of Object.entries(proxies)) {
    for (const transport of ['socketio', 'websocket'] as TransportKind[]) {
      const r = sdkClient(proxy.url, { transport, claims });
      clients.push({ label: `${transport}@${where}`, r, frames: countFrames(r) });
    }
  }
  const scenario: Scenario = { proxies, sender: undefined as unknown as MetaSender, targets: [cluster.a.url, cluster.b.url] };
  scenario.sender = new MetaSender(() => scenario.targets, accountId);
  const started = Date.now();
  try {
    await Promise.all(clients.map(({ r }) => r.reached('connected', 1, 10_000)));
    // Positive control, and the point history is paged from; Socket.IO clients get a recovery offset from it.
    const marker = await scenario.sender.send();
    expect(marker.answered200).toBe(true);
    await Promise.all(clients.map(({ r }) => r.received(marker.id, 10_000)));
    scenario.sender.start();
    await sleep(1000);
    await fault(scenario);
    await sleep(1500);
    await scenario.sender.stop();
    // The end is known once the last one is delivered everywhere.
    const control = await scenario.sender.send();
    expect(control.answered200).toBe(true);
    const late: string[] = [];
    await Promise.all(
      clients.map(({ r, label }) => r.received(control.id, 20_000).catch(() => late.push(label))),
    );
    const answered = scenario.sender.answered.filter((id) => id !== marker.id);
    const history = await readHistory(cluster.a.server?.child.exitCode === null ? cluster.a.url : cluster.b.url, claims, marker.id);
    const inHistory = new Set(history.ids);
    const report = {
      name,
      sent: scenario.sender.sent.length - 1,
      answered200: answered.length,
      gaveUp: scenario.sender.sent.filter((s) => !s.answered200).length,
      retried: scenario.sender.sent.filter((s) => s.statuses.length > 1).length,
      retriedSample: scenario.sender.retried().slice(0, 5),
      history: {
        entries: history.ids.length,
        complete: history.complete,
        missing: answered.filter((id) => !inHistory.has(id)),
        duplicates: repeated(history.ids),
      },
      clients: clients.map(({ label, r, frames }) => {
        const got = new Set(r.ids);
        return {
          label,
          connections: r.states.filter((s) => s === 'connected').length,
          gaps: r.gaps.length,
          delivered: r.ids.length,
          missing: answered.filter((id) => !got.has(id)),
          duplicates: repeated(r.ids),
          // Informational: the same id twice on the wire (recovery, history and live delivery may overlap; the SDK
          // delivers it once).
          framesRepeated: [...frames.values()].filter((count) => count > 1).length,
          errors: [...new Set(r.errors.map((e) => e.code))],
        };
      }),
      lateClients: late,
      durationMs: Date.now() - started,
    };
    console.log(`[cluster-faults] ${JSON.stringify(report)}`);
    return report;
  } finally {
    await scenario.sender.stop();
    await closeSdkClients();
    await proxies.a.close();
    await proxies.b.close();
  }
}

/** What every fault must leave: nothing answered 200 missing or doubled, in history and at every client. */
function expectNothingLost(report: Awaited<ReturnType<typeof runScenario>>): void {
  expect(report.answered200).toBeGreaterThan(50);
  expect(report.history.missing).toEqual([]);
  expect(report.history.duplicates).toEqual([]);
  expect(report.lateClients).toEqual([]);
  for (const client of report.clients) {
    expect({ label: client.label, missing: client.missing, duplicates: client.duplicates, gaps: client.gaps }).toEqual({
      label: client.label,
      missing: [],
      duplicates: [],
      gaps: 0,
    });
  }
}

/** The ids of the server's adapter connections (their duplicates too), by name in CLIENT LIST. */
function adapterConnections(redis: RedisServer): string[] {
  return redis
    .cli('CLIENT', 'LIST')
    .split('\n')
    .filter((line) => / name=instantchat-adapter /.test(line))
    .map((line) => /^id=(\d+)/.exec(line)?.[1])
    .filter((id): id is string => id !== undefined);
}

async function redisAnswers(redis: RedisServer): Promise<boolean> {
  try {
    return redis.cli('PING').trim() === 'PONG';
  } catch {
    return false;
  }
}

describe.skipIf(!HAS_REDIS)('cluster faults under a steady webhook stream', () => {
  const cluster = {} as Cluster;

  beforeAll(async () => {
    // Durable (appendfsync always): a write Redis acknowledged survives its crash, as SPEC's promise needs.
    cluster.redis = await startRedis({ durable: true });
    [cluster.a, cluster.b] = await Promise.all([Instance.start(cluster.redis.url), Instance.start(cluster.redis.url)]);
  }, 40_000);

  afterAll(async () => {
    await closeSdkClients();
    cluster.redis?.thaw();
    await Promise.all([cluster.a?.stop(), cluster.b?.stop()]);
    await cluster.redis?.stop();
  }, 30_000);

  it('Redis killed (SIGKILL) and restarted 3 s later', { timeout: 60_000 }, async () => {
    const report = await runScenario(cluster, 'redis SIGKILL + restart', async () => {
      await cluster.redis.kill();
      await sleep(3000);
      await cluster.redis.restart();
    });
    expectNothingLost(report);
  });

  it('Redis frozen (SIGSTOP) for 4 s, then resumed', { timeout: 60_000 }, async () => {
    const report = await runScenario(cluster, 'redis SIGSTOP 4 s', async () => {
      cluster.redis.freeze();
      await sleep(4000);
      cluster.redis.thaw();
    });
    expectNothingLost(report);
  });

  it('Redis cuts its clients (CLIENT KILL TYPE normal, then pubsub, repeatedly)', { timeout: 60_000 }, async () => {
    const report = await runScenario(cluster, 'CLIENT KILL normal/pubsub', async () => {
      for (let round = 0; round < 8; round++) {
        cluster.redis.cli('CLIENT', 'KILL', 'TYPE', round % 2 === 0 ? 'normal' : 'pubsub');
        await sleep(400);
      }
    });
    expectNothingLost(report);
  });

  it("the adapter's connections alone are cut, repeatedly, while the command connection stays up", { timeout: 60_000 }, async () => {
    const report = await runScenario(cluster, 'adapter connections cut', async () => {
      for (let round = 0; round < 20; round++) {
        for (const id of adapterConnections(cluster.redis)) cluster.redis.cli('CLIENT', 'KILL', 'ID', id);
        await sleep(150);
      }
    });
    expectNothingLost(report);
  });

  it("the adapter's stream writes fail (ACL denies XADD) for 2 s while the command connection works", { timeout: 60_000 }, async () => {
    const report = await runScenario(cluster, 'stream writes refused', async () => {
      cluster.redis.cli('ACL', 'SETUSER', 'default', '-xadd');
      try {
        await sleep(2000);
      } finally {
        cluster.redis.cli('ACL', 'SETUSER', 'default', '+xadd');
      }
    });
    expectNothingLost(report);
  });

  it("the adapter's pub/sub fails (ACL denies PUBLISH) for 2 s while the command connection works", { timeout: 60_000 }, async () => {
    const report = await runScenario(cluster, 'publish refused', async () => {
      cluster.redis.cli('ACL', 'SETUSER', 'default', '-publish');
      try {
        await sleep(2000);
      } finally {
        cluster.redis.cli('ACL', 'SETUSER', 'default', '+publish');
      }
    });
    expectNothingLost(report);
  });

  it('a Socket.IO client dropped while Redis is down is answered within seconds (no hang on session restore), and is back once Redis is', { timeout: 60_000 }, async () => {
    const proxy = await TcpProxy.start(cluster.a.url);
    const accountId = '17841400000098888';
    const r = sdkClient(proxy.url, { transport: 'socketio', claims: { userId: 'restore-user', accountIds: [accountId] } });
    const sender = new MetaSender(() => [cluster.a.url], accountId);
    try {
      await r.reached('connected', 1, 10_000);
      // Positive control: delivered, and it gives the client a recovery offset.
      const before = await sender.send();
      await r.received(before.id, 10_000);
      await cluster.redis.kill();
      proxy.cut();
      const cutAt = Date.now();
      // An answer, not a hang: connected again, or told that the backend is unavailable (revocations cannot be
      // checked while Redis is away), well before Redis is back.
      const answered = () =>
        r.states.filter((s) => s === 'connected').length >= 2 ||
        r.errors.some((e) => e.code === 'unavailable' || e.message === 'Authentication unavailable');
      await r.until(answered, 'a connection or an unavailable answer', 8000);
      console.log(`[cluster-faults] answered ${Date.now() - cutAt} ms after the cut, Redis down: ${r.log.slice(-3).join(' | ')}`);
      await cluster.redis.restart();
      await r.reached('connected', 2, 15_000);
      // Once Redis is back, it is delivered to again.
      const after = await sender.send();
      expect(after.answered200).toBe(true);
      await r.received(after.id, 15_000);
    } finally {
      await sender.stop();
      await closeSdkClients();
      await proxy.close();
      if (!(await redisAnswers(cluster.redis))) await cluster.redis.restart();
    }
  });

  it('an instance killed (SIGKILL) mid-fan-out: its clients move to the other and catch up', { timeout: 60_000 }, async () => {
    try {
      const report = await runScenario(cluster, 'instance B SIGKILL', async (s) => {
        // Its clients' network path now leads to A (a load balancer's failover); Meta's retries reach A.
        s.proxies.b.retarget(cluster.a.url);
        await cluster.b.kill();
        s.targets = [cluster.a.url];
        s.proxies.b.cut();
        await sleep(2000);
      });
      expectNothingLost(report);
      for (const client of report.clients.filter((c) => c.label.endsWith('@b'))) expect(client.connections).toBeGreaterThan(1);
    } finally {
      await cluster.b.restart();
    }
  });
});

describe.skipIf(!HAS_REDIS)('dedupe under a Redis fault between publish and commit (in process, real Redis)', () => {
  let redis: RedisServer;
  let client: RedisClient;

  beforeAll(async () => {
    redis = await startRedis();
    // As cluster mode's command connection: no offline queue, so that a command fails while Redis is away.
    client = createClient({ url: redis.url, name: 'instantchat-commands', disableOfflineQueue: true, socket: { reconnectStrategy: 50 } });
    client.on('error', () => undefined);
    await client.connect();
  });
  afterAll(async () => {
    client?.destroy();
    await redis?.stop();
  });

  it("a commit that fails after the notification was published answers 200, and Meta's later retry is a duplicate: one history entry", async () => {
    const prefix = 'faults:';
    const dedupe = new RedisDedupeStore(client, { ttlMs: 60_000, prefix });
    const history = new RedisHistoryStore(client, { size: 100, maxAccounts: 100, prefix });
    const emitted: string[] = [];
    let cutOnEmit = true;
    // The transport step of delivery; the first time, Redis cuts the command connection right then, so that the
    // commit which follows fails.
    const emitter: RoomEmitter = {
      emitToRooms: (_rooms, notification) => {
        emitted.push(notification.id);
        if (cutOnEmit) redis.cli('CLIENT', 'KILL', 'TYPE', 'normal');
        cutOnEmit = false;
      },
    };
    const publisher = createBroadcaster({ history, metrics: createMetrics(), logger: createLogger('silent'), emitters: [emitter] });
    const commitFailures: unknown[] = [];
    const ingest = createPublishOnce({ dedupe, publisher, onCommitFailure: (err) => commitFailures.push(err) });
    const notification: Notification = {
      id: `evt_commit_${Date.now()}`,
      eventType: 'comments',
      accountId: '17841400000077777',
      sender: { id: '1', username: 'meta' },
      content: 'commit fault',
      timestamp: new Date().toISOString(),
    };
    const key = `${prefix}dedupe:${notification.accountId}:comments:${notification.id}`;

    // Answered 200 (accepted): the notification was recorded and handed to delivery.
    expect(await ingest([notification], 0)).toMatchObject({ result: 'accepted', delivered: [notification.id] });
    expect(commitFailures).toHaveLength(1);
    // The commit lands once the connection is back (bounded wait).
    const until = Date.now() + 10_000;
    while ((!client.isReady || redis.cli('GET', key).trim() !== 'delivered') && Date.now() < until) await sleep(100);
    expect(redis.cli('GET', key).trim()).toBe('delivered');
    // Meta's retry, whenever it comes: a pending claim would have expired by then (30 s), a commit lasts the window.
    if (redis.cli('GET', key).startsWith('pending')) redis.cli('DEL', key);
    expect(await ingest([notification], 0)).toMatchObject({ result: 'duplicate' });

    const page = await history.query({ accounts: [notification.accountId], limit: 100 });
    expect(page.events.map((n) => n.id)).toEqual([notification.id]);
    expect(emitted).toEqual([notification.id]);
  });
  it("a claim left pending by a failed delivery (its release lost) is not taken for a delivery: Meta's retry is delivered once it lapses", async () => {
    const prefix = 'pending:';
    const dedupe = new RedisDedupeStore(client, { ttlMs: 60_000, prefix });
    const history = new RedisHistoryStore(client, { size: 100, maxAccounts: 100, prefix });
    const emitted: string[] = [];
    const emitter: RoomEmitter = { emitToRooms: (_rooms, n) => void emitted.push(n.id) };
    const publisher = createBroadcaster({ history, metrics: createMetrics(), logger: createLogger('silent'), emitters: [emitter] });
    const ingest = createPublishOnce({ dedupe, publisher });
    const notification: Notification = {
      id: `evt_pending_${Date.now()}`,
      eventType: 'comments',
      accountId: '17841400000055555',
      sender: { id: '1', username: 'meta' },
      content: 'pending claim',
      timestamp: new Date().toISOString(),
    };
    const key = `${prefix}dedupe:${notification.accountId}:comments:${notification.id}`;
    // What a delivery that failed leaves when its release cannot reach Redis: its claim, until the claim's TTL.
    redis.cli('SET', key, 'pending:dead-delivery', 'PX', '60000');
    // A retry meanwhile fails (Meta retries later) instead of being answered as a duplicate and never delivered.
    await expect(ingest([notification], 0)).rejects.toThrow(/being delivered/);
    expect(emitted).toEqual([]);
    // Once the claim lapses (here: 1 s), the retry is delivered, and the next one is a duplicate.
    redis.cli('PEXPIRE', key, '1000');
    expect(await ingest([notification], 0)).toMatchObject({ result: 'accepted', delivered: [notification.id] });
    expect(await ingest([notification], 0)).toMatchObject({ result: 'duplicate' });
    expect(emitted).toEqual([notification.id]);
  });
});

describe.skipIf(!HAS_REDIS)('a history write applied whose answer is lost (in process, real Redis behind a relay)', () => {
  let redis: RedisServer;
  let proxy: TcpProxy;
  let connection: RedisConnection;

  beforeAll(async () => {
    redis = await startRedis();
    proxy = await TcpProxy.start(`http://127.0.0.1:${redis.port}`, { replyFaults: true });
    // Cluster mode's own connections (no offline queue, 3 s socket timeout), through the relay.
    connection = new RedisConnection(`redis://127.0.0.1:${new URL(proxy.url).port}`, createLogger('silent'));
    await connection.connect(5000);
  });
  afterAll(async () => {
    await connection?.close();
    await proxy?.close();
    await redis?.stop();
  });

  it("the webhook fails (5xx), and Meta's retry delivers it without a second history entry", { timeout: 60_000 }, async () => {
    const prefix = 'lost-answer:';
    const dedupe = new RedisDedupeStore(connection.commands, { ttlMs: 60_000, prefix });
    const history = new RedisHistoryStore(connection.commands, { size: 100, maxAccounts: 100, prefix });
    const emitted: string[] = [];
    const emitter: RoomEmitter = { emitToRooms: (_rooms, n) => void emitted.push(n.id) };
    const publisher = createBroadcaster({ history, metrics: createMetrics(), logger: createLogger('silent'), emitters: [emitter] });
    const ingest = createPublishOnce({ dedupe, publisher });
    const notification: Notification = {
      id: `evt_lost_${Date.now()}`,
      eventType: 'comments',
      accountId: '17841400000066666',
      sender: { id: '1', username: 'meta' },
      content: 'lost answer',
      timestamp: new Date().toISOString(),
    };
    const key = `${prefix}dedupe:${notification.accountId}:comments:${notification.id}`;
    // Positive control: the relay passes answers.
    expect(await connection.commands.ping()).toBe('PONG');

    // The history record reaches Redis and is applied; its answer, and every later one on that connection, is lost.
    proxy.dropRepliesAfter((request) => request.includes("redis.call('INCR'")); // the record script
    await expect(ingest([notification], 0)).rejects.toThrow();
    proxy.passReplies();
    const page = () => history.query({ accounts: [notification.accountId], limit: 100 });
    const until = Date.now() + 15_000;
    while (!connection.commands.isReady && Date.now() < until) await sleep(100);
    expect((await page()).events.map((n) => n.id)).toEqual([notification.id]);
    expect(emitted).toEqual([]);

    // Meta's retry, once the failed delivery's claim (its release was lost too) has lapsed (30 s; here, at once).
    if (redis.cli('GET', key).startsWith('pending')) redis.cli('DEL', key);
    expect(await ingest([notification], 0)).toMatchObject({ result: 'accepted', delivered: [notification.id] });
    expect(await ingest([notification], 0)).toMatchObject({ result: 'duplicate' });
    expect(emitted).toEqual([notification.id]);
    expect((await page()).events.map((n) => n.id)).toEqual([notification.id]);

    // Another event of the account with the same id (another type) is another notification: recorded too.
    const mention: Notification = { ...notification, eventType: 'mentions' };
    expect(await ingest([mention], 0)).toMatchObject({ result: 'accepted' });
    expect((await page()).events.map((n) => `${n.eventType}:${n.id}`)).toEqual([
      `comments:${notification.id}`,
      `mentions:${notification.id}`,
    ]);
  });
});

describe.skipIf(!HAS_REDIS)('a Redis that loses its data (no persistence) when killed', () => {
  let redis: RedisServer;
  let instance: Instance;

  beforeAll(async () => {
    redis = await startRedis();
    instance = await Instance.start(redis.url);
  }, 30_000);
  afterAll(async () => {
    await closeSdkClients();
    await instance?.stop();
    await redis?.stop();
  }, 20_000);

  it('what history lost is told, not hidden: get_history since a lost id answers complete: false, and the SDK fires gap', { timeout: 60_000 }, async () => {
    const accountId = '17841400000044444';
    const claims = { userId: 'lost-data-user', accountIds: [accountId] };
    const sender = new MetaSender(() => [instance.url], accountId);
    try {
      const before = await sender.send();
      expect(before.answered200).toBe(true);
      // Positive control: kept while Redis lives.
      expect((await readHistory(instance.url, claims, before.id)).complete).toBe(true);

      await redis.kill();
      await redis.restart();
      const after = await sender.send();
      expect(after.answered200).toBe(true);

      const history = await readHistory(instance.url, claims, before.id);
      expect(history).toMatchObject({ complete: false });
      expect(history.ids).toContain(after.id);
      // A client resuming from the lost id is told, and still gets what is kept.
      const r = sdkClient(instance.url, { transport: 'websocket', claims, lastSeenId: before.id });
      await r.until(() => r.gaps.length === 1, 'a gap', 10_000);
      await r.received(after.id, 10_000);
    } finally {
      await sender.stop();
    }
  });
});
