import { LRUCache } from 'lru-cache';

/**
 * Remembers notification ids already delivered. Asynchronous so that a shared (Redis) store can implement it.
 * An id is remembered only after its notification was handed to delivery (SPEC, Webhook ingestion 5).
 */
export interface DedupeStore {
  has(id: string): Promise<boolean>;
  remember(id: string): Promise<void>;
  close?(): Promise<void>;
}

/** In-process store: bounded in number (oldest forgotten first) and in age (`ttlMs`). */
export class MemoryDedupeStore implements DedupeStore {
  readonly #seen: LRUCache<string, true>;

  constructor(options: { ttlMs: number; maxEntries: number }) {
    // ttlAutopurge stays off: no timers per entry; expired ids are dropped lazily on read or by LRU pressure.
    this.#seen = new LRUCache({ max: options.maxEntries, ttl: options.ttlMs, ttlAutopurge: false });
  }

  async has(id: string): Promise<boolean> {
    return this.#seen.has(id);
  }

  async remember(id: string): Promise<void> {
    this.#seen.set(id, true);
  }

  get size(): number {
    return this.#seen.size;
  }
}
