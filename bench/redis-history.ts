/**
 * History-in-Redis benchmark: starts its own redis-server on a free port, fills N accounts × HISTORY_SIZE entries
 * through RedisHistoryStore (the record script, as webhooks would), then runs the worst `get_history` queries and
 * reports, per query: wall time, Redis-side time of the slowest command (SLOWLOG), the longest PING seen by a second
 * client (another thread) meanwhile, what the store says it read, and this process's heap delta; then the same
 * queries on MemoryHistoryStore (wall time). Minimum and median over BENCH_REPEAT runs: on a shared machine the
 * minimum is the closest to what a query costs. Bounded in count and time; stops by itself, ending its
 * redis-server by pid.
 *
 *   npx tsx bench/redis-history.ts                              # 500 and 10 000 accounts
 *   BENCH_ACCOUNTS=500 BENCH_REPEAT=3 npx tsx bench/redis-history.ts
 *   BENCH_ONLY='^\* ' npx tsx bench/redis-history.ts          # only the `*` queries
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { createClient } from 'redis';
import { RedisHistoryStore } from '../src/cluster/redis-history-store.js';
import { MemoryHistoryStore, type HistoryQuery } from '../src/notifications/history.js';
import type { EventType, Notification } from '../src/notifications/notification.js';
import { startRedis } from '../test/helpers/redis.js';

const SIZES = (process.env.BENCH_ACCOUNTS ?? '500,10000').split(',').map(Number);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 7);
/** A regular expression: only the queries whose name matches run (the code before issue 11 takes seconds each). */
const ONLY = new RegExp(process.env.BENCH_ONLY ?? '');
const PER_ACCOUNT = 100; // HISTORY_SIZE's default
const IN_FLIGHT = 400;
const DEADLINE = Date.now() + 20 * 60_000;

/** A PING loop on its own thread and connection: its longest round trip while a query runs is how long Redis froze. */
const PINGER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createClient } = require(workerData.redisPath);
const client = createClient({ url: workerData.url });
let max = 0, measuring = false, reply = false, stopped = false;
parentPort.on('message', (m) => {
  if (m === 'start') { max = 0; measuring = true; }
  else if (m === 'stop') { measuring = false; reply = true; }
  else if (m === 'end') { stopped = true; }
});
(async () => {
  await client.connect();
  parentPort.postMessage('ready');
  while (!stopped) {
    // A ping sent while the query runs counts, even if it comes back after: that is what a stall looks like.
    const counted = measuring;
    const t = performance.now();
    // A script past busy-reply-threshold (5 s) makes Redis answer BUSY: the stall goes on until a PING succeeds.
    for (;;) {
      try {
        await client.ping();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const rtt = performance.now() - t;
    if (counted && rtt > max) max = rtt;
    if (reply && !measuring) { reply = false; parentPort.postMessage(max); }
    if (!measuring) await new Promise((r) => setTimeout(r, 1));
  }
  await client.close();
})();
`;

function notificationOf(account: number, k: number): Notification {
  // Mostly messages and comments; one in a hundred a mention (the rare type a filter may ask for).
  const eventType: EventType = k % 100 === 37 ? 'mentions' : k % 2 === 0 ? 'messages' : 'comments';
  return {
    id: `mid.${account}.${k}.aWdfZAG5tZAXNzYWdlOjE3ODQxNDAy`,
    eventType,
    accountId: `1784140${String(account).padStart(8, '0')}`,
    sender: { id: `9${String(k).padStart(15, '0')}`, username: `user_${k}` },
    content: `Hello, is this still available? Order #${k} for account ${account}`,
    timestamp: new Date(1_700_000_000_000 + k * 1000).toISOString(),
  };
}

const redis = await startRedis();
const client = createClient({ url: redis.url });
await client.connect();
const worker = new Worker(PINGER, {
  eval: true,
  workerData: { url: redis.url, redisPath: createRequire(import.meta.url).resolve('redis') },
});
await new Promise((resolve) => worker.once('message', resolve));
const pingMax = async (): Promise<number> =>
  new Promise((resolve) => {
    worker.once('message', resolve);
    worker.postMessage('stop');
  });

/** Redis's main-thread CPU time so far, in ms (`INFO cpu`, Redis ≥ 6.2). */
const redisCpu = async (): Promise<number> => {
  const info = await client.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (field('used_cpu_user_main_thread') + field('used_cpu_sys_main_thread')) * 1000;
};

