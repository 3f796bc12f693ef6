import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { createNotificationServer, type NotificationServer } from '../../src/server/notification-server.js';
import { readUsage, type ProcessUsage } from './process-usage.js';
import { TEST_JWT_SECRET } from './tokens.js';

/** The app secret the shared fixtures are signed with. */
export const TEST_APP_SECRET = 'test_app_secret';
export { TEST_JWT_SECRET };
export const TEST_VERIFY_TOKEN = 'test-verify-token';
/** Bearer token of the admin API where a test turns it on (`ADMIN_TOKEN: TEST_ADMIN_TOKEN`; see admin-api.ts). */
export const TEST_ADMIN_TOKEN = 'admin-token-0123456789abcdef';

/**
 * The one environment of test servers, in-process or spawned: test secrets (tokens from `mintToken`, webhooks from
 * `postFlat` are valid), NODE_ENV=test, the per-IP connect limit lifted (every test socket comes from 127.0.0.1), logs
 * silent unless TEST_LOG_LEVEL says otherwise. `overrides` win; an `undefined` one removes the variable.
 */
export function testEnv(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    INSTAGRAM_APP_SECRET: TEST_APP_SECRET,
    INSTAGRAM_WEBHOOK_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
    CONNECT_RATE_LIMIT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

export function testConfig(overrides: Record<string, string | undefined> = {}): Config {
  return loadConfig(testEnv({ PORT: '0', HOST: '127.0.0.1', ...overrides }));
}

/** What every test server offers, in-process or spawned. */
export interface TestServer {
  readonly url: string;
  stop(): Promise<void>;
}

export interface RunningServer extends TestServer {
  readonly server: NotificationServer;
  readonly config: Config;
}

/**
 * A real server in this process on a real (free) port of 127.0.0.1. In cluster mode it listens before Redis is
 * connected; unless told otherwise, wait until it is ready.
 */
export async function startServer(
  overrides: Record<string, string | undefined> = {},
  options: { waitReady?: boolean } = {},
): Promise<RunningServer> {
  const config = testConfig(overrides);
  const server = createNotificationServer(config, createLogger(config.LOG_LEVEL));
  const address = await server.listen();
  const url = `http://127.0.0.1:${address.port}`;
  if (options.waitReady ?? config.REDIS_URL !== undefined) await waitForOk(`${url}/readyz`, 10_000, 25);
  return { server, config, url, stop: async () => void (await server.stop()) };
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Time from the first signal sent through `child.kill` to the exit (0 when none was sent). */
  afterMs: number;
}

export interface SpawnedServer extends TestServer {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
  /** What the process printed (logs at its LOG_LEVEL, crash traces). */
  output(): string;
  /** True while the process runs (it never exited, by crash or otherwise). */
  alive(): boolean;
  /** The process's CPU and memory now (from /proc). */
  usage(): ProcessUsage;
  /**
   * Ends the process if it still runs and resolves once it exited: SIGKILL (nothing to drain), or with `graceful`
   * SIGCONT (it may be frozen), SIGTERM, and SIGKILL after 10 s.
   */
  stop(options?: { graceful?: boolean }): Promise<void>;
}

export interface SpawnOptions {
  /** The port to listen on (a restarted instance keeps its own); a free one by default. */
  port?: number;
  /** A path polled until it answers 200 (`/healthz`, `/readyz`); on failure the process is killed. None by default. */
  waitFor?: string;
  waitTimeoutMs?: number;
  /** Node options before `dist/main.js` (`--inspect=…`). */
  nodeArgs?: string[];
  /** Keep at most this many characters of output (the newest half when it overflows); all by default. */
  keptOutput?: number;
}

/**
 * The compiled server (`dist/main.js`, as `npm start` runs it) in its own process with exactly `env` (plus PATH, HOST
 * and PORT): pass `testEnv({...})` for a test server, or a production environment of its own.
 */
export async function spawnServer(env: Record<string, string>, options: SpawnOptions = {}): Promise<SpawnedServer> {
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), 'dist/main.js'], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('the server process did not start');
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (options.keptOutput !== undefined && output.length > options.keptOutput) output = output.slice(-options.keptOutput / 2);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let signalledAt = 0;
  const kill = child.kill.bind(child);
  child.kill = (signal?: NodeJS.Signals | number) => {
    signalledAt ||= Date.now();
    return kill(signal);
  };
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, afterMs: signalledAt ? Date.now() - signalledAt : 0 }));
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const spawned: SpawnedServer = {
    child,
    pid,
    url: `http://127.0.0.1:${port}`,
    exited,
    output: () => output,
    alive,
    usage: () => readUsage(pid),
    async stop(stopOptions = {}) {
      if (!alive()) return void (await exited);
      if (stopOptions.graceful !== true) {
        child.kill('SIGKILL');
        return void (await exited);
      }
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  if (options.waitFor !== undefined) {
    try {
      await waitForOk(`${spawned.url}${options.waitFor}`, options.waitTimeoutMs);
    } catch (err) {
      await spawned.stop();
      throw new Error(`${(err as Error).message}; output: ${output}`);
    }
  }
  return spawned;
}

/** A free TCP port on 127.0.0.1 (for a spawned server, which cannot report back port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** Polls `url` until it answers 200, or fails after `timeoutMs`. */
export async function waitForOk(url: string, timeoutMs = 15_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A spawned test server measured on its own (test clients run in the test's process): `testEnv` with the admin API on
 * (`TEST_ADMIN_TOKEN`) and warnings and errors logged (what a server logs is part of its cost, but the test keeps the
 * whole output in memory); resolves once `/healthz` answers. `stop()` kills it: measured servers are not drained.
 */
export function spawnMeasuredServer(env: Record<string, string> = {}): Promise<SpawnedServer> {
  return spawnServer(testEnv({ ADMIN_TOKEN: TEST_ADMIN_TOKEN, LOG_LEVEL: 'warn', ...env }), { waitFor: '/healthz' });
}
