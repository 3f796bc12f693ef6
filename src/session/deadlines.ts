/** Longest delay setTimeout honours (a longer one fires after 1 ms): later deadlines are re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Deadline<K> {
  readonly key: K;
  readonly at: number;
  readonly run: () => void;
}

/**
 * Deadlines of many connections (authentication deadlines, token expiries) on one timer: a min-heap by time, and one
 * `setTimeout` armed for the earliest. 10 000 connections hold 10 000 small heap entries, not 10 000 timers; a
 * deadline fires at its time (not at the next sweep), and cancelling is O(1) (a cancelled entry is dropped when it
 * reaches the top).
 */
export class Deadlines<K> {
  readonly #heap: Deadline<K>[] = [];
  /** The live deadline of each key: an entry in the heap that is not this one was cancelled or replaced. */
  readonly #live = new Map<K, Deadline<K>>();
  #timer: NodeJS.Timeout | undefined;
  #armedFor = Number.POSITIVE_INFINITY;

  /** Runs `run` at `at` (epoch ms), replacing the key's earlier deadline if any. */
  schedule(key: K, at: number, run: () => void): void {
    const deadline = { key, at, run };
    this.#live.set(key, deadline);
    this.#push(deadline);
    if (at < this.#armedFor) this.#arm();
  }

  cancel(key: K): void {
    const deadline = this.#live.get(key);
    if (deadline === undefined) return;
    this.#live.delete(key);
    // The timer follows the earliest live deadline; cancelled entries are dropped from the heap lazily, or all at once
    // when they outnumber the live ones (connections that come and go must not grow it).
    if (this.#heap.length > 2 * this.#live.size + 64) this.#compact();
    if (deadline.at === this.#armedFor) this.#arm();
  }

  has(key: K): boolean {
    return this.#live.has(key);
  }

  get size(): number {
    return this.#live.size;
  }

  /** Heap entries, live and cancelled: bounded by about twice the live ones. */
  get heapSize(): number {
    return this.#heap.length;
  }

  /** Cancels everything and clears the timer. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    this.#live.clear();
    this.#heap.length = 0;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = Date.now();
    for (let top = this.#heap[0]; top !== undefined && top.at <= now; top = this.#heap[0]) {
      this.#pop();
      if (this.#live.get(top.key) !== top) continue;
      this.#live.delete(top.key);
      top.run();
    }
    this.#arm();
  }

  #compact(): void {
    const live = [...this.#live.values()];
    this.#heap.length = 0;
    for (const deadline of live) this.#push(deadline);
  }

  #arm(): void {
    while (this.#heap[0] !== undefined && this.#live.get(this.#heap[0].key) !== this.#heap[0]) this.#pop();
    const next = this.#heap[0];
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    if (next === undefined) return;
    this.#armedFor = next.at;
    this.#timer = setTimeout(() => this.#fire(), Math.min(Math.max(0, next.at - Date.now()), MAX_TIMER_MS));
    this.#timer.unref();
  }

  #push(deadline: Deadline<K>): void {
    const heap = this.#heap;
    heap.push(deadline);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as Deadline<K>).at <= deadline.at) break;
      heap[i] = heap[parent] as Deadline<K>;
      heap[parent] = deadline;
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    for (let i = 0; ; ) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && (heap[left] as Deadline<K>).at < (heap[least] as Deadline<K>).at) least = left;
      if (right < heap.length && (heap[right] as Deadline<K>).at < (heap[least] as Deadline<K>).at) least = right;
      if (least === i) return;
      [heap[i], heap[least]] = [heap[least] as Deadline<K>, heap[i] as Deadline<K>];
      i = least;
    }
  }
}
