import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './server.js';

const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));

/**
 * Whether Redis tests can run. In CI they must: `.ci/run` installs Debian's redis-server, and its absence fails
 * there. Elsewhere they skip, saying so loudly.
 */
export function redisAvailable(): boolean {
  if (REDIS_SERVER !== undefined) return true;
  if (process.env.CI) throw new Error('CI=true but redis-server is not installed (.ci/run installs it)');
  console.warn('\n*** redis-server not found: SKIPPING the Redis scale-out tests (apt-get install redis-server) ***\n');
  return false;
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  /** Kills the server (an outage); `restart` brings it back on the same port. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** Stops it answering without closing any connection (SIGSTOP: a frozen host); `thaw` resumes it. */
  freeze(): void;
  thaw(): void;
  /** Runs one command with redis-cli and returns its output (e.g. `CLIENT KILL TYPE pubsub`). */
  cli(...args: string[]): string;
}

/**
 * A real, throwaway redis-server on 127.0.0.1, ended by pid. No persistence by default; `durable`: an append-only
 * file synced on every write (`appendfsync always`), so that a write Redis acknowledged survives its SIGKILL, as a
 * production Redis that must keep history across a crash is configured.
 */
export async function startRedis(options: { durable?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'redis-test-'));
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(
      REDIS_SERVER as string,
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir],
        ...(options.durable ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'pipe' });
        return;
      } catch {
        if (Date.now() > deadline) throw new Error('redis-server did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null) return;
    const exited = new Promise((r) => running.once('exit', r));
    running.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    restart: launch,
    freeze: () => child?.kill('SIGSTOP'),
    thaw: () => child?.kill('SIGCONT'),
    cli: (...args) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 5000 }),
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
