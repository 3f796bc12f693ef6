/**
 * Soak: builds, starts the product as production runs it (`node dist/main.js`, NODE_ENV=production, real secrets; with
 * `--cluster`, two instances on a real redis-server), and for N minutes connects and disconnects clients on both
 * transports (authenticate, subscribe/unsubscribe, get_history, recovery, token expiry, rate limits, authentication
 * timeouts, bad tokens) while signed fixture webhooks arrive at a steady rate. Then every client leaves, and it checks
 * that the clients that stayed (or recovered) received every notification once, and that the server came back to
 * where it started: connections, sessions, rooms and deadlines at 0, heap (after a forced GC) and handles near the
 * start. Exits 1 when anything was lost or grew, 2 when the soak itself could not run.
 *
 *   npm run soak                              # 3 minutes, one instance
 *   npm run soak -- --minutes 30 --cluster    # two instances and Redis
 *   options: --clients N (200) --rate N (webhook POSTs/s, 5) --recovery-window-ms N (20000) --no-build
 *            --quick-settle (the smoke test: skip waiting for the in-memory adapter's once-a-minute sweep of expired
 *            recovery sessions and packets, and leave those two gauges out of the end check)
 *
 * Everything listens on 127.0.0.1; every loop is bounded in time; only processes it started are stopped, by pid.
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { startRedis, type RedisServer } from '../test/helpers/redis.js';
import { sleep } from './soak/connection.js';
import { WebhookFeeder } from './soak/feeder.js';
import { type Instance, SECRETS, startInstance } from './soak/instances.js';
import { churn, RecoveringClient, type SoakContext, SteadyClient, Tally } from './soak/scenarios.js';
import { allDelivered, deliveries, describeSample, growthFindings, type Sample, sampleOf, settled, trendFindings } from './soak/verdict.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    cluster: { type: 'boolean', default: false },
    clients: { type: 'string', default: '200' },
    rate: { type: 'string', default: '5' },
    'recovery-window-ms': { type: 'string', default: '20000' },
    'no-build': { type: 'boolean', default: false },
    'quick-settle': { type: 'boolean', default: false },
  },
});

const MINUTES = Number(args.minutes);
const CLIENTS = Math.max(10, Math.floor(Number(args.clients)));
const RATE = Number(args.rate);
const RECOVERY_WINDOW_MS = Number(args['recovery-window-ms']);
/** Short, so that the authentication-timeout clients come and go, but not so short that a loaded machine trips it. */
const AUTH_TIMEOUT_MS = 8000;
/** Unexpected client outcomes (protocol answers missing or late) tolerated, as a share of scenarios: a loaded machine. */
const ANOMALY_SHARE = 0.01;
const EVENT_RATE_LIMIT = 50;
if (!(MINUTES > 0) || !(RATE > 0) || !(RECOVERY_WINDOW_MS >= 3000)) {
  process.stderr.write('usage: soak [--minutes N>0] [--cluster] [--clients N] [--rate N>0] [--recovery-window-ms N>=3000] [--no-build]\n');
  process.exit(2);
}
const LOAD_MS = MINUTES * 60_000;
/**
 * socket.io-adapter's in-memory adapter drops expired recovery sessions and packets once a minute (SessionAwareAdapter),
 * whatever the window: they are held for up to the window plus this, then must be gone.
 */
const ADAPTER_SWEEP_MS = 60_000;
const QUICK = args['quick-settle'];
const SETTLE_MS = QUICK ? 2 * RECOVERY_WINDOW_MS + 10_000 : RECOVERY_WINDOW_MS + ADAPTER_SWEEP_MS + 20_000;
/** Gauges the end check leaves out with --quick-settle (they wait for the adapter's sweep). */
const UNSWEPT = QUICK ? ['socketio_recovery_sessions', 'socketio_recovery_packets'] : [];
/** Load, then at most: 45 s for the churn to stop, 20 s for the tail of deliveries, the settling, and a minute of margin. */
const HARD_LIMIT_MS = LOAD_MS + 45_000 + 20_000 + SETTLE_MS + 60_000;

