import { LRUCache } from 'lru-cache';
import { ALL_ACCOUNTS, isEntitledTo, type Entitlement } from '../auth/claims.js';
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
  record(notification: Notification): void | Promise<void>;
  query(query: HistoryQuery): Promise<HistoryPage>;
}

/** A kept notification and its place in arrival order (a sequence shared by every account). */
export interface Entry {
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
        for (const entry of ring) this.#forget(entry);
        this.#droppedUpTo.delete(accountId);
        this.#noteDropped(undefined, ring.at(-1)?.seq ?? 0);
      },
    });
  }

  record(notification: Notification): void {
    const entry: Entry = { seq: ++this.#seq, notification };
    // `get` marks the account as recently active: eviction forgets the accounts that have been quiet longest.
    let ring = this.#rings.get(notification.accountId);
    if (ring === undefined) {
      ring = [];
      this.#rings.set(notification.accountId, ring);
    }
    ring.push(entry);
    if (ring.length > this.#size) {
      const dropped = ring.shift();
      this.#forget(dropped);
      this.#noteDropped(notification.accountId, dropped?.seq ?? 0);
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
    const types = query.eventTypes === undefined ? undefined : new Set(query.eventTypes);
    const matches = (entry: Entry) => types === undefined || types.has(entry.notification.eventType);
    const entries = mergeRings(this.#ringsFor(query.accounts), { afterSeq, limit: query.limit, matches });
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
    if (entry === undefined) return;
    const same = this.#byId.get(entry.notification.id);
    const rest = same?.filter((e) => e !== entry) ?? [];
    if (rest.length === 0) this.#byId.delete(entry.notification.id);
    else this.#byId.set(entry.notification.id, rest);
  }
}

/** A position in one ring, on a matching entry, moving towards newer (`step` 1) or older (`step` -1) entries. */
interface Cursor {
  readonly ring: readonly Entry[];
  index: number;
  entry: Entry;
}

/**
 * The first `limit` matching entries after `afterSeq` or, without it, the latest `limit`, oldest first, across
 * rings each sorted by seq. A k-way merge on a heap of cursors: O(k log size + limit log k), never a scan and sort of
 * every kept notification, which for a `*` user over full rings (10 000 accounts × 100) stalled the event loop for
 * a quarter of a second per request.
 */
export function mergeRings(
  rings: Iterable<readonly Entry[]>,
  options: { afterSeq: number | undefined; limit: number; matches: (entry: Entry) => boolean },
): Entry[] {
  const { afterSeq, limit, matches } = options;
  const step = afterSeq === undefined ? -1 : 1;
  /** Moves the cursor onto the next matching entry from `index` on; false when the ring has none left. */
  const settle = (cursor: Cursor): boolean => {
    for (let entry = cursor.ring[cursor.index]; entry !== undefined; entry = cursor.ring[(cursor.index += step)]) {
      if (matches(entry)) {
        cursor.entry = entry;
        return true;
      }
    }
    return false;
  };
  // Forward: the smallest seq comes out first; backward: the largest.
  const before = (a: Cursor, b: Cursor) => (a.entry.seq - b.entry.seq) * step < 0;

  const heap: Cursor[] = [];
  for (const ring of rings) {
    const first = ring[0];
    if (first === undefined) continue;
    const index = afterSeq === undefined ? ring.length - 1 : firstAfter(ring, afterSeq);
    const cursor: Cursor = { ring, index, entry: first };
    if (settle(cursor)) heap.push(cursor);
  }
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(heap, i, before);

  const out: Entry[] = [];
  while (out.length < limit) {
    const top = heap[0];
    if (top === undefined) break;
    out.push(top.entry);
    top.index += step;
    if (!settle(top)) {
      const last = heap.pop() as Cursor;
      if (last !== top) heap[0] = last;
    }
    siftDown(heap, 0, before);
  }
  return step === 1 ? out : out.reverse();
}

/** Index of the first entry whose seq is greater than `seq` (the ring's length when none is). */
function firstAfter(ring: readonly Entry[], seq: number): number {
  let lo = 0;
  let hi = ring.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((ring[mid] as Entry).seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function siftDown<T>(heap: T[], start: number, before: (a: T, b: T) => boolean): void {
  let i = start;
  for (;;) {
    const left = 2 * i + 1;
    const right = left + 1;
    let best = i;
    if (left < heap.length && before(heap[left] as T, heap[best] as T)) best = left;
    if (right < heap.length && before(heap[right] as T, heap[best] as T)) best = right;
    if (best === i) return;
    [heap[i], heap[best]] = [heap[best] as T, heap[i] as T];
    i = best;
  }
}
