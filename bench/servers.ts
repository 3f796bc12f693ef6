import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForOk } from '../test/helpers/server.js';
import { readUsage, type ProcessUsage } from '../test/helpers/process-usage.js';

export const BENCH_JWT_SECRET = 'bench-jwt-secret-0123456789abcdef-0123456789';
export const BENCH_APP_SECRET = 'bench-instagram-app-secret-0123456789';
const METRICS_TOKEN = 'bench-metrics-token-0123456789';
const ADMIN_TOKEN = 'bench-admin-token-0123456789';

export type ServerKind = 'product' | 'reference';

export interface BenchServer {
  readonly kind: ServerKind;
  readonly url: string;
  readonly pid: number;
  /** CPU (utime + stime) and RSS of the server process, from /proc. */
  usage(): ProcessUsage;
  /** V8 heap in use: the product's `nodejs_heap_size_used_bytes`, the reference's `/heap`. */
  heapBytes(): Promise<number>;
  /** Bytes the server has logged so far (its stdout and stderr go to a file: the cost is paid, not displayed). */
  logBytes(): number;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves at exit. */
  stop(graceMs?: number): Promise<void>;
}

/** What to end, by pid, if the bench itself is interrupted: every child it started and has not stopped yet. */
const abortHooks = new Set<() => void>();

/** Registers a synchronous last-resort stop; returns its removal. */
export function onAbort(hook: () => void): () => void {
  abortHooks.add(hook);
  return () => abortHooks.delete(hook);
}

/** Kills (SIGKILL, by pid) every child still registered: for `exit` and signal handlers. */
export function abortAll(): void {
  for (const hook of abortHooks) hook();
  abortHooks.clear();
}

const REFERENCE_BUNDLE = 'node_modules/.cache/instantchat-bench/reference-server.mjs';
const LOG_DIR = join(tmpdir(), 'instantchat-bench');

/**
 * `npm run build` (the product as `npm start` runs it; skipped with `product: false` when dist/ is fresh), and the
 * reference compiled to plain JS, so that it runs without the tsx loader (whose thread and caches would count in its
 * RSS).
 */
export async function buildServers(options: { product: boolean }): Promise<void> {
  if (options.product) execFileSync('npm', ['run', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const { build } = await import('esbuild');
  await build({
    entryPoints: ['bench/reference-server.ts'],
    outfile: REFERENCE_BUNDLE,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  });
}

/** The product's environment: production, every secret set, logs at info, limits lifted only where 127.0.0.1 needs. */
export function productEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    JWT_SECRET: BENCH_JWT_SECRET,
    INSTAGRAM_APP_SECRET: BENCH_APP_SECRET,
    INSTAGRAM_WEBHOOK_VERIFY_TOKEN: 'bench-verify-token-0123456789',
    ADMIN_TOKEN,
    METRICS_TOKEN,
    CLIENT_URL: 'https://app.instantchat.example',
    LOG_LEVEL: 'info',
    // Every bench socket comes from 127.0.0.1 (TRAPS "Processes").
    CONNECT_RATE_LIMIT: '0',
    // Idle sockets of the memory scenario send no heartbeat; the sweeper still runs, at its default pace.
    HEARTBEAT_TIMEOUT_MS: '600000',
    SHUTDOWN_DELAY_MS: '0',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...extra,
  };
}

let launched = 0;

/**
 * Spawns a server on port 0 (never a port probed free then lost to another process: another helper's server could
 * answer in its place) with its output in a log file, and reads the port it got from its first log lines.
 */
function launch(kind: ServerKind, args: string[], env: Record<string, string>) {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = join(LOG_DIR, `${kind}-${process.pid}-${launched++}.log`);
  const fd = openSync(logFile, 'w');
  const child: ChildProcess = spawn(process.execPath, args, { env: { ...env, PORT: '0' }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const forget = onAbort(() => child.kill('SIGKILL'));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      forget();
      resolve();
    }),
  );
  let url = '';
  const server: BenchServer = {
    kind,
    get url() {
      return url;
    },
    pid: child.pid ?? -1,
    usage: () => readUsage(child.pid ?? -1),
    async heapBytes() {
      if (kind === 'reference') return ((await (await fetch(`${url}/heap`)).json()) as { heapUsed: number }).heapUsed;
      return metric(url, 'nodejs_heap_size_used_bytes');
    },
    logBytes: () => statSync(logFile).size,
    async stop(graceMs = 8000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      rmSync(logFile, { force: true });
    },
  };
  /** Resolves with the port the server says it listens on (`"port":N` in the product's JSON log, the reference's line). */
  const listening = async (): Promise<void> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const log = readFileSync(logFile, 'utf8');
      const port = /"port":(\d+)/.exec(log)?.[1] ?? /reference listening on [^:]+:(\d+)/.exec(log)?.[1];
      if (port !== undefined && port !== '0') {
        url = `http://127.0.0.1:${port}`;
        return;
      }
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the ${kind} did not start listening; log: ${log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { server, child, logFile, listening };
}

async function ready(started: ReturnType<typeof launch>, path: string): Promise<BenchServer> {
  try {
    await started.listening();
    await waitForOk(`${started.server.url}${path}`, 30_000);
  } catch (err) {
    started.child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; log: ${readFileSync(started.logFile, 'utf8').slice(-2000)}`);
  }
  return started.server;
}

export interface ProductOptions {
  env?: Record<string, string>;
  /** Run under `--cpu-prof` (and `--heap-prof`), writing into this folder. */
  profileDir?: string;
  heapProfile?: boolean;
}

/** Node's arguments for `script`, under the profilers when asked. */
function nodeArgs(script: string, options: ProductOptions): string[] {
  if (options.profileDir === undefined) return [script];
  mkdirSync(options.profileDir, { recursive: true });
  return [
    '--cpu-prof',
    '--cpu-prof-dir',
    options.profileDir,
    ...(options.heapProfile === true ? ['--heap-prof', '--heap-prof-dir', options.profileDir] : []),
    script,
  ];
}

export async function startProduct(options: ProductOptions = {}): Promise<BenchServer> {
  return ready(launch('product', nodeArgs('dist/main.js', options), productEnv(options.env)), '/readyz');
}

/** The reference; `env` and the cluster options do not apply (it has none), the profilers do. */
export async function startReference(options: ProductOptions = {}): Promise<BenchServer> {
  const env = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    JWT_SECRET: BENCH_JWT_SECRET,
    INSTAGRAM_APP_SECRET: BENCH_APP_SECRET,
    ...options.env,
  };
  return ready(launch('reference', nodeArgs(REFERENCE_BUNDLE, options), env), '/healthz');
}

export function startServer(kind: ServerKind, options: ProductOptions = {}): Promise<BenchServer> {
  return kind === 'product' ? startProduct(options) : startReference(options);
}

/** One sample of the product's Prometheus text (first series of that name). */
export async function metric(url: string, name: string): Promise<number> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
}
