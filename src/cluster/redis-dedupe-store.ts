import { randomUUID } from 'node:crypto';
import type { DedupeStore } from '../notifications/dedupe.js';
import type { RedisClient } from './redis-connection.js';

/** Deletes a claim only if it is still ours (it may have expired and been taken by another delivery). */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** How long a claim may stay pending (a process that died mid-delivery) before another delivery may take it. */
const CLAIM_TTL_MS = 30_000;

/**
 * Dedupe shared by every process: one key per id, claimed with SET NX (atomic across processes) and kept for the
 * window with a TTL. Bounded by the TTL; `DEDUPE_MAX_ENTRIES` applies to the in-process store only (size Redis with
 * `maxmemory` and `volatile-ttl` eviction).
 */
export class RedisDedupeStore implements DedupeStore {
  /** This process's pending claims: id → the token its claim holds. */
  readonly #claims = new Map<string, string>();

  constructor(
    private readonly client: RedisClient,
    private readonly options: { ttlMs: number; prefix: string },
  ) {}

  async claim(id: string): Promise<boolean> {
    const token = `pending:${randomUUID()}`;
    const reply = await this.client.set(this.#key(id), token, {
      condition: 'NX',
      expiration: { type: 'PX', value: Math.min(CLAIM_TTL_MS, this.options.ttlMs) },
    });
    if (reply !== 'OK') return false;
    this.#claims.set(id, token);
    return true;
  }

  async commit(id: string): Promise<void> {
    this.#claims.delete(id);
    await this.client.set(this.#key(id), 'delivered', { expiration: { type: 'PX', value: this.options.ttlMs } });
  }

  async release(id: string): Promise<void> {
    const token = this.#claims.get(id);
    this.#claims.delete(id);
    if (token !== undefined) await this.client.eval(RELEASE, { keys: [this.#key(id)], arguments: [token] });
  }

  #key(id: string): string {
    return `${this.options.prefix}dedupe:${id}`;
  }
}
