import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { redisAvailable } from './helpers/redis.js';

interface SoakResult {
  ok: boolean;
  webhooks: { posts: number; accepted: number; failed: number };
  delivery: { clients: number; expectedPerClient: number; received: number; lost: number; duplicated: number };
  outcomes: Record<string, number>;
  end: Array<{ connections: number; resources: Record<string, number> }>;
  failures: string[];
}

/**
 * Runs `scripts/soak.ts` (what `npm run soak` runs) for a few seconds against the built server (vitest's global setup
 * builds it), as a child process ended by pid if it overruns, and reads its `SOAK-RESULT` line.
 */
function runSoak(args: string[]): Promise<{ code: number | null; output: string; result: SoakResult | undefined }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/soak.ts', '--no-build', ...args], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // The soak bounds itself; this only keeps a broken one from outliving the test (SIGINT: it stops its servers).
    const timer = setTimeout(() => child.kill('SIGINT'), 80_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const line = output.split('\n').find((l) => l.startsWith('SOAK-RESULT '));
      resolve({ code, output, result: line === undefined ? undefined : (JSON.parse(line.slice('SOAK-RESULT '.length)) as SoakResult) });
    });
  });
}

/**
 * Twelve seconds of load; `--quick-settle`: the in-memory adapter's recovery sessions and packets are swept once a
 * minute (socket.io-adapter), which only the full soak waits for.
 */
const SHORT = ['--minutes', '0.2', '--clients', '30', '--rate', '5', '--recovery-window-ms', '10000', '--quick-settle'];
const SWEPT_ONCE_A_MINUTE = ['socketio_recovery_sessions', 'socketio_recovery_packets'];

function expectCleanSoak(run: Awaited<ReturnType<typeof runSoak>>): void {
  const { result } = run;
  expect(result, run.output.slice(-3000)).toBeDefined();
  if (result === undefined) return;
  // Positive controls: webhooks were accepted, delivered to every tracked client, and the churn ran every kind of client.
  expect(result.webhooks.accepted).toBeGreaterThan(0);
  expect(result.delivery.expectedPerClient).toBeGreaterThan(0);
  expect(result.delivery.received).toBe(result.delivery.clients * result.delivery.expectedPerClient);
  const outcome = (prefix: string) =>
    Object.entries(result.outcomes)
      .filter(([key]) => key.startsWith(prefix) && !key.endsWith('.unexpected'))
      .reduce((sum, [, n]) => sum + n, 0);
  for (const kind of ['session.', 'recovery', 'expiry.', 'rate_limit.', 'auth_timeout.', 'bad_token.']) expect(outcome(kind), kind).toBeGreaterThan(0);
  // Then nothing lost or duplicated, and every per-connection structure back to 0 once the clients left.
  expect(result.delivery.lost).toBe(0);
  expect(result.delivery.duplicated).toBe(0);
  for (const end of result.end) {
    expect(end.connections).toBe(0);
    expect(Object.keys(end.resources)).toContain('sessions');
    for (const [resource, value] of Object.entries(end.resources)) {
      if (!SWEPT_ONCE_A_MINUTE.includes(resource)) expect(value, resource).toBe(0);
    }
  }
  expect(result.failures).toEqual([]);
  expect(result.ok).toBe(true);
  expect(run.code).toBe(0);
}

describe('npm run soak, a few seconds of it', () => {
  it('when clients churn on both transports while webhooks arrive, then nothing is lost and the server comes back to 0', { timeout: 90_000 }, async () => {
    expectCleanSoak(await runSoak(SHORT));
  });

  it.runIf(redisAvailable())('in cluster mode (two instances, one Redis), the same', { timeout: 90_000 }, async () => {
    expectCleanSoak(await runSoak([...SHORT, '--cluster']));
  });
});
