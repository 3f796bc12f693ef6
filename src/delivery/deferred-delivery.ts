import { performance } from 'node:perf_hooks';
import type { Logger } from '../observability/logger.js';

/**
 * Answer Meta, then deliver: deliveries are queued and run on the next turn of the event loop, after the webhook's
 * answer has been written. A fan-out to thousands of sockets then costs the sender nothing, and one turn runs every
 * delivery queued meanwhile, in order. What is queued is already in history: a client that asks for it between the
 * answer and the emit gets it there (and the SDK drops the second copy by id).
 *
 * A turn runs deliveries for a few milliseconds at most, then yields: a burst of large fan-outs never holds the event
 * loop (health checks, webhook answers, client events) for longer than one notification's fan-out plus this slice.
 */
const TURN_BUDGET_MS = 5;
/**
 * While deliveries are behind, a turn may run them for as long as the rest of the loop took since the last one (up to
 * this): under a flood of webhooks, taking them in must not starve delivering them (the queue would only grow).
 */
const MAX_TURN_BUDGET_MS = 20;

export class DeferredDelivery {
  #queue: (() => void)[] = [];
  /** Index of the next queued delivery to run: the queue is emptied once it has all run. */
  #next = 0;
  #turn: NodeJS.Immediate | undefined;
  /** When the last turn of deliveries ended with deliveries left behind (none: +Infinity). */
  #behindSince = Number.POSITIVE_INFINITY;

  /**
   * `paused`: while true, queued deliveries wait (a transport is still releasing the writes of earlier ones, see
   * HeldWrites); they are never dropped, and `flush` does not wait.
   */
  constructor(
    private readonly logger: Logger,
    private readonly paused: () => boolean = () => false,
  ) {}

  /** Queues one delivery (a notification's emits to every transport), to run after the current turn. */
  defer(delivery: () => void): void {
    this.#queue.push(delivery);
    this.#turn ??= setImmediate(() => this.#runSlice());
  }

  /** Runs everything queued now, in order (shutdown calls it before saying goodbye). */
  flush(): void {
    if (this.#turn !== undefined) clearImmediate(this.#turn);
    this.#turn = undefined;
    this.#run(Number.POSITIVE_INFINITY);
  }

  #runSlice(): void {
    this.#turn = undefined;
    const now = performance.now();
    const budget = Math.min(MAX_TURN_BUDGET_MS, Math.max(TURN_BUDGET_MS, now - this.#behindSince));
    if (!this.paused()) this.#run(now + budget);
    const behind = this.#next < this.#queue.length;
    this.#behindSince = behind ? performance.now() : Number.POSITIVE_INFINITY;
    if (behind) this.#turn = setImmediate(() => this.#runSlice());
  }

  #run(until: number): void {
    while (this.#next < this.#queue.length) {
      const delivery = this.#queue[this.#next++] as () => void;
      try {
        delivery();
      } catch (err) {
        this.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'delivery to a transport failed');
      }
      if (performance.now() >= until) break;
    }
    if (this.#next === this.#queue.length) {
      this.#queue = [];
      this.#next = 0;
    }
  }
}
