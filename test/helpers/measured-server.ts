import { spawnServer, waitForOk, type SpawnedServer } from './process.js';
import { readUsage, type ProcessUsage } from './process-usage.js';
import { TEST_APP_SECRET, TEST_JWT_SECRET, TEST_VERIFY_TOKEN } from './server.js';

/** Bearer token of the admin API on servers started here (`POST /api/admin/events`, `GET /api/admin/clients`). */
export const MEASURED_ADMIN_TOKEN = 'measured-server-admin-token';

export interface MeasuredServer {
  readonly url: string;
  readonly pid: number;
  readonly proc: SpawnedServer;
  /** The server process's CPU and memory now. */
  usage(): ProcessUsage;
  /** True while the process runs (it never exited, by crash or otherwise). */
  alive(): boolean;
  /** What the process printed (logs at `LOG_LEVEL`, crash traces). */
  output(): string;
  /** Kills the process (SIGKILL: these servers are measured, not drained) and waits for its exit. */
  stop(): Promise<void>;
}

/**
 * The compiled server (`dist/main.js`) in its own process, so that what a client makes it spend is measured on that
 * process alone (test clients run in the test's process). Test secrets (tokens from `mintToken`, webhooks from
 * `postFlat` are valid), the admin API on, the per-IP connect limit lifted (every test socket comes from 127.0.0.1).
 */
export async function startMeasuredServer(env: Record<string, string> = {}): Promise<MeasuredServer> {
  const proc = await spawnServer({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    INSTAGRAM_APP_SECRET: TEST_APP_SECRET,
    INSTAGRAM_WEBHOOK_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
    ADMIN_TOKEN: MEASURED_ADMIN_TOKEN,
    CONNECT_RATE_LIMIT: '0',
    // Warnings and errors only: what a server logs per event is part of what it costs, but the test keeps the
    // whole output in memory.
    LOG_LEVEL: 'warn',
    ...env,
  });
  const pid = proc.child.pid;
  if (pid === undefined) throw new Error('the server process did not start');
  const alive = () => proc.child.exitCode === null && proc.child.signalCode === null;
  try {
    await waitForOk(`${proc.url}/healthz`);
  } catch (err) {
    if (alive()) proc.child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; output: ${proc.output()}`);
  }
  return {
    url: proc.url,
    pid,
    proc,
    usage: () => readUsage(pid),
    alive,
    output: proc.output,
    async stop() {
      if (alive()) proc.child.kill('SIGKILL');
      await proc.exited;
    },
  };
}

/** `GET /api/admin/clients` of a measured server: one entry per live connection. */
export async function connectedClients(url: string): Promise<{ userId: string | null; transport: string }[]> {
  const res = await fetch(`${url}/api/admin/clients`, { headers: { authorization: `Bearer ${MEASURED_ADMIN_TOKEN}` } });
  if (res.status !== 200) throw new Error(`GET /api/admin/clients answered ${res.status}`);
  return ((await res.json()) as { clients: { userId: string | null; transport: string }[] }).clients;
}

/** Publishes one flat-shape notification through `POST /api/admin/events`; resolves once it was accepted (202). */
export async function publishAsAdmin(url: string, event: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${url}/api/admin/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${MEASURED_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(event),
  });
  if (res.status !== 202) throw new Error(`POST /api/admin/events answered ${res.status}: ${await res.text()}`);
}
