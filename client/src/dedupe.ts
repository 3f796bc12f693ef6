import type { Notification } from './protocol.js';

/**
 * What makes a notification the same one (SPEC): its account, type and id. An id alone is not enough: a comment on
 * one account that mentions another is two notifications with one id (`comments` there, `mentions` here).
 */
export const notificationKey = (n: Pick<Notification, 'accountId' | 'eventType' | 'id'>): string =>
  JSON.stringify([n.accountId, n.eventType, n.id]);

/**
 * The most recent keys, at most `max` of them, least recently seen forgotten first. A Map keeps insertion order, so
 * deleting and re-inserting a key on every sighting makes its first entry the least recently seen: an LRU in a few
 * lines, with nothing added to the browser bundle (lru-cache would add ~15 KB for TTLs and sizes we do not need).
 */
export class RecentKeys {
  readonly #keys = new Map<string, true>();

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('RecentKeys: max must be a positive integer');
  }

  get size(): number {
    return this.#keys.size;
  }

  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /** Remembers `key`; true when it was not remembered yet. */
  add(key: string): boolean {
    const seen = this.#keys.delete(key);
    this.#keys.set(key, true);
    if (this.#keys.size > this.max) {
      const oldest = this.#keys.keys().next();
      if (oldest.done !== true) this.#keys.delete(oldest.value);
    }
    return !seen;
  }
}
