import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * Sustained abuse: a connection whose rejected events pass three seconds' worth of its budget within ten seconds is
 * disconnected (at twice the allowed rate, that is after about three seconds of flooding).
 */
const ABUSE_WINDOW_S = 10;
const ABUSE_FACTOR = 3;
/**
 * Room joins and leaves one connection may make per window: one full change of scope (1 000 accounts × 12 event types
 * out and 12 000 in) every 10 s, about 3 ms of adapter work a second at most. A frontend subscribes once and changes
 * scope now and then; past this, `rate_limited` and nothing changes.
 */
const ROOM_CHANGES_PER_WINDOW = 24_000;
const ROOM_WINDOW_S = 10;
/**
 * Events of one connection waiting for an answer (a slow backend holds the queue), at least: past a second's worth of
 * the rate budget or this, more are refused rather than kept, so that a client's memory on the server stays bounded
 * whatever the backend does, and a burst within the budget is never refused.
 */
const MIN_PENDING_EVENTS = 32;

/** What one client event's arrival is allowed: handled, refused (`rate_limited`), or the end of a flooding client. */
export type Admission = 'accepted' | 'refused' | 'abusive';

/**
 * The per-connection budgets, keyed by connection id, shared by every connection of the process. A limiter keeps an
 * entry only while it counts (rate-limiter-flexible drops it when its window ends), and `forget` drops them at once.
 */
export class ConnectionLimits {
  readonly maxPending: number;
  readonly #events: RateLimiterMemory;
  readonly #abuse: RateLimiterMemory;
  readonly #rooms = new RateLimiterMemory({ points: ROOM_CHANGES_PER_WINDOW, duration: ROOM_WINDOW_S });

  constructor(eventsPerSecond: number) {
    this.maxPending = Math.max(MIN_PENDING_EVENTS, eventsPerSecond);
    this.#events = new RateLimiterMemory({ points: eventsPerSecond, duration: 1 });
    this.#abuse = new RateLimiterMemory({ points: eventsPerSecond * ABUSE_FACTOR, duration: ABUSE_WINDOW_S });
  }

  /** Counts one client event of `id` against SOCKET_EVENT_RATE_LIMIT, and its refusals against the abuse budget. */
  async admit(id: string): Promise<Admission> {
    if (await consumed(this.#events, id, 1)) return 'accepted';
    return (await consumed(this.#abuse, id, 1)) ? 'refused' : 'abusive';
  }

  /** Charges `changes` room joins and leaves to `id`'s room budget: false (change nothing) when it cannot cover them. */
  chargeRooms(id: string, changes: number): Promise<boolean> {
    return changes === 0 ? Promise.resolve(true) : consumed(this.#rooms, id, changes);
  }

  forget(id: string): void {
    for (const limiter of [this.#events, this.#abuse, this.#rooms]) void limiter.delete(id);
  }
}

async function consumed(limiter: RateLimiterMemory, key: string, points: number): Promise<boolean> {
  try {
    await limiter.consume(key, points);
    return true;
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes) return false;
    throw rejection;
  }
}
