import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

interface BenchJson {
  rows: { scenario: string; metric: string; a: number | null; b: number | null; pass: boolean | null }[];
  scenarios: { scenario: string; runs: { a: Record<string, number>[]; b: Record<string, number>[] } }[];
}

/**
 * The bench harness end to end at a tiny size (issue 14): the built product and the reference server, real client
 * processes, real signed Meta envelopes. It checks that the harness works and reports, not how fast anything is.
 */
describe('npm run bench (tiny run)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('when run on fan-out, then it writes JSON with numbers for both servers, every delivery received', async () => {
    const file = join(dir, 'bench.json');
    // dist/ was built by the global setup.
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', '--quick', '--only', 'fan-out', '--runs', '1', '--scale', '0.02', '--no-build', '--workers', '1', '--json', file],
      { timeout: 110_000 },
    );
    expect(stdout).toContain('cpuUsPerDelivery');

    const json = JSON.parse(readFileSync(file, 'utf8')) as BenchJson;
    const [fanOut] = json.scenarios;
    expect(fanOut?.scenario).toBe('fan-out');
    for (const runs of [fanOut?.runs.a ?? [], fanOut?.runs.b ?? []]) {
      expect(runs).toHaveLength(1);
      const [metrics] = runs;
      // Positive control: deliveries were expected and all of them arrived, with a latency each.
      expect(metrics?.expected).toBeGreaterThan(0);
      expect(metrics?.received).toBe(metrics?.expected);
      expect(metrics?.lost).toBe(0);
      for (const name of ['latencyP50Ms', 'latencyP99Ms', 'cpuUsPerDelivery', 'healthzP99Ms']) {
        expect(Number.isFinite(metrics?.[name]), name).toBe(true);
      }
    }
    const row = json.rows.find((r) => r.metric === 'cpuUsPerDelivery');
    expect(typeof row?.a).toBe('number');
    expect(typeof row?.b).toBe('number');
    expect(typeof row?.pass).toBe('boolean');
  }, 120_000);
});