const say = (line: string) => process.stdout.write(`${line}\n`);
const t0 = Date.now();
const elapsedS = () => (Date.now() - t0) / 1000;

const instances: Instance[] = [];
let redis: RedisServer | undefined;

let cleaning: Promise<void> | undefined;
const cleanUp = (): Promise<void> => (cleaning ??= stopEverything());

async function stopEverything(): Promise<void> {
  const stops = await Promise.all(instances.map(async (i) => ({ name: i.name, ...(await i.stop()) })));
  for (const stop of stops) say(`${stop.name} stopped: exit code ${String(stop.code)}${stop.signal ? `, signal ${stop.signal}` : ''}`);
  await redis?.stop();
}

const hardStop = setTimeout(() => {
  say(`SOAK ABORTED: still running after ${Math.round(HARD_LIMIT_MS / 1000)} s`);
  void cleanUp().finally(() => process.exit(2));
}, HARD_LIMIT_MS);
hardStop.unref();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping`);
    void cleanUp().finally(() => process.exit(2));
  });
}

async function sampleAll(samples: Sample[]): Promise<Sample[]> {
  const taken = await Promise.all(
    instances.map(async (instance) => {
      await instance.collectGarbage();
      return sampleOf(instance.name, elapsedS(), await instance.scrape());
    }),
  );
  for (const sample of taken) say(describeSample(sample));
  samples.push(...taken);
  return taken;
}

/** Redis's memory and key count (cluster mode), reported, not judged: dedupe ids stay for DEDUPE_TTL_MS by design. */
function redisFigures(): { usedMemoryMb: number; keys: number } | undefined {
  if (redis === undefined) return undefined;
  const cli = (...command: string[]) => execFileSync('redis-cli', ['-p', String(redis?.port), ...command], { encoding: 'utf8' });
  const used = Number(/used_memory:(\d+)/.exec(cli('info', 'memory'))?.[1] ?? Number.NaN);
  return { usedMemoryMb: Math.round((used / 1024 / 1024) * 10) / 10, keys: Number(cli('dbsize').trim()) };
}

async function main(): Promise<number> {
  if (!args['no-build']) {
    say('building (npm run build)');
    execFileSync('npm', ['run', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  if (args.cluster) {
    redis = await startRedis();
    say(`redis-server on port ${redis.port}`);
  }
  const settings = {
    recoveryWindowMs: RECOVERY_WINDOW_MS,
    authTimeoutMs: AUTH_TIMEOUT_MS,
    heartbeatTimeoutMs: 30_000,
    ...(redis !== undefined && { redisUrl: redis.url }),
  };
  for (const name of args.cluster ? ['instance-a', 'instance-b'] : ['instance']) {
    instances.push(await startInstance(name, settings));
  }
  const urls = instances.map((i) => i.url);
  say(`soak: ${MINUTES} min, ${CLIENTS} clients, ${RATE} webhook POSTs/s, ${instances.length} instance(s): ${urls.join(', ')}`);

  const samples: Sample[] = [];
  const first = await sampleAll(samples);
  const redisAtStart = redisFigures();
  const loadSamples: Sample[] = [];

  let running = true;
  const ctx: SoakContext = {
    urls,
    jwtSecret: SECRETS.jwt,
    adminToken: SECRETS.admin,
    authTimeoutMs: AUTH_TIMEOUT_MS,
    recoveryWindowMs: RECOVERY_WINDOW_MS,
    eventRateLimit: EVENT_RATE_LIMIT,
    running: () => running,
  };
  const tally = new Tally(say);
  // Tracked clients: 20 % stay connected (half per transport), 10 % stay with their transport cut again and again.
  const steadyCount = Math.max(2, Math.round(CLIENTS * 0.2));
  const recoveringCount = Math.max(2, Math.round(CLIENTS * 0.1));
  const steady = Array.from({ length: steadyCount }, (_, i) => new SteadyClient(i % 2 === 0 ? 'socketio' : 'websocket', i));
  const recovering = Array.from({ length: recoveringCount }, (_, i) => new RecoveringClient(i, tally));
  await Promise.all([...steady, ...recovering].map((c) => c.open(ctx)));

  const feeder = new WebhookFeeder(urls, SECRETS.app, RATE);
  say(`fixtures posted in turn: ${feeder.fixtureNames.join(', ')}`);
  feeder.start();
  const slots = Array.from({ length: CLIENTS - steadyCount - recoveringCount }, () => churn(ctx, tally));

  const sampleEveryMs = Math.min(60_000, Math.max(10_000, LOAD_MS / 10));
  const loadEnds = Date.now() + LOAD_MS;
  while (Date.now() < loadEnds) {
    await sleep(Math.min(sampleEveryMs, loadEnds - Date.now()));
    if (Date.now() < loadEnds - 1000) {
      loadSamples.push(...(await sampleAll(samples)));
      say(`  webhooks ${feeder.stats.accepted}/${feeder.stats.posts} accepted; churn outcomes ${tally.total}, anomalies ${tally.anomalies}`);
    }
  }

  say(`[${Math.round(elapsedS())} s] load phase over: churn stops, webhooks stop`);
  running = false;
  await Promise.all(slots);
  await feeder.stop();
  await Promise.all(recovering.map((c) => c.settle()));
  const retired = recovering.filter((c) => c.retired !== undefined);
  const ledgers = [...steady, ...recovering.filter((c) => c.retired === undefined)].map((c) => c.ledger);
  const tailEnds = Date.now() + 20_000;
  while (!allDelivered(feeder.expected, ledgers) && Date.now() < tailEnds) await sleep(250);
  const delivery = deliveries(feeder.expected, ledgers);
  const kinds = {
    steady_socketio: steady.filter((c) => c.transport === 'socketio').map((c) => c.ledger),
    steady_websocket: steady.filter((c) => c.transport === 'websocket').map((c) => c.ledger),
    recovering_socketio: recovering.filter((c) => c.retired === undefined).map((c) => c.ledger),
  };
  const byKind = Object.fromEntries(
    Object.entries(kinds).map(([kind, own]) => {
      const { lost, duplicated, lostSamples } = deliveries(feeder.expected, own);
      const dups = own.flatMap((l) => [...l.received].filter(([, n]) => n > 1).map(([key]) => key)).slice(0, 5);
      return [kind, { clients: own.length, lost, duplicated, lostSamples: lostSamples.slice(0, 5), duplicatedSamples: dups }];
    }),
  );
  const droppedByServer = [...steady, ...recovering].filter((c) => c.closedReason !== undefined).map((c) => c.closedReason);
  for (const client of [...steady, ...recovering]) client.close();

  say(`[${Math.round(elapsedS())} s] every client left: waiting up to ${SETTLE_MS / 1000} s for the server to settle (recovery sessions expire after the window)`);
  let last: Sample[] = [];
  const settleEnds = Date.now() + SETTLE_MS;
  for (;;) {
    const readings = await Promise.all(instances.map(async (i) => sampleOf(i.name, elapsedS(), await i.scrape())));
    if (readings.every((r) => settled(r, UNSWEPT))) break;
    if (Date.now() > settleEnds) {
      for (const reading of readings) say(`not settled: ${describeSample(reading)}`);
      break;
    }
    await sleep(2000);
  }
  last = await sampleAll(samples);
  const redisAtEnd = redisFigures();

  const growth = instances.flatMap((_, i) => growthFindings(first[i] as Sample, last[i] as Sample, UNSWEPT));
  const cpu = instances.map((_, i) => ({
    instance: (last[i] as Sample).instance,
    averageCpuPercent: Math.round((((last[i] as Sample).cpuSeconds - (first[i] as Sample).cpuSeconds) / elapsedS()) * 100),
  }));
  const failures = [
    ...(delivery.lost > 0 ? [`${delivery.lost} deliveries lost (e.g. ${delivery.lostSamples.join(', ')})`] : []),
    ...(delivery.duplicated > 0 ? [`${delivery.duplicated} deliveries duplicated`] : []),
    ...((tally.counts['churn_delivery.duplicate'] ?? 0) > 0
      ? [`${tally.counts['churn_delivery.duplicate']} deliveries duplicated to churning clients`]
      : []),
    ...(delivery.expectedPerClient === 0 ? ['no notification was expected: the soak delivered nothing'] : []),
    ...(feeder.stats.failed > 0 ? [`${feeder.stats.failed} webhook POSTs failed: ${JSON.stringify(feeder.stats.failures)}`] : []),
    ...(droppedByServer.length > 0 ? [`${droppedByServer.length} tracked clients were disconnected: ${droppedByServer.slice(0, 5).join('; ')}`] : []),
    ...(tally.anomalies > ANOMALY_SHARE * tally.scenarios
      ? [`${tally.anomalies} unexpected client outcomes of ${tally.scenarios} (first: ${tally.samples.slice(0, 5).join(' | ')})`]
      : []),
    ...growth,
    ...trendFindings(loadSamples),
  ];

  const result = {
    ok: failures.length === 0,
    minutes: MINUTES,
    cluster: args.cluster,
    clients: CLIENTS,
    webhooks: feeder.stats,
    delivery,
    byKind,
    retired: retired.map((c) => c.retired),
    outcomes: Object.fromEntries(Object.entries(tally.counts).sort()),
    cpu,
    redis: redis === undefined ? undefined : { start: redisAtStart, end: redisAtEnd },
    start: first,
    end: last,
    samples: samples.map(({ atS, instance, heapUsedMb, rssMb, activeHandles, connections }) => ({
      atS,
      instance,
      heapUsedMb,
      rssMb,
      activeHandles,
      connections,
    })),
    failures,
  };
  say('');
  say(
    `deliveries: ${delivery.clients} tracked clients × ${delivery.expectedPerClient} notifications = ${delivery.expectedTotal} expected, ` +
      `${delivery.received} received, ${delivery.lost} lost, ${delivery.duplicated} duplicated, ${delivery.unexpected} unannounced`,
  );
  say(`by client kind: ${JSON.stringify(byKind)}`);
  if (retired.length > 0) say(`left out of the count: ${retired.length} recovering clients that came back past the window`);
  say(`webhooks: ${feeder.stats.accepted} of ${feeder.stats.posts} POSTs accepted`);
  say(`client outcomes: ${JSON.stringify(result.outcomes)}`);
  say(`unexpected client outcomes: ${tally.anomalies} of ${tally.scenarios} (fails above ${ANOMALY_SHARE * 100} %)`);
  for (const i of instances.keys()) {
    const [a, b] = [first[i] as Sample, last[i] as Sample];
    say(
      `${a.instance}: heap ${a.heapUsedMb} → ${b.heapUsedMb} MB, rss ${a.rssMb} → ${b.rssMb} MB, handles ${a.activeHandles} → ${b.activeHandles}, ` +
        `active resources ${a.activeResources} → ${b.activeResources}, connections ${b.connections}, average cpu ${cpu[i]?.averageCpuPercent} %`,
    );
    say(`  handles by type: ${JSON.stringify(a.handles)} → ${JSON.stringify(b.handles)}`);
  }
  if (redis !== undefined) say(`redis: ${JSON.stringify(redisAtStart)} → ${JSON.stringify(redisAtEnd)}`);
  say(failures.length === 0 ? 'SOAK PASSED' : `SOAK FAILED:\n  ${failures.join('\n  ')}`);
  say(`SOAK-RESULT ${JSON.stringify(result)}`);
  return failures.length === 0 ? 0 : 1;
}

let code = 2;
try {
  code = await main();
} catch (err) {
  say(`SOAK ERROR: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  for (const instance of instances) say(`--- ${instance.name} output (tail) ---\n${instance.output().slice(-4000)}`);
} finally {
  await cleanUp();
  clearTimeout(hardStop);
}
process.exit(code);
