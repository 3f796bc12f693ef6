import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientPool, Received } from './client-pool.js';
import { BENCH_JWT_SECRET, type BenchServer, type ServerKind, startServer } from './servers.js';
import { percentile } from './stats.js';
import { type Answer, forgetConnections, metaWebhook, postWebhook, probe } from './webhooks.js';

/** What every scenario is given. */
export interface ScenarioContext {
  readonly pool: ClientPool;
  readonly quick: boolean;
  /** Multiplies connection and notification counts (the smoke test runs tiny ones). */
  readonly scale: number;
  /** Set by --profile: run the servers under `--cpu-prof` writing here. */
  readonly profileDir: string | undefined;
  /** With --heap-prof: `--heap-prof` too. */
  readonly heapProfile: boolean;
}

/** One run's numbers, by metric name. */
export type RunMetrics = Record<string, number>;

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** The two things compared, A first (A/B is the ratio). */
  readonly variants: readonly [string, string];
  run(ctx: ScenarioContext, variant: string): Promise<RunMetrics>;
}

export const ACCOUNT = '17841400000000001';
export const EVENT_TYPES = ['comments', 'messages'];

/** `n` accounts distinct from ACCOUNT. */
export const otherAccounts = (n: number): string[] => Array.from({ length: n }, (_, i) => `178414100000${String(i).padStart(5, '0')}`);

export const scaled = (ctx: ScenarioContext, n: number): number => Math.max(1, Math.round(n * ctx.scale));

let prefixCounter = 0;
/** A notification-id prefix never used before in this bench. */
export const freshPrefix = (tag: string): string => `${tag}${process.pid.toString(36)}x${(prefixCounter++).toString(36)}-`;

export async function connectOrThrow(
  ctx: ScenarioContext,
  server: BenchServer,
  count: number,
  accounts: string[],
  concurrency = 200,
): Promise<number> {
  const result = await ctx.pool.connect({ url: server.url, secret: BENCH_JWT_SECRET, count, accounts, eventTypes: EVENT_TYPES, concurrency });
  if (result.ok === 0 && count > 0) throw new Error(`no socket connected to the ${server.kind}: ${result.errors.join('; ')}`);
  if (result.failed > 0) console.warn(`  ${result.failed} of ${count} sockets failed to connect: ${result.errors.join('; ')}`);
  return result.ms;
}

/** Posts one webhook per account (or `count` to one account) and waits until every subscriber has it: JIT warm-up. */
export async function warmUp(ctx: ScenarioContext, server: BenchServer, accounts: string[], subscribers: number): Promise<void> {
  const prefix = freshPrefix('w');
  await ctx.pool.count(prefix);
  for (let i = 0; i < 4; i++) {
    await Promise.all(accounts.map((a, k) => postWebhook(server.url, metaWebhook(a, prefix, i * accounts.length + k))));
  }
  await ctx.pool.awaitReceived(subscribers * 4, 10_000);
}

/** Posts to `account` at `perSecond` for `seconds` without waiting for answers; resolves with every answer. */
export async function sendAtRate(urls: string[], account: string, prefix: string, perSecond: number, seconds: number): Promise<Answer[]> {
  const total = Math.max(1, Math.round(perSecond * seconds));
  const started = Date.now();
  const answers: Promise<Answer>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    answers.push(postWebhook(urls[i % urls.length] as string, metaWebhook(account, prefix, i)));
  }
  return Promise.all(answers);
}

/** `senders` loops each posting and awaiting the answer, for `seconds` or `maxPosts` in all. */
export async function sendConcurrently(
  urls: string[],
  account: string,
  prefix: string,
  senders: number,
  seconds: number,
  maxPosts = Number.POSITIVE_INFINITY,
): Promise<{ answers: Answer[]; elapsedMs: number }> {
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const answers: Answer[] = [];
  let seq = 0;
  await Promise.all(
    Array.from({ length: senders }, async () => {
      while (Date.now() < deadline && seq < maxPosts) {
        const i = seq++;
        answers.push(await postWebhook(urls[i % urls.length] as string, metaWebhook(account, prefix, i)));
      }
    }),
  );
  return { answers, elapsedMs: Date.now() - started };
}

/** GET /healthz every 100 ms until stopped: the event loop's responsiveness seen from outside. */
export function startProber(server: BenchServer): { stop(): Promise<{ p99: number; max: number; count: number }> } {
  const times: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const answer = await probe(server.url, '/healthz');
      if (answer.status === 200) times.push(answer.ms);
      await sleep(Math.max(0, 100 - answer.ms));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { p99: percentile(times, 99), max: times.length === 0 ? Number.NaN : Math.max(...times), count: times.length };
    },
  };
}

/** The loss metrics every scenario reports: expected, received, lost (never negative), extra (duplicates or misdeliveries). */
export function loss(expected: number, got: Received): RunMetrics {
  return {
    expected,
    received: got.received,
    lost: Math.max(0, expected - got.received),
    extra: Math.max(0, got.received - expected),
    dropped: got.dropped,
  };
}

export const accepted = (answers: Answer[]): number => answers.filter((a) => a.status === 200).length;

/** Lets the server settle (timers, GC) before a measurement. */
export const settle = (ms: number): Promise<void> => sleep(ms).then(() => undefined);

/** Starts a fresh server of `kind`, runs `work`, then closes the sockets and stops the server whatever happened. */
export async function withServer<T>(ctx: ScenarioContext, kind: ServerKind, work: (server: BenchServer) => Promise<T>): Promise<T> {
  const server = await startServer(kind, ctx.profileDir === undefined ? {} : { profileDir: ctx.profileDir, heapProfile: ctx.heapProfile });
  try {
    return await work(server);
  } finally {
    await ctx.pool.closeSockets();
    forgetConnections();
    await server.stop();
  }
}

/** Server CPU (ms) spent while `work` ran. */
export async function cpuDuring<T>(server: BenchServer, work: () => Promise<T>): Promise<{ result: T; cpuMs: number }> {
  const before = server.usage().cpuMs;
  const result = await work();
  return { result, cpuMs: server.usage().cpuMs - before };
}
