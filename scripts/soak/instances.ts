import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { freePort, spawnServer, type SpawnedServer } from '../../test/helpers/server.js';

/** Real secrets, new for each soak (production refuses the development ones and HS256 secrets under 32 characters). */
export const SECRETS = {
  jwt: randomBytes(24).toString('hex'),
  app: randomBytes(16).toString('hex'),
  verify: randomBytes(8).toString('hex'),
  admin: randomBytes(16).toString('hex'),
};

/** Bytes of server output kept for the report when something fails (the rest is dropped). */
const KEPT_OUTPUT = 64 * 1024;

export interface Instance {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
  /** A full garbage collection in the server, through its inspector (so that heap samples compare like with like). */
  collectGarbage(): Promise<void>;
  /** Parsed `/metrics`: `name{labels}` → value. */
  scrape(): Promise<Map<string, number>>;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface InstanceSettings {
  readonly recoveryWindowMs: number;
  readonly authTimeoutMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly redisUrl?: string;
}

/**
 * Starts `node dist/main.js` as production runs it (NODE_ENV=production, real secrets), on a free port of 127.0.0.1,
 * with its inspector on another (127.0.0.1 only) for forced GCs, and waits until `/readyz` answers 200.
 */
export async function startInstance(name: string, settings: InstanceSettings): Promise<Instance> {
  const inspectPort = await freePort();
  let server: SpawnedServer;
  try {
    server = await spawnServer(
      {
        NODE_ENV: 'production',
        JWT_SECRET: SECRETS.jwt,
        INSTAGRAM_APP_SECRET: SECRETS.app,
        INSTAGRAM_WEBHOOK_VERIFY_TOKEN: SECRETS.verify,
        ADMIN_TOKEN: SECRETS.admin,
        // Every soak client comes from 127.0.0.1.
        CONNECT_RATE_LIMIT: '0',
        MAX_CONNECTIONS_PER_USER: '50',
        AUTH_TIMEOUT_MS: String(settings.authTimeoutMs),
        HEARTBEAT_TIMEOUT_MS: String(settings.heartbeatTimeoutMs),
        HEARTBEAT_SWEEP_MS: '5000',
        RECOVERY_WINDOW_MS: String(settings.recoveryWindowMs),
        // Low enough that the soak reaches the bound and shows that dedupe memory stops growing there.
        DEDUPE_MAX_ENTRIES: '5000',
        LOG_LEVEL: 'warn',
        SHUTDOWN_DELAY_MS: '0',
        ...(settings.redisUrl !== undefined && { REDIS_URL: settings.redisUrl }),
      },
      {
        nodeArgs: [`--inspect=127.0.0.1:${inspectPort}`],
        waitFor: '/readyz',
        waitTimeoutMs: 20_000,
        keptOutput: KEPT_OUTPUT,
      },
    );
  } catch (err) {
    throw new Error(`${name} did not become ready: ${(err as Error).message}`);
  }
  const { child, url } = server;
  return {
    name,
    url,
    child,
    output: server.output,
    collectGarbage: () => inspectorGc(inspectPort),
    scrape: async () => parseMetrics(await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const { code, signal } = await server.exited;
      clearTimeout(timer);
      return { code, signal };
    },
  };
}

/** `name{labels} value` lines → map (comments and histograms' buckets included as they come). */
export function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** Sum of every series of `name` (all label sets). */
export function sumOf(metrics: Map<string, number>, name: string): number {
  let sum = 0;
  for (const [key, value] of metrics) if (key === name || key.startsWith(`${name}{`)) sum += value;
  return sum;
}

/** `HeapProfiler.collectGarbage` over the inspector's WebSocket (DevTools protocol). */
async function inspectorGc(port: number): Promise<void> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  const target = targets[0]?.webSocketDebuggerUrl;
  if (target === undefined) throw new Error('no inspector target');
  const ws = new WebSocket(target);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('inspector GC timed out')), 15_000);
      ws.once('error', reject);
      ws.once('open', () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })));
      ws.on('message', (data) => {
        if ((JSON.parse(data.toString()) as { id?: number }).id === 1) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    ws.terminate();
  }
}
