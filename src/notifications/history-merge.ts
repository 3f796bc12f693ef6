/** A kept notification's place in arrival order (a sequence shared by every account). */
export interface Sequenced {
  readonly seq: number;
}

/** A position in one list, on a matching entry, moving towards newer (`step` 1) or older (`step` -1) entries. */
interface Cursor<E extends Sequenced> {
  readonly list: readonly E[];
  index: number;
  entry: E;
}

/**
 * The first `limit` matching entries after `afterSeq` or, without it, the latest `limit`, oldest first, across lists
 * each sorted by seq. A k-way merge on a heap of cursors: O(k log size + limit log k) when every entry matches, never
 * a scan and sort of every kept notification (which, for a `*` user over 10 000 full rings, stalled the loop for a
 * quarter of a second). With a `matches` filter, a cursor skips what does not match: callers that can should pass
 * lists that hold only matching entries (the in-process store keeps one per event type).
 */
export function mergeLists<E extends Sequenced>(
  lists: Iterable<readonly E[]>,
  options: { afterSeq: number | undefined; limit: number; matches?: (entry: E) => boolean },
): E[] {
  const { afterSeq, limit, matches } = options;
  const step = afterSeq === undefined ? -1 : 1;
  /** Moves the cursor onto the next matching entry from `index` on; false when the list has none left. */
  const settle = (cursor: Cursor<E>): boolean => {
    for (let entry = cursor.list[cursor.index]; entry !== undefined; entry = cursor.list[(cursor.index += step)]) {
      if (matches === undefined || matches(entry)) {
        cursor.entry = entry;
        return true;
      }
    }
    return false;
  };
  // Forward: the smallest seq comes out first; backward: the largest.
  const before = (a: Cursor<E>, b: Cursor<E>) => (a.entry.seq - b.entry.seq) * step < 0;

  const heap: Cursor<E>[] = [];
  for (const list of lists) {
    const first = list[0];
    if (first === undefined) continue;
    const index = afterSeq === undefined ? list.length - 1 : firstAfter(list, afterSeq);
    const cursor: Cursor<E> = { list, index, entry: first };
    if (settle(cursor)) heap.push(cursor);
  }
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(heap, i, before);

  const out: E[] = [];
  while (out.length < limit) {
    const top = heap[0];
    if (top === undefined) break;
    out.push(top.entry);
    top.index += step;
    if (!settle(top)) {
      const last = heap.pop() as Cursor<E>;
      if (last !== top) heap[0] = last;
    }
    siftDown(heap, 0, before);
  }
  return step === 1 ? out : out.reverse();
}

/**
 * The latest `limit` entries of the lists offered to it, kept in a min-heap whose root is the oldest of them. Offered
 * lists are read from their newest entry and only while it beats the root: O(entries kept × log limit) in all.
 */
export class LatestEntries<E extends Sequenced> {
  readonly #best: E[] = [];

  constructor(private readonly limit: number) {}

  /** True once `limit` entries newer than `seq` are held: nothing at or before `seq` can enter any more. */
  beats(seq: number): boolean {
    return this.#best.length >= this.limit && (this.#best[0] as E).seq > seq;
  }

  offer(list: readonly E[]): void {
    const best = this.#best;
    if (!(this.limit > 0)) return;
    for (let i = list.length - 1; i >= 0; i--) {
      const entry = list[i] as E;
      if (best.length < this.limit) {
        best.push(entry);
        siftUp(best, best.length - 1, older);
      } else if (entry.seq > (best[0] as E).seq) {
        best[0] = entry;
        siftDown(best, 0, older);
      } else {
        return; // the rest of this list is older still
      }
    }
  }

  /** The entries held, oldest first. */
  sorted(): E[] {
    return [...this.#best].sort((a, b) => a.seq - b.seq);
  }
}

const older = (a: Sequenced, b: Sequenced) => a.seq < b.seq;

/** Index of the first entry whose seq is greater than `seq` (the list's length when none is). */
export function firstAfter(list: readonly Sequenced[], seq: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as Sequenced).seq <= seq) lo = mid + 1;
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

function siftUp<T>(heap: T[], start: number, before: (a: T, b: T) => boolean): void {
  let i = start;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i] as T, heap[parent] as T)) return;
    [heap[i], heap[parent]] = [heap[parent] as T, heap[i] as T];
    i = parent;
  }
}
