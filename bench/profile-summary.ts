/**
 * The top self-time functions of a V8 `.cpuprofile` (what `node --cpu-prof` writes). Self time of a node is the sum
 * of the time deltas of the samples that landed on it; nodes of the same function (same name, file, line) are
 * added up. `(idle)` is left out of the percentages: they are shares of the time the process was busy.
 *
 *   npx tsx bench/profile-summary.ts bench/profiles/<file>.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  selfMs: number;
  percent: number;
}

/** Where a function lives, coarsely: an npm package, a folder of dist/, node's internals, or V8/native. */
function origin(url: string): string {
  if (url === '') return '(native/V8)';
  if (url.startsWith('node:')) return 'node:internal';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1] !== undefined && pkg[1] !== '.cache') return pkg[1];
  const dist = /\/dist\/([^/]+)\//.exec(url);
  if (dist?.[1] !== undefined) return `dist/${dist[1]}`;
  return url.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '');
}

export function summarizeProfile(
  profile: CpuProfile,
  top = 25,
): { busyMs: number; idleMs: number; functions: SelfTime[]; origins: { origin: string; selfMs: number; percent: number }[] } {
  const byNode = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0) {
    // timeDeltas[i] is the time since the previous sample: it belongs to sample i-1's node.
    for (let i = 0; i < samples.length; i++) {
      const spent = deltas[i + 1] ?? 0;
      byNode.set(samples[i] as number, (byNode.get(samples[i] as number) ?? 0) + spent);
    }
  } else {
    const interval = (profile.endTime - profile.startTime) / Math.max(1, profile.nodes.reduce((n, x) => n + (x.hitCount ?? 0), 0));
    for (const node of profile.nodes) byNode.set(node.id, (node.hitCount ?? 0) * interval);
  }
  const byFunction = new Map<string, SelfTime>();
  const byOrigin = new Map<string, number>();
  let idleUs = 0;
  let busyUs = 0;
  for (const node of profile.nodes) {
    const us = byNode.get(node.id) ?? 0;
    if (us === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    byOrigin.set(origin(url), (byOrigin.get(origin(url)) ?? 0) + us);
    const name = functionName === '' ? '(anonymous)' : functionName;
    const where = url === '' ? '' : `${url.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '')}:${lineNumber + 1}`;
    const key = `${name} ${where}`;
    const entry = byFunction.get(key) ?? { name, where, selfMs: 0, percent: 0 };
    entry.selfMs += us / 1000;
    byFunction.set(key, entry);
  }
  const functions = [...byFunction.values()]
    .sort((x, y) => y.selfMs - x.selfMs)
    .slice(0, top)
    .map((f) => ({ ...f, selfMs: Math.round(f.selfMs * 10) / 10, percent: Math.round((f.selfMs / (busyUs / 1000)) * 1000) / 10 }));
  const origins = [...byOrigin.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, 15)
    .map(([o, us]) => ({ origin: o, selfMs: Math.round(us / 100) / 10, percent: Math.round((us / busyUs) * 1000) / 10 }));
  return { busyMs: Math.round(busyUs / 1000), idleMs: Math.round(idleUs / 1000), functions, origins };
}

export function printProfile(file: string, top = 25): void {
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top);
  console.log(`\n${file}: ${summary.busyMs} ms busy, ${summary.idleMs} ms idle; top ${top} by self time (% of busy):`);
  for (const f of summary.functions) {
    console.log(`${f.selfMs.toFixed(1).padStart(9)} ms ${f.percent.toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`);
  }
  console.log('self time by origin (package, dist/ folder, node internals, native):');
  for (const o of summary.origins) {
    console.log(`${o.selfMs.toFixed(1).padStart(9)} ms ${o.percent.toFixed(1).padStart(5)}%  ${o.origin}`);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: profile-summary.ts <file.cpuprofile> [top]');
  printProfile(file, top === undefined ? 25 : Number(top));
}
