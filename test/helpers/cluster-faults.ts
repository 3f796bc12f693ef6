import { signatureHeader } from '../../src/webhooks/signature.js';
import type { SdkRecorder } from './sdk-client.js';
import { freePort, spawnServer, TEST_APP_SECRET, testEnv, type SpawnedServer } from './server.js';
import { mintToken } from './tokens.js';
import { flatEvent } from './webhooks.js';
import { WsTestClient } from './ws-client.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One spawned instance (`node dist/main.js`) on a port of its own, which a restart keeps. */
export class Instance {
  server: SpawnedServer | undefined;

  private constructor(
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {}

  static async start(redisUrl: string, env: Record<string, string> = {}): Promise<Instance> {
    const instance = new Instance(
      await freePort(),
      testEnv({ REDIS_URL: redisUrl, MAX_CONNECTIONS_PER_USER: '50', HISTORY_SIZE: '2000', LOG_LEVEL: 'silent', ...env }),
    );
    await instance.restart();
    return instance;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    this.server = await spawnServer(this.env, { port: this.port, waitFor: '/readyz', waitTimeoutMs: 15_000 });
  }

  /** SIGKILL, by pid; resolves once it exited. */
  async kill(): Promise<void> {
    await this.server?.stop();
  }

  async stop(): Promise<void> {
    await this.server?.stop({ graceful: true });
  }
}

export interface SentWebhook {
  readonly id: string;
  /** Every answer, in order (0: no answer in time, or no connection). */
  readonly statuses: number[];
  readonly answered200: boolean;
}

/**
 * Meta's webhook delivery, as far as a fault test needs it: a new signed webhook every `intervalMs`, each POSTed to
 * the instances in turn (a load balancer's choice), and retried with the same body on a non-2xx answer or after
 * `timeoutMs` without one, until it is answered 200 (bounded in attempts and time).
 */
export class MetaSender {
  readonly sent: SentWebhook[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #count = 0;

  constructor(
    private readonly urls: () => readonly string[],
    private readonly accountId: string,
    private readonly options = { intervalMs: 50, timeoutMs: 3000, retryDelayMs: 250, maxAttempts: 60, maxRetryMs: 25_000 },
  ) {}

  start(): void {
    this.#timer ??= setInterval(() => void this.send(), this.options.intervalMs);
  }

  /** Stops the stream and waits for every webhook of it to be answered 200 or given up. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.all([...this.#inFlight]);
  }

  /** Sends one webhook (retried as Meta would); resolves with its record once answered 200 or given up. */
  send(): Promise<SentWebhook> {
    const index = this.#count++;
    const event = flatEvent({ accountId: this.accountId, comment: { text: `fault stream ${index}` } });
    const body = JSON.stringify(event);
    const record = { id: event.id as string, statuses: [] as number[], answered200: false };
    this.sent.push(record);
    const run = (async () => {
      const until = Date.now() + this.options.maxRetryMs;
      for (let attempt = 0; attempt < this.options.maxAttempts && Date.now() < until; attempt++) {
        const urls = this.urls();
        const url = urls[(index + attempt) % urls.length] as string;
        const status = await post(url, body, this.options.timeoutMs);
        record.statuses.push(status);
        if (status === 200) {
          record.answered200 = true;
          return;
        }
        await sleep(this.options.retryDelayMs);
      }
    })();
    this.#inFlight.add(run);
    return run.then(() => {
      this.#inFlight.delete(run);
      return record;
    });
  }

  get answered(): string[] {
    return this.sent.filter((s) => s.answered200).map((s) => s.id);
  }

  /** The answers of the webhooks that needed more than one attempt, for reports: `id: 503,200`. */
  retried(): string[] {
    return this.sent.filter((s) => s.statuses.length > 1).map((s) => `${s.id}: ${s.statuses.join(',')}`);
  }
}

async function post(url: string, body: string, timeoutMs: number): Promise<number> {
  try {
    const res = await fetch(`${url}/api/webhooks/instagram`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': signatureHeader(body, TEST_APP_SECRET) },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * The shared history of one account, paged with `get_history {since}` from `since` (a notification answered before
 * the test's faults) to its end, over a raw WebSocket to `url`. Retries while the cluster answers `unavailable`.
 */
export async function readHistory(
  url: string,
  claims: { userId: string; accountIds: string[] },
  since: string,
): Promise<{ ids: string[]; complete: boolean }> {
  const client = new WsTestClient(url);
  try {
    await client.opened();
    client.send({ type: 'authenticate', token: mintToken(claims, { expiresIn: 600 }), userId: claims.userId });
    await client.next('auth_success', 5000);
    const ids: string[] = [];
    let cursor = since;
    let complete = true;
    for (let page = 0; page < 100; page++) {
      client.send({ type: 'get_history', since: cursor, limit: 100 });
      const answer = await Promise.race([client.next('history', 10_000), client.next('error', 10_000)]);
      if (answer.type === 'error') {
        await sleep(200);
        continue;
      }
      const events = answer.events as { id: string }[];
      complete &&= answer.complete === true;
      for (const event of events) ids.push(event.id);
      if (events.length < 100) return { ids, complete };
      cursor = events.at(-1)?.id as string;
    }
    throw new Error('history did not end within 100 pages');
  } finally {
    client.close();
  }
}

/** Every notification id the client's connections received in `webhook_event` frames, repeats included. */
export function countFrames(r: SdkRecorder): Map<string, number> {
  const counts = new Map<string, number>();
  r.client.on('frame', ({ direction, data }) => {
    if (direction !== 'in' || !data.includes('webhook_event')) return;
    const match = /"id":"([^"]+)"/.exec(data);
    if (match?.[1] !== undefined) counts.set(match[1], (counts.get(match[1]) ?? 0) + 1);
  });
  return counts;
}

/** Ids that occur more than once. */
export const repeated = (ids: readonly string[]): string[] => {
  const seen = new Set<string>();
  return [...new Set(ids.filter((id) => seen.has(id) || !seen.add(id)))];
};
