import { LRUCache } from 'lru-cache';
import { ALL_ACCOUNTS, type Entitlement } from '../auth/claims.js';
import type { Notification } from './notification.js';

export interface HistoryQuery {
  /** Accounts the asker may see (entitlement, possibly narrowed by the request). */
  readonly accounts: Entitlement;
  readonly eventTypes?: readonly string[];
  /** Id of the last notification the client has; answer what came after it. */
  readonly since?: string;
  readonly limit: number;
}

export interface HistoryPage {
  readonly events: Notification[];
  /** False when `since` is no longer kept: the client may have missed notifications. */
  readonly complete: boolean;
}

/** Recent notifications per Instagram account, for `get_history`. Asynchronous so that Redis can implement it. */
export interface HistoryStore {
  record(notification: Notification): void | Promise<void>;
  query(query: HistoryQuery): Promise<HistoryPage>;
}

interface Entry {
  readonly seq: number;
  readonly notification: Notification;
}

/**
 * In-process history: a bounded ring per account (`size`), accounts bounded in number (`maxAccounts`, least recently
 * active forgotten first). A global sequence number keeps arrival order across accounts.
 */
export class MemoryHistoryStore implements HistoryStore {
  readonly #size: number;
  readonly #rings: LRUCache<string, Entry[]>;
  /** id → entry of every kept notification, to resolve `since`. */
  readonly #byId = new Map<string, Entry>();
  #seq = 0;

  constructor(options: { size: number; maxAccounts: number }) {
    this.#size = options.size;
    this.#rings = new LRUCache({
      max: options.maxAccounts,
      dispose: (ring) => {
        for (const entry of ring) this.#forget(entry);
      },
    });
  }

  record(notification: Notification): void {
    const entry: Entry = { seq: ++this.#seq, notification };
    let ring = this.#rings.get(notification.accountId);
    if (ring === undefined) {
      ring = [];
      this.#rings.set(notification.accountId, ring);
    }
    ring.push(entry);
    if (ring.length > this.#size) this.#forget(ring.shift());
    this.#byId.set(notification.id, entry);
  }

  async query(query: HistoryQuery): Promise<HistoryPage> {
    const types = query.eventTypes === undefined ? undefined : new Set(query.eventTypes);
    const visible = (entry: Entry) =>
      (types === undefined || types.has(entry.notification.eventType)) &&
      (query.accounts === ALL_ACCOUNTS || query.accounts.includes(entry.notification.accountId));

    let afterSeq: number | undefined;
    let complete = true;
    if (query.since !== undefined) {
      const anchor = this.#byId.get(query.since);
      // An anchor the asker may not see counts as unknown: history must not reveal other accounts' ids.
      if (anchor !== undefined && (query.accounts === ALL_ACCOUNTS || query.accounts.includes(anchor.notification.accountId))) {
        afterSeq = anchor.seq;
      } else {
        complete = false;
        afterSeq = 0;
      }
    }

    // Each ring is sorted by seq: take at most `limit` candidates from each, then merge.
    const candidates: Entry[] = [];
    for (const ring of this.#ringsFor(query.accounts)) {
      const matching = ring.filter((e) => visible(e) && (afterSeq === undefined || e.seq > afterSeq));
      candidates.push(...(afterSeq === undefined ? matching.slice(-query.limit) : matching.slice(0, query.limit)));
    }
    candidates.sort((a, b) => a.seq - b.seq);
    const page = afterSeq === undefined ? candidates.slice(-query.limit) : candidates.slice(0, query.limit);
    return { events: page.map((e) => e.notification), complete };
  }

  /** Number of accounts with kept notifications. */
  get accountCount(): number {
    return this.#rings.size;
  }

  *#ringsFor(accounts: Entitlement): Iterable<Entry[]> {
    if (accounts === ALL_ACCOUNTS) {
      // `values()` does not touch recency; reading history is not account activity.
      yield* this.#rings.values();
      return;
    }
    for (const id of new Set(accounts)) {
      const ring = this.#rings.peek(id);
      if (ring !== undefined) yield ring;
    }
  }

  #forget(entry: Entry | undefined): void {
    if (entry !== undefined && this.#byId.get(entry.notification.id) === entry) this.#byId.delete(entry.notification.id);
  }
}
