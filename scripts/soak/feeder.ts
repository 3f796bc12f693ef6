import { readFileSync, readdirSync } from 'node:fs';
import { normalizeWebhook } from '../../src/notifications/normalize/index.js';
import { signatureHeader } from '../../src/webhooks/signature.js';

/** The two Instagram accounts the shared fixtures are about; soak tokens are entitled to both. */
export const ACCOUNTS = ['17841405822304914', '17841463390127785'];

const FIXTURE_DIR = new URL('../../test/fixtures/instagram/', import.meta.url);

/** Keys whose string values identify an item: changed per POST so that no notification is a duplicate of another. */
const ID_KEYS = new Set(['id', 'mid', 'comment_id', 'media_id']);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A real fixture envelope made unique: every item id (and item timestamp, which digest-built ids depend on) gets `seq`
 * appended or added; the entries' account ids stay, so that the notifications are about the fixtures' accounts.
 */
function uniquify(value: Json, seq: number, depth = 0): Json {
  if (Array.isArray(value)) return value.map((v) => uniquify(v, seq, depth + 1));
  if (value === null || typeof value !== 'object') return value;
  const out: { [key: string]: Json } = {};
  // depth 2 is an entry object (root → entry array → entry): its `id` is the account.
  for (const [key, v] of Object.entries(value)) {
    if (depth !== 2 && ID_KEYS.has(key) && typeof v === 'string') out[key] = `${v}${seq}`;
    else if (key === 'timestamp' && typeof v === 'number') out[key] = v + seq;
    else out[key] = uniquify(v, seq, depth + 1);
  }
  return out;
}

export interface Expected {
  /** `eventType:id`, as clients record deliveries. */
  readonly key: string;
  readonly accountId: string;
}

/** Notification keys (`eventType:id`) of a body, for the soak accounts, as the product's own normalizer makes them. */
function expectedOf(body: unknown): Expected[] {
  return normalizeWebhook(body, new Date())
    .notifications.filter((n) => ACCOUNTS.includes(n.accountId))
    .map((n) => ({ key: `${n.eventType}:${n.id}`, accountId: n.accountId }));
}

/**
 * The fixture envelopes usable for a soak: those that give at least one notification for the soak accounts and whose
 * ids change with `seq` (two variants share no id), so that every POST delivers new notifications.
 */
export function loadFixtures(): Array<{ name: string; body: Json }> {
  const usable: Array<{ name: string; body: Json }> = [];
  for (const name of readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.json')).sort()) {
    const body = JSON.parse(readFileSync(new URL(name, FIXTURE_DIR), 'utf8')) as Json;
    const a = expectedOf(uniquify(body, 1)).map((e) => e.key);
    const b = new Set(expectedOf(uniquify(body, 2)).map((e) => e.key));
    if (a.length > 0 && a.every((key) => !b.has(key)) && new Set(a).size === a.length) usable.push({ name, body });
  }
  return usable;
}

export interface FeederStats {
  posts: number;
  accepted: number;
  failed: number;
  /** Failures by status (or error name), for the report. */
  failures: Record<string, number>;
}

/**
 * Posts signed, unique fixture envelopes at a steady rate to the instances in turn, and records the notifications
 * each accepted POST carries (in the order they were answered), for the delivery ledger.
 */
export class WebhookFeeder {
  readonly stats: FeederStats = { posts: 0, accepted: 0, failed: 0, failures: {} };
  /** Every notification of an accepted POST, in answer order. */
  readonly expected: Expected[] = [];
  #seq = Math.floor(Date.now() / 1000) % 100_000;
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #fixtures = loadFixtures();

  constructor(
    private readonly urls: readonly string[],
    private readonly appSecret: string,
    private readonly postsPerSecond: number,
  ) {
    if (this.#fixtures.length === 0) throw new Error('no usable fixture envelope');
  }

  get fixtureNames(): string[] {
    return this.#fixtures.map((f) => f.name);
  }

  start(): void {
    this.#timer = setInterval(() => {
      // Bounded: a slow server makes the feeder skip ticks rather than pile up requests.
      if (this.#inFlight.size >= 20) return;
      const post = this.#postOne().finally(() => this.#inFlight.delete(post));
      this.#inFlight.add(post);
    }, 1000 / this.postsPerSecond);
  }

  /** Stops posting and waits for the POSTs in flight. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all([...this.#inFlight]);
  }

  async #postOne(): Promise<void> {
    const seq = ++this.#seq;
    const fixture = this.#fixtures[seq % this.#fixtures.length] as { body: Json };
    const body = uniquify(fixture.body, seq);
    const bytes = Buffer.from(JSON.stringify(body));
    const expected = expectedOf(body);
    const url = this.urls[seq % this.urls.length] as string;
    this.stats.posts += 1;
    try {
      const res = await fetch(`${url}/api/webhooks/instagram`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signatureHeader(bytes, this.appSecret) },
        body: bytes,
        signal: AbortSignal.timeout(10_000),
      });
      await res.text();
      if (res.status === 200) {
        this.stats.accepted += 1;
        this.expected.push(...expected);
        return;
      }
      this.#fail(String(res.status));
    } catch (err) {
      this.#fail(err instanceof Error ? err.name : 'error');
    }
  }

  #fail(why: string): void {
    this.stats.failed += 1;
    this.stats.failures[why] = (this.stats.failures[why] ?? 0) + 1;
  }
}
