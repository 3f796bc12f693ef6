import type { RunMetrics } from './scenario-kit.js';
import { max, median, round } from './stats.js';

/** The targets: each on the A/B ratio, or on A's own value (product, or cluster). */
interface Target {
  scenario: string;
  metric: string;
  on: 'ratio' | 'a';
  cmp: '<=' | '>=' | '<' | '==';
  value: number;
}

export const TARGETS: Target[] = [
  { scenario: 'throughput', metric: 'acceptedPerSecond', on: 'ratio', cmp: '>=', value: 1.0 },
  { scenario: 'fan-out', metric: 'cpuUsPerDelivery', on: 'ratio', cmp: '<=', value: 0.8 },
  { scenario: 'memory', metric: 'rssKiBPerConnection', on: 'ratio', cmp: '<=', value: 0.75 },
  { scenario: 'selective', metric: 'withOverWithout', on: 'a', cmp: '<=', value: 1.2 },
  { scenario: 'large-fan-out', metric: 'answerP99Ms', on: 'ratio', cmp: '<=', value: 0.2 },
  // Event-loop lag: the p99 of a /healthz probe every 100 ms during the fan-outs (max printed beside it).
  { scenario: 'fan-out', metric: 'healthzP99Ms', on: 'a', cmp: '<', value: 50 },
  { scenario: 'large-fan-out', metric: 'healthzP99Ms', on: 'a', cmp: '<', value: 50 },
];

/** Metrics where the worst run counts, not the median. */
const WORST_OF = new Set(['lost', 'extra', 'dropped', 'rejectedWebhooks']);
/** Shown only when non-zero somewhere. */
const QUIET = new Set(['extra', 'dropped', 'rejectedWebhooks']);

export interface Row {
  scenario: string;
  metric: string;
  a: number;
  b: number;
  ratio: number;
  target: string;
  pass: boolean | null;
}

export interface ScenarioResult {
  scenario: string;
  variants: readonly [string, string];
  runs: { a: RunMetrics[]; b: RunMetrics[] };
}

const check = (x: number, cmp: Target['cmp'], value: number): boolean =>
  cmp === '<=' ? x <= value : cmp === '>=' ? x >= value : cmp === '<' ? x < value : x === value;

export function rows(result: ScenarioResult): Row[] {
  const metrics = [...new Set([...result.runs.a, ...result.runs.b].flatMap((r) => Object.keys(r)))];
  const out: Row[] = [];
  for (const metric of metrics) {
    const summarize = WORST_OF.has(metric) ? max : median;
    const a = summarize(result.runs.a.map((r) => r[metric] ?? Number.NaN).filter(Number.isFinite));
    const b = summarize(result.runs.b.map((r) => r[metric] ?? Number.NaN).filter(Number.isFinite));
    if (QUIET.has(metric) && !(a > 0) && !(b > 0)) continue;
    const ratio = b === 0 ? Number.NaN : a / b;
    let target = '';
    let pass: boolean | null = null;
    const t = TARGETS.find((x) => x.scenario === result.scenario && x.metric === metric);
    if (t !== undefined) {
      target = `${t.on === 'ratio' ? 'ratio' : result.variants[0]} ${t.cmp} ${t.value}`;
      pass = check(t.on === 'ratio' ? ratio : a, t.cmp, t.value);
    } else if (metric === 'lost') {
      target = `${result.variants[0]} == 0`;
      pass = a === 0;
    }
    out.push({ scenario: result.scenario, metric, a: round(a), b: round(b), ratio: round(ratio), target, pass });
  }
  return out;
}

export function table(all: ScenarioResult[]): string {
  const header = ['scenario', 'metric', 'A', 'B', 'A/B', 'target', ''];
  const lines: string[][] = [header];
  for (const result of all) {
    const [va, vb] = result.variants;
    for (const row of rows(result)) {
      lines.push([
        row.scenario,
        row.metric,
        `${String(row.a)} (${va})`,
        `${String(row.b)} (${vb})`,
        Number.isFinite(row.ratio) ? String(row.ratio) : '-',
        row.target,
        row.pass === null ? '' : row.pass ? 'PASS' : 'FAIL',
      ]);
    }
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  return lines.map((l) => l.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}
