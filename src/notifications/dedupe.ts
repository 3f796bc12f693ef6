import { LRUCache } from 'lru-cache';

/**
 * Which notification ids were already delivered. A delivery claims its id first (atomically: two concurrent
 * deliveries of one id, on one process or several, cannot both win), commits it once the notification was handed to
 * delivery, and releases it on failure, so that a failure in between never swallows an event (SPEC, Webhook
 * ingestion 5). Asynchronous so that a shared (Redis) store can implement it.
 */
export interface DedupeStore {
  /**
   * `claimed` when the id was neither delivered within the window nor being delivered: the caller now owns it;
   * `delivered`: it was; `pending`: another delivery holds it (it may still fail and release it).
   */
  claim(id: string): Promise<ClaimResult>;
  /** The claimed id's notification was handed to delivery: remember it for the whole window. */
  commit(id: string): Promise<void>;
  /** Delivery failed: forget the claim, so that Meta's retry delivers. */
  release(id: string): Promise<void>;
}

export type ClaimResult = 'claimed' | 'delivered' | 'pending';

const PENDING = 0;
const DELIVERED = 1;

/** In-process store: bounded in number (oldest forgotten first) and in age (`ttlMs`). */
export class MemoryDedupeStore implements DedupeStore {
  readonly #seen: LRUCache<string, typeof PENDING | typeof DELIVERED>;

  constructor(options: { ttlMs: number; maxEntries: number }) {
    // ttlAutopurge stays off: no timer per entry; expired ids are dropped lazily on read or by LRU pressure.
    this.#seen = new LRUCache({ max: options.maxEntries, ttl: options.ttlMs, ttlAutopurge: false });
  }

  async claim(id: string): Promise<ClaimResult> {
    const state = this.#seen.get(id);
    if (state === DELIVERED) return 'delivered';
    if (state === PENDING) return 'pending';
    this.#seen.set(id, PENDING);
    return 'claimed';
  }

  async commit(id: string): Promise<void> {
    // Set again: the window starts when the notification was handed over.
    this.#seen.set(id, DELIVERED);
  }

  async release(id: string): Promise<void> {
    if (this.#seen.get(id) === PENDING) this.#seen.delete(id);
  }
}
