import { LRUCache } from 'lru-cache';
import { ALL_ACCOUNTS, isEntitledTo, type Entitlement } from '../notifications/entitlement.js';
import { LatestEntries, mergeLists, type Sequenced } from './history-merge.js';
import type { Notification } from './notification.js';

export interface HistoryQuery {
  /** Accounts to answer about: the asker's entitlement, or the part of it the request names. */
  readonly accounts: Entitlement;
  /**
   * Accounts whose notification ids may serve as `since`: the asker's whole entitlement (default: `accounts`). A
   * request narrowed to one account may still resume from the last id it saw of another entitled account; an id of an
   * account outside this set counts as unknown, so that history never confirms another account's notification ids.
   */
  readonly anchorAccounts?: Entitlement;
  readonly eventTypes?: readonly string[];
  /** Id of the last notification the client has; answer what came after it. */
  readonly since?: string;
  /** Most events answered; the caller validates and clamps it. */
  readonly limit: number;
}

export interface HistoryPage {
  readonly events: Notification[];
  /** False when `since` is no longer kept: the client may have missed notifications. */
  readonly complete: boolean;
}

/** Recent notifications per Instagram account, for `get_history`. Asynchronous so that Redis can implement it. */
export interface HistoryStore {
  /**
   * Keeps a notification. Idempotent: one already kept (same id, account and event type) is left where it is, so that
   * a publish retried after a lost answer does not keep it twice.
   */
  record(notification: Notification): void | Promise<void>;
  query(query: HistoryQuery): Promise<HistoryPage>;
}

/** A kept notification and its place in arrival order (a sequence shared by every account). */
export interface Entry extends Sequenced {
  readonly notification: Notification;
}

/** One account's kept notifications, oldest first, and the same entries split by event type (for filtered reads). */
interface Ring {
  readonly entries: Entry[];
  readonly byType: Map<string, Entry[]>;
}

/**
 * In-process history: a bounded ring per account (`size`), accounts bounded in number (`maxAccounts`, least recently
 * active forgotten first). A global sequence number keeps arrival order across accounts.
 *
 * A query costs O(accounts it may read + limit × log), whatever the filter: each ring is indexed by event type, so a
 * filter never scans entries it does not want; a `*` query walks accounts from the most recently active and stops
 * as soon as older accounts cannot contribute (measured: README, "Limits").
 */
export class MemoryHistoryStore implements HistoryStore {
  readonly #size: number;
  /** Recency is last-record order: only `record` uses `get`; reads `peek` or iterate, which leaves it alone. */
  readonly #rings: LRUCache<string, Ring>;
  /**
   * id → the kept notifications with that id, to resolve `since`. Usually one; a comment on one account that mentions
   * another is two notifications (`comments` there, `mentions` here) with the same id.
   */
  readonly #byId = new Map<string, Entry[]>();
  /**
   * The newest seq each account's ring has dropped, and the newest of the rings forgotten whole: a page after an
   * anchor older than these may lack notifications, and says so (`complete: false`) instead of a silent gap.
   */
  readonly #droppedUpTo = new Map<string, number>();
  #droppedAnywhere = 0;
  #evictedUpTo = 0;
  #seq = 0;

