import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { signatureHeader } from '../../src/webhooks/signature.js';
import { startNginx, type AccessLine, type RunningNginx } from './nginx.js';
import { startRedis, type RedisServer } from './redis.js';
import { freePort, spawnServer, TEST_APP_SECRET, testEnv, type SpawnedServer } from './server.js';

/**
 * One instance of the cluster: a fixed port (nginx's upstream list names it), served by one process after another.
 * `generation` counts the processes that have served it.
 */
export interface ClusterInstance {
  readonly index: number;
  readonly port: number;
  /** The instance itself, bypassing nginx (metrics, readiness). */
  readonly url: string;
  /** `127.0.0.1:<port>`: how nginx's access log names it. */
  readonly upstream: string;
  readonly generation: number;
  readonly running: boolean;
  /** What the current (or last) process wrote. */
  output(): string;
}

interface Slot {
  index: number;
  port: number;
  url: string;
  upstream: string;
  generation: number;
  process: SpawnedServer | undefined;
}

/** An HTTP exchange from a chosen client address (the Linux loopback answers the whole 127/8). */
export function httpFrom(
  localAddress: string,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: Buffer; timeoutMs?: number } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers, localAddress, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.setTimeout(init.timeoutMs ?? 10_000, () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Polls a condition no event announces (a log line, an admin listing), bounded in time. */
export async function eventually<T>(
  read: () => Promise<T | undefined> | T | undefined,
  what: string,
  ms = 5000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * The scale-out deployment for real: the compiled server (`dist/main.js`) `instances` times in cluster mode on one
 * real redis-server, behind a real nginx serving deploy/nginx's template (`hash $remote_addr consistent`). Every
 * instance keeps its port across restarts, as a pod behind a fixed upstream list does, so that nginx finds it again.
 * Processes are ended by pid only.
 */
export class NginxCluster {
  #nginx: RunningNginx | undefined;

  private constructor(
    readonly redis: RedisServer,
    private readonly slots: Slot[],
    private readonly env: Record<string, string>,
  ) {}

  /**
   * `serverParameters`: appended to each upstream `server` line, as an operator would write them into
   * INSTANTCHAT_UPSTREAM (`max_fails=0`, `fail_timeout=2s`); none by default, as README shows the variable.
   */
  static async start(options: { instances: number; env?: Record<string, string>; serverParameters?: string }): Promise<NginxCluster> {
    const redis = await startRedis();
    const slots: Slot[] = [];
    for (let index = 0; index < options.instances; index++) {
      const port = await freePort();
      slots.push({ index, port, url: `http://127.0.0.1:${port}`, upstream: `127.0.0.1:${port}`, generation: 0, process: undefined });
    }
    const cluster = new NginxCluster(
      redis,
      slots,
      testEnv({
        REDIS_URL: redis.url,
        // Exactly nginx's address: the instances read the client's from the X-Forwarded-For nginx appends.
        TRUST_PROXY: '127.0.0.1',
        // Clients come through nginx from addresses of their own (127.0.0.x): the default per-address budget.
        CONNECT_RATE_LIMIT: undefined,
        LOG_LEVEL: 'warn',
        ...options.env,
      }),
    );
    try {
      await Promise.all(slots.map((slot) => cluster.start(slot.index)));
      const parameters = options.serverParameters === undefined ? '' : ` ${options.serverParameters}`;
      cluster.#nginx = await startNginx(slots.map((slot) => `${slot.upstream}${parameters}`));
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  get nginx(): RunningNginx {
    if (this.#nginx === undefined) throw new Error('nginx is not running');
    return this.#nginx;
  }

  get url(): string {
    return this.nginx.url;
  }

  get instances(): ClusterInstance[] {
    return this.slots.map((slot) => ({
      index: slot.index,
      port: slot.port,
      url: slot.url,
      upstream: slot.upstream,
      generation: slot.generation,
      running: slot.process !== undefined,
      output: () => slot.process?.output() ?? '',
    }));
  }

  /** Which instance an access-log `upstream` names (`a, b` when nginx tried several: the last one answered). */
  instanceOfUpstream(upstream: string): number | undefined {
    const last = upstream.split(',').at(-1)?.trim();
    return this.slots.find((slot) => slot.upstream === last)?.index;
  }

  /** Starts a process on the instance's port; resolves once it is ready (Redis connected). */
  async start(index: number): Promise<void> {
    const slot = this.#slot(index);
    if (slot.process !== undefined) throw new Error(`instance ${index} is running`);
    // The instance keeps the port nginx knows.
    try {
      slot.process = await spawnServer(this.env, { port: slot.port, waitFor: '/readyz', waitTimeoutMs: 20_000 });
    } catch (err) {
      throw new Error(`instance ${index} did not become ready: ${err instanceof Error ? err.message : String(err)}`);
    }
    slot.generation++;
  }

  /** SIGKILL: the process is gone at once, sockets and requests with it; resolves once it has exited. */
  async kill(index: number): Promise<void> {
    await this.#end(index, 'SIGKILL');
  }

  /** SIGTERM: the graceful drain (`server_shutdown` to every socket); resolves once it has exited. */
  async stopGracefully(index: number): Promise<{ code: number | null }> {
    return this.#end(index, 'SIGTERM');
  }

  /**
   * The instance nginx sends `address` to now: a tagged `/healthz` request from it, and nginx's access log line of
   * that request (the last upstream tried, the one that answered).
   */
  async upstreamOf(address: string): Promise<number | undefined> {
    const requestId = `probe-${randomUUID()}`;
    await httpFrom(address, `${this.url}/healthz`, { headers: { 'x-request-id': requestId } });
    const line = await eventually(() => this.nginx.accessLog().find((l) => l.request_id === requestId), `nginx's line of ${requestId}`);
    return this.instanceOfUpstream(line.upstream);
  }

  /**
   * Resolves once nginx passes requests from `probe` (an address hashed to `index`) to that instance: after a refused
   * connection nginx leaves an instance out for `fail_timeout` (10 s unless the `server` line says otherwise), and
   * tries it again only then. Returns how long that took.
   */
  async awaitRotation(index: number, probe: string, ms = 30_000): Promise<number> {
    const started = Date.now();
    await eventually(async () => ((await this.upstreamOf(probe)) === index ? true : undefined), `nginx passing requests to instance ${index} again`, ms, 250);
    return Date.now() - started;
  }

  /** Client addresses 127.0.0.<from..> sorted by the instance nginx hashes them to, `perInstance` each (bounded). */
  async addressesByInstance(perInstance: number, from = 2): Promise<string[][]> {
    const byInstance = this.slots.map((): string[] => []);
    for (let host = from; host < 250 && byInstance.some((list) => list.length < perInstance); host++) {
      const address = `127.0.0.${host}`;
      const index = await this.upstreamOf(address);
      if (index !== undefined && (byInstance[index]?.length ?? perInstance) < perInstance) byInstance[index]?.push(address);
    }
    for (const [index, list] of byInstance.entries()) {
      if (list.length < perInstance) throw new Error(`only ${list.length} client addresses hash to instance ${index}`);
    }
    return byInstance;
  }

  /**
   * The running instances with an open socket connection (either transport), read from each instance's own
   * `instantchat_active_connections` gauge: Prometheus scrapes instances one by one, so the series is per process
   * (the admin API's list covers every instance in cluster mode and would not say which). An instance that cannot
   * answer (killed, starting) is left out.
   */
  async instancesWithConnections(): Promise<number[]> {
    const holding: number[] = [];
    for (const slot of this.slots) {
      if (slot.process === undefined) continue;
      try {
        const res = await fetch(`${slot.url}/metrics`, { signal: AbortSignal.timeout(3000) });
        if (!res.ok) continue;
        const open = (await res.text())
          .split('\n')
          .filter((line) => line.startsWith('instantchat_active_connections{'))
          .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
        if (open > 0) holding.push(slot.index);
      } catch {
        // not answering: it holds nobody we can reach
      }
    }
    return holding;
  }

  /**
   * The one instance holding the (single) client's connection, once exactly one instance has one (bounded): the
   * tests that use it have one client at a time. A drained or reset connection leaves its instance's gauge at once;
   * until then this waits.
   */
  locate(ms = 8000): Promise<number> {
    return eventually(async () => {
      const holding = await this.instancesWithConnections();
      return holding.length === 1 ? holding[0] : undefined;
    }, 'exactly one instance with an open connection', ms);
  }

  /**
   * A signed webhook POSTed through nginx from `from`, as Meta would send it: the status, or 0 when no answer came
   * (the connection failed or nothing came within `timeoutMs`).
   */
  async postWebhook(from: string, event: Record<string, unknown>, timeoutMs = 5000): Promise<number> {
    const body = Buffer.from(JSON.stringify(event));
    try {
      const res = await httpFrom(from, `${this.url}/api/webhooks/instagram`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signatureHeader(body, TEST_APP_SECRET) },
        body,
        timeoutMs,
      });
      return res.status;
    } catch {
      return 0;
    }
  }

  /** nginx's access log lines of one client address, oldest first. */
  linesOf(address: string): AccessLine[] {
    return this.nginx.accessLog().filter((line) => line.client === address);
  }

  async stop(): Promise<void> {
    await this.#nginx?.stop();
    await Promise.all(this.slots.map((slot) => this.#end(slot.index, 'SIGKILL')));
    await this.redis.stop();
  }

  async #end(index: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<{ code: number | null }> {
    const slot = this.#slot(index);
    const running = slot.process;
    slot.process = undefined;
    if (running === undefined) return { code: null };
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill(signal);
    // A graceful stop is bounded by SHUTDOWN_TIMEOUT_MS (10 s by default); past a little more, it is a failure.
    const timer = setTimeout(() => running.child.kill('SIGKILL'), 15_000);
    const exit = await running.exited;
    clearTimeout(timer);
    return { code: exit.code };
  }

  #slot(index: number): Slot {
    const slot = this.slots[index];
    if (slot === undefined) throw new Error(`no instance ${index}`);
    return slot;
  }
}
