import { randomUUID } from 'node:crypto';
import type { ClaimResult, DedupeStore } from '../notifications/dedupe.js';
import type { RedisClient } from './redis-connection.js';

/** Deletes a claim only if it is still ours (it may have expired and been taken by another delivery). */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** Claims the id (SET NX PX) or tells whether it was delivered or is pending (held by another delivery). */
const CLAIM = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'claimed' end
if redis.call('GET', KEYS[1]) == 'delivered' then return 'delivered' end return 'pending'`;

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

  async claim(id: string): Promise<ClaimResult> {
    const token = `pending:${randomUUID()}`;
    const reply = await this.client.eval(CLAIM, {
      keys: [this.#key(id)],
      arguments: [token, String(Math.min(CLAIM_TTL_MS, this.options.ttlMs))],
    });
    if (reply !== 'claimed') return reply === 'delivered' ? 'delivered' : 'pending';
    this.#claims.set(id, token);
    return 'claimed';
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