  constructor(options: { size: number; maxAccounts: number }) {
    this.#size = options.size;
    this.#rings = new LRUCache({
      max: options.maxAccounts,
      dispose: (ring, accountId) => {
        for (const entry of ring.entries) this.#forget(entry);
        this.#droppedUpTo.delete(accountId);
        this.#noteDropped(undefined, ring.entries.at(-1)?.seq ?? 0);
      },
    });
  }

  record(notification: Notification): void {
    const { id, accountId, eventType } = notification;
    const kept = this.#byId.get(id);
    if (kept?.some((e) => e.notification.accountId === accountId && e.notification.eventType === eventType)) return;
    const entry: Entry = { seq: ++this.#seq, notification };
    // `get` marks the account as recently active: eviction forgets the accounts that have been quiet longest.
    let ring = this.#rings.get(notification.accountId);
    if (ring === undefined) {
      ring = { entries: [], byType: new Map() };
      this.#rings.set(notification.accountId, ring);
    }
    ring.entries.push(entry);
    const ofType = ring.byType.get(notification.eventType);
    if (ofType === undefined) ring.byType.set(notification.eventType, [entry]);
    else ofType.push(entry);
    if (ring.entries.length > this.#size) {
      // The oldest of the ring is also the oldest of its type.
      const dropped = ring.entries.shift() as Entry;
      const type = dropped.notification.eventType;
      const sameType = ring.byType.get(type);
      sameType?.shift();
      if (sameType?.length === 0) ring.byType.delete(type);
      this.#forget(dropped);
      this.#noteDropped(notification.accountId, dropped.seq);
    }
    const same = this.#byId.get(notification.id);
    if (same === undefined) this.#byId.set(notification.id, [entry]);
    else same.push(entry);
  }

  async query(query: HistoryQuery): Promise<HistoryPage> {
    let afterSeq: number | undefined;
    let complete = true;
    if (query.since !== undefined) {
      // Of the notifications with that id, the oldest the asker may see: a page may repeat one, never skip one.
      const anchorAccounts = query.anchorAccounts ?? query.accounts;
      const anchor = this.#byId.get(query.since)?.find((e) => isEntitledTo(anchorAccounts, e.notification.accountId));
      if (anchor !== undefined) {
        afterSeq = anchor.seq;
      } else {
        // Unknown, forgotten or not the asker's: everything kept may be newer than what the client has.
        complete = false;
        afterSeq = 0;
      }
    }
    if (afterSeq !== undefined && complete && this.#droppedSince(query.accounts, afterSeq)) complete = false;
    if (!(query.limit > 0)) return { events: [], complete };
    const types = query.eventTypes === undefined ? undefined : [...new Set(query.eventTypes)];
    let entries: Entry[];
    if (query.accounts !== ALL_ACCOUNTS) {
      const lists: Entry[][] = [];
      for (const id of new Set(query.accounts)) {
        const ring = this.#rings.peek(id);
        if (ring !== undefined) pushLists(lists, ring, types);
      }
      entries = mergeLists(lists, { afterSeq, limit: query.limit });
    } else if (afterSeq === undefined) {
      // Accounts come most recently active first; one whose newest entry is older than a full page cannot contribute,
      // nor can any after it.
      const latest = new LatestEntries<Entry>(query.limit);
      const lists: Entry[][] = [];
      for (const ring of this.#rings.values()) {
        if (latest.beats(newestSeq(ring))) break;
        lists.length = 0;
        pushLists(lists, ring, types);
        for (const list of lists) latest.offer(list);
      }
      entries = latest.sorted();
    } else {
      // Accounts come most recently active first: only those that recorded after the anchor can hold what follows it.
      const lists: Entry[][] = [];
      for (const ring of this.#rings.values()) {
        if (newestSeq(ring) <= afterSeq) break;
        pushLists(lists, ring, types);
      }
      entries = mergeLists(lists, { afterSeq, limit: query.limit });
    }
    return { events: entries.map((e) => e.notification), complete };
  }

  /** Whether notifications newer than `afterSeq` of these accounts may have been dropped. */
  #droppedSince(accounts: Entitlement, afterSeq: number): boolean {
    if (this.#droppedAnywhere <= afterSeq) return false;
    if (accounts === ALL_ACCOUNTS) return true;
    // A forgotten account's ring is gone with its bookkeeping: any account evicted since the anchor may be one of these.
    if (this.#evictedUpTo > afterSeq) return true;
    return accounts.some((id) => (this.#droppedUpTo.get(id) ?? 0) > afterSeq);
  }

  #noteDropped(accountId: string | undefined, seq: number): void {
    this.#droppedAnywhere = Math.max(this.#droppedAnywhere, seq);
    if (accountId === undefined) this.#evictedUpTo = Math.max(this.#evictedUpTo, seq);
    else this.#droppedUpTo.set(accountId, Math.max(this.#droppedUpTo.get(accountId) ?? 0, seq));
  }

  /** Number of accounts with kept notifications. */
  get accountCount(): number {
    return this.#rings.size;
  }

  #forget(entry: Entry): void {
    const same = this.#byId.get(entry.notification.id);
    const rest = same?.filter((e) => e !== entry) ?? [];
    if (rest.length === 0) this.#byId.delete(entry.notification.id);
    else this.#byId.set(entry.notification.id, rest);
  }
}

const newestSeq = (ring: Ring): number => ring.entries.at(-1)?.seq ?? 0;

/** Adds the ring's lists a query reads: the whole ring, or its lists of the asked types. */
function pushLists(lists: Entry[][], ring: Ring, types: readonly string[] | undefined): void {
  if (types === undefined) {
    lists.push(ring.entries);
    return;
  }
  for (const type of types) {
    const list = ring.byType.get(type);
    if (list !== undefined) lists.push(list);
  }
}