const results: Record<string, string | number>[] = [];
try {
  for (const accounts of SIZES) {
    await client.flushAll();
    const store = new RedisHistoryStore(client, { size: PER_ACCOUNT, maxAccounts: 10_000, prefix: 'bench:' });
    const fillStart = performance.now();
    // Round-robin over accounts, as a busy server receives them: arrival order interleaves every account.
    const total = accounts * PER_ACCOUNT;
    for (let done = 0; done < total; ) {
      if (Date.now() > DEADLINE) throw new Error('bench deadline passed while filling');
      const batch: Promise<void>[] = [];
      for (let i = 0; i < IN_FLIGHT && done < total; i++, done++) {
        batch.push(store.record(notificationOf(done % accounts, Math.floor(done / accounts))));
      }
      await Promise.all(batch);
    }
    const info = await client.info('memory');
    const used = /used_memory_human:(\S+)/.exec(info)?.[1];
    console.log(`filled ${accounts} accounts × ${PER_ACCOUNT} in ${((performance.now() - fillStart) / 1000).toFixed(1)} s (redis ${used})`);

    const thousand = Array.from({ length: 1000 }, (_, i) => notificationOf(i, 0).accountId);
    const thirty = thousand.slice(0, 30);
    const hundredFifty = thousand.slice(0, 150);
    const queries: [string, HistoryQuery][] = [
      ['* + [comments] + unknown since', { accounts: '*', eventTypes: ['comments'], since: 'forgotten', limit: 100 }],
      ['* + unknown since (no filter)', { accounts: '*', since: 'forgotten', limit: 100 }],
      ['* + [comments], no since', { accounts: '*', eventTypes: ['comments'], limit: 100 }],
      ['1000 accounts + [comments] + unknown since', { accounts: thousand, eventTypes: ['comments'], since: 'forgotten', limit: 100 }],
      ['1000 accounts + [comments], no since', { accounts: thousand, eventTypes: ['comments'], limit: 100 }],
      ['1000 accounts + [mentions] + unknown since', { accounts: thousand, eventTypes: ['mentions'], since: 'forgotten', limit: 100 }],
      ['30 accounts + [comments] + unknown since', { accounts: thirty, eventTypes: ['comments'], since: 'forgotten', limit: 100 }],
      ['150 accounts + [mentions] + unknown since', { accounts: hundredFifty, eventTypes: ['mentions'], since: 'forgotten', limit: 100 }],
      ['1000 accounts + [mentions], no since', { accounts: thousand, eventTypes: ['mentions'], limit: 100 }],
    ];
    await client.configSet({ 'slowlog-log-slower-than': '0', 'slowlog-max-len': '10000' });
    for (const [name, query] of queries.filter(([name]) => ONLY.test(name))) {
      const walls: number[] = [];
      const redisTimes: number[] = [];
      const cpus: number[] = [];
      let ping = 0;
      let heap = 0;
      let answer = { events: 0, complete: true, read: 0 };
      for (let r = 0; r < REPEAT && Date.now() < DEADLINE; r++) {
        (globalThis as { gc?: () => void }).gc?.();
        await client.sendCommand(['SLOWLOG', 'RESET']);
        const heapBefore = process.memoryUsage().heapUsed;
        worker.postMessage('start');
        const t = performance.now();
        const page = await store.query(query);
        walls.push(performance.now() - t);
        heap = Math.max(heap, process.memoryUsage().heapUsed - heapBefore);
        ping = Math.max(ping, await pingMax());
        const log = (await client.sendCommand(['SLOWLOG', 'GET', '10000'])) as [number, number, number, string[]][];
        let redisMax = 0;
        for (const [, , micros, args] of log) if (!['PING', 'SLOWLOG'].includes(String(args[0]).toUpperCase())) redisMax = Math.max(redisMax, micros);
        redisTimes.push(redisMax / 1000);
        answer = { events: page.events.length, complete: page.complete, read: store.lastQueryReads };
        // Redis's main-thread CPU for one more run, the pinger idle: unlike times, not inflated by a busy machine.
        const cpuBefore = await redisCpu();
        await store.query(query);
        cpus.push((await redisCpu()) - cpuBefore);
      }
      cpus.sort((a, b) => a - b);
      walls.sort((a, b) => a - b);
      redisTimes.sort((a, b) => a - b);
      const row = {
        accounts,
        query: name,
        'wall min ms': Number((walls[0] ?? 0).toFixed(1)),
        'wall median ms': Number((walls[walls.length >> 1] ?? 0).toFixed(1)),
        'wall max ms': Number((walls.at(-1) ?? 0).toFixed(1)),
        'redis min ms': Number((redisTimes[0] ?? 0).toFixed(2)),
        'redis median ms': Number((redisTimes[redisTimes.length >> 1] ?? 0).toFixed(2)),
        'redis max ms': Number((redisTimes.at(-1) ?? 0).toFixed(2)),
        'redis cpu median ms': Number((cpus[cpus.length >> 1] ?? 0).toFixed(2)),
        'ping max ms': Number(ping.toFixed(1)),
        'heap Δ MB': Number((heap / 2 ** 20).toFixed(1)),
        events: answer.events,
        complete: String(answer.complete),
        read: answer.read,
      };
      results.push(row);
      console.log(JSON.stringify(row));
    }
    await client.configSet({ 'slowlog-log-slower-than': '10000' });
    await client.flushAll();

    // The in-process store on the same data and queries (the single-instance mode): wall time only.
    const memory = new MemoryHistoryStore({ size: PER_ACCOUNT, maxAccounts: 10_000 });
    for (let done = 0; done < total; done++) memory.record(notificationOf(done % accounts, Math.floor(done / accounts)));
    for (const [name, query] of queries.filter(([name]) => ONLY.test(name))) {
      const walls: number[] = [];
      let events = 0;
      for (let r = 0; r < REPEAT; r++) {
        const t = performance.now();
        events = (await memory.query(query)).events.length;
        walls.push(performance.now() - t);
      }
      walls.sort((a, b) => a - b);
      const row = {
        accounts,
        query: `memory: ${name}`,
        'wall min ms': Number((walls[0] ?? 0).toFixed(1)),
        'wall median ms': Number((walls[walls.length >> 1] ?? 0).toFixed(1)),
        'wall max ms': Number((walls.at(-1) ?? 0).toFixed(1)),
        events,
      };
      results.push(row);
      console.log(JSON.stringify(row));
    }
  }
  console.table(results);
} finally {
  worker.postMessage('end');
  await worker.terminate();
  await client.close();
  await redis.stop();
}
