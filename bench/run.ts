/**
 * `npm run bench`: the judge of performance (issue 14). Builds, then for every scenario alternates the product
 * (`node dist/main.js`, production mode, every feature on, logs at info into a file) and the minimal reference
 * (bench/reference-server.ts), A B A B ..., a fresh server per run, clients in their own processes
 * (bench/client-worker.ts), everything on 127.0.0.1 and bounded in time. Prints medians, A/B ratios and the
 * issue's targets (PASS/FAIL); the cluster scenario compares two instances + Redis with one (product only).
 *
 *   npm run bench                                  # every scenario, 3 runs each (about 10 minutes)
 *   npm run bench -- --quick                       # 1 run each, smaller counts (about a minute or two)
 *   npm run bench -- --only fan-out --runs 5 --json bench-results.json
 *   npm run bench -- --only large-fan-out --profile   # product under --cpu-prof: top 25 self-time functions
 *
 * Options: --runs N, --quick, --only <scenario[,scenario]>, --json <file>, --profile (the first --only scenario,
 * once, product only), --profile-reference (the reference too, for comparison), --heap-prof,
 * --scale <factor> (multiplies connection and notification counts), --no-build (dist/ is fresh), --workers N
 * (client processes; default one per core, at most 4), --strict (exit 1 when a target fails).
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ClientPool } from './client-pool.js';
import { printProfile } from './profile-summary.js';
import { rows, type ScenarioResult, table } from './report.js';
import type { RunMetrics, Scenario, ScenarioContext } from './scenario-kit.js';
import { cluster } from './scenarios/cluster.js';
import { connectStorm, memory, selective } from './scenarios/connections.js';
import { fanOut, largeFanOut, throughput } from './scenarios/fan-out.js';
import { fanOutSplit } from './scenarios/fan-out-split.js';
import { abortAll, buildServers } from './servers.js';
import { round } from './stats.js';

const SCENARIOS: Scenario[] = [fanOut, throughput, memory, connectStorm, selective, largeFanOut, cluster];
/** Diagnostics: run only when named in --only. */
const DIAGNOSTICS: Scenario[] = [fanOutSplit];
const PROFILE_DIR = 'bench/profiles';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    json: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'heap-prof': { type: 'boolean', default: false },
    'profile-reference': { type: 'boolean', default: false },
    scale: { type: 'string', default: '1' },
    'no-build': { type: 'boolean', default: false },
    workers: { type: 'string' },
    strict: { type: 'boolean', default: false },
  },
});

const runs = Math.max(1, Number(args.runs ?? (args.quick ? 1 : 3)));
const only = args.only?.split(',').map((s) => s.trim());
const chosen = only === undefined ? SCENARIOS : [...SCENARIOS, ...DIAGNOSTICS].filter((s) => only.includes(s.name));
if (only !== undefined && chosen.length !== only.length) {
  throw new Error(`unknown scenario in --only ${args.only}; known: ${[...SCENARIOS, ...DIAGNOSTICS].map((s) => s.name).join(', ')}`);
}

const startedAt = Date.now();
if (!args['no-build']) console.log('building (npm run build) ...');
await buildServers({ product: !args['no-build'] });
const pool = new ClientPool(args.workers === undefined ? undefined : Number(args.workers));
process.on('exit', () => {
  abortAll();
  pool.stop();
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    abortAll();
    pool.stop();
    process.exit(130);
  });
}
console.log(
  `${chosen.length} scenario(s), ${args.profile ? 'profile run' : `${runs} run(s) per variant`}${args.quick ? ', quick' : ''}; ` +
    `${pool.size} client processes; ${availableParallelism()} cores, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
);

const ctx = (profileDir?: string): ScenarioContext => ({
  pool,
  quick: args.quick,
  scale: Number(args.scale),
  profileDir,
  heapProfile: args['heap-prof'],
});

const compact = (m: RunMetrics) =>
  Object.entries(m)
    .filter(([k, v]) => !['expected', 'received', 'extra', 'dropped', 'rejectedWebhooks'].includes(k) || v !== 0)
    .map(([k, v]) => `${k}=${round(v)}`)
    .join(' ');

try {
  if (args.profile) {
    const scenario = chosen[0] ?? fanOut;
    mkdirSync(PROFILE_DIR, { recursive: true });
    const variants = args['profile-reference'] ? scenario.variants : [scenario.variants[0]];
    for (const variant of variants) {
      const since = Date.now();
      console.log(`\nprofiling the ${variant} in ${scenario.name} (node --cpu-prof --cpu-prof-dir ${PROFILE_DIR})`);
      const metrics = await scenario.run(ctx(PROFILE_DIR), variant);
      console.log(`  ${compact(metrics)}`);
      const profiles = readdirSync(PROFILE_DIR)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(PROFILE_DIR, f))
        .filter((f) => statSync(f).mtimeMs >= since);
      if (profiles.length === 0) throw new Error(`no .cpuprofile written in ${PROFILE_DIR}`);
      for (const file of profiles) printProfile(file, 25);
    }
  } else {
    const results: ScenarioResult[] = [];
    for (const scenario of chosen) {
      const result: ScenarioResult = { scenario: scenario.name, variants: scenario.variants, runs: { a: [], b: [] } };
      console.log(`\n${scenario.name}: ${scenario.description}`);
      for (let i = 0; i < runs; i++) {
        for (const [slot, variant] of [['a', scenario.variants[0]], ['b', scenario.variants[1]]] as const) {
          const t0 = Date.now();
          const metrics = await scenario.run(ctx(), variant);
          result.runs[slot].push(metrics);
          console.log(`  run ${i + 1} ${variant.padEnd(9)} ${((Date.now() - t0) / 1000).toFixed(1)}s  ${compact(metrics)}`);
        }
      }
      results.push(result);
    }
    console.log(`\nMedians of ${runs} run(s) (lost, extra, dropped: worst run):\n`);
    console.log(table(results));
    const allRows = results.flatMap(rows);
    const failed = allRows.filter((r) => r.pass === false);
    console.log(`\n${allRows.filter((r) => r.pass === true).length} PASS, ${failed.length} FAIL; ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
    if (args.json !== undefined) {
      const json = {
        date: new Date().toISOString(),
        runs,
        quick: args.quick,
        scale: Number(args.scale),
        cores: availableParallelism(),
        loadAverage: loadavg(),
        clientProcesses: pool.size,
        rows: allRows,
        scenarios: results,
      };
      writeFileSync(args.json, `${JSON.stringify(json, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
      console.log(`wrote ${args.json}`);
    }
    if (args.strict && failed.length > 0) process.exitCode = 1;
  }
} finally {
  pool.stop();
}
