import type { Expected } from './feeder.js';
import { sumOf } from './instances.js';
import type { Ledger } from './scenarios.js';

/** One reading of an instance's `/metrics`, taken right after a forced GC. */
export interface Sample {
  readonly atS: number;
  readonly instance: string;
  readonly heapUsedMb: number;
  readonly rssMb: number;
  readonly activeHandles: number;
  readonly activeResources: number;
  readonly connections: number;
  readonly cpuSeconds: number;
  /** `instantchat_resources` by resource (sessions, rooms, deadlines, ...). */
  readonly resources: Record<string, number>;
  /** `nodejs_active_handles` by type (Socket, Timer, ...). */
  readonly handles: Record<string, number>;
}

const MB = 1024 * 1024;
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export function sampleOf(instance: string, atS: number, metrics: Map<string, number>): Sample {
  const resources: Record<string, number> = {};
  const handles: Record<string, number> = {};
  for (const [key, value] of metrics) {
    const resource = /^instantchat_resources\{resource="([^"]+)"\}$/.exec(key);
    if (resource !== null) resources[resource[1] as string] = value;
    const handle = /^nodejs_active_handles\{type="([^"]+)"\}$/.exec(key);
    if (handle !== null) handles[handle[1] as string] = value;
  }
  return {
    atS: round(atS, 0),
    instance,
    heapUsedMb: round(sumOf(metrics, 'nodejs_heap_size_used_bytes') / MB),
    rssMb: round(sumOf(metrics, 'process_resident_memory_bytes') / MB),
    activeHandles: sumOf(metrics, 'nodejs_active_handles_total'),
    activeResources: sumOf(metrics, 'nodejs_active_resources_total'),
    connections: sumOf(metrics, 'instantchat_active_connections'),
    cpuSeconds: round(sumOf(metrics, 'process_cpu_seconds_total'), 2),
    resources,
    handles,
  };
}

export function describeSample(s: Sample): string {
  const res = Object.entries(s.resources)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return (
    `[${String(s.atS).padStart(5)} s] ${s.instance}: heap ${s.heapUsedMb} MB, rss ${s.rssMb} MB, handles ${s.activeHandles}, ` +
    `resources ${s.activeResources}, connections ${s.connections}, cpu ${s.cpuSeconds} s; ${res}`
  );
}

export interface DeliveryVerdict {
  readonly clients: number;
  readonly expectedPerClient: number;
  readonly expectedTotal: number;
  readonly received: number;
  readonly lost: number;
  readonly duplicated: number;
  /** Notifications no accepted POST announced (a POST that failed on our side but was delivered): reported, not lost. */
  readonly unexpected: number;
  /** A few lost keys, for the report. */
  readonly lostSamples: string[];
}

/** Every tracked client against every notification of every accepted POST. */
export function deliveries(expected: readonly Expected[], ledgers: readonly Ledger[]): DeliveryVerdict {
  const keys = new Set(expected.map((e) => e.key));
  let received = 0;
  let lost = 0;
  let duplicated = 0;
  let unexpected = 0;
  const lostSamples: string[] = [];
  for (const ledger of ledgers) {
    for (const [key, count] of ledger.received) {
      if (!keys.has(key)) unexpected += count;
      else {
        received += 1;
        duplicated += count - 1;
      }
    }
    for (const key of keys) {
      if (ledger.received.has(key)) continue;
      lost += 1;
      if (lostSamples.length < 10) lostSamples.push(key);
    }
  }
  return {
    clients: ledgers.length,
    expectedPerClient: keys.size,
    expectedTotal: keys.size * ledgers.length,
    received,
    lost,
    duplicated,
    unexpected,
    lostSamples,
  };
}

/** Whether every tracked client has every expected notification (to stop waiting for the tail). */
export const allDelivered = (expected: readonly Expected[], ledgers: readonly Ledger[]): boolean =>
  ledgers.every((ledger) => expected.every((e) => ledger.received.has(e.key)));

export interface GrowthLimits {
  /** Heap (after GC, nothing connected) may end this much above where it started: warm-up, JIT, bounded caches. */
  readonly heapSlackMb: number;
  /** Active handles may end this many above the start (listener, Redis sockets and timers are there from the start). */
  readonly handleSlack: number;
}

export const GROWTH_LIMITS: GrowthLimits = { heapSlackMb: 16, handleSlack: 4 };

/** Growth findings between an instance's first sample and its settled last one; empty when all is back. */
export function growthFindings(first: Sample, last: Sample, ignored: readonly string[] = [], limits = GROWTH_LIMITS): string[] {
  const findings: string[] = [];
  if (last.heapUsedMb > first.heapUsedMb + limits.heapSlackMb) {
    findings.push(`${last.instance}: heap ${first.heapUsedMb} → ${last.heapUsedMb} MB after settling (limit +${limits.heapSlackMb} MB)`);
  }
  if (last.activeHandles > first.activeHandles + limits.handleSlack) {
    findings.push(`${last.instance}: active handles ${first.activeHandles} → ${last.activeHandles} (limit +${limits.handleSlack})`);
  }
  if (last.connections !== 0) findings.push(`${last.instance}: ${last.connections} connections left with no client`);
  for (const [resource, value] of Object.entries(last.resources)) {
    if (value !== 0 && !ignored.includes(resource)) findings.push(`${last.instance}: ${resource} = ${value} with no client (expected 0)`);
  }
  return findings;
}

/**
 * Unbounded growth under steady load: the lowest heap (after GC) of the last third of an instance's load samples
 * against the lowest of its first third (the first load sample, warm-up, left out). Needs six load samples.
 */
export function trendFindings(load: readonly Sample[], slackMb = 8): string[] {
  const findings: string[] = [];
  for (const instance of new Set(load.map((s) => s.instance))) {
    const own = load.filter((s) => s.instance === instance).slice(1);
    if (own.length < 6) continue;
    const third = Math.floor(own.length / 3);
    const low = (samples: readonly Sample[]) => Math.min(...samples.map((s) => s.heapUsedMb));
    const [early, late] = [low(own.slice(0, third)), low(own.slice(-third))];
    if (late > early + slackMb) findings.push(`${instance}: heap under load grew from ${early} to ${late} MB (limit +${slackMb} MB)`);
  }
  return findings;
}

/** Whether every per-connection gauge of a sample is back to 0 (settling is over). */
export const settled = (s: Sample, ignored: readonly string[] = []): boolean =>
  s.connections === 0 && Object.entries(s.resources).every(([resource, v]) => v === 0 || ignored.includes(resource));
