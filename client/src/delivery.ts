import { notificationKey, RecentKeys } from './dedupe.js';
import type { Notification } from './protocol.js';

/** Live notifications held while a catch-up runs; past this, they are dropped and the catch-up goes round again. */
export const MAX_HELD = 10_000;

/**
 * The gate between what the connection receives and what the application sees: each notification once (bounded
 * memory of keys), in order, with live ones held back while missed ones are still being fetched.
 */
export class Delivery {
  readonly #seen: RecentKeys;
  #held: Notification[] = [];
  #holding = false;
  #overflowed = false;
  #lastSeenId: string | undefined;

  constructor(
    private readonly emit: (notification: Notification) => void,
    options: { memory: number; lastSeenId?: string | undefined },
  ) {
    this.#seen = new RecentKeys(options.memory);
    this.#lastSeenId = options.lastSeenId;
  }

  /** Id of the last notification delivered (or the resume point given at start). */
  get lastSeenId(): string | undefined {
    return this.#lastSeenId;
  }

  get holding(): boolean {
    return this.#holding;
  }

  get heldCount(): number {
    return this.#held.length;
  }

  /** Whether held notifications were dropped since the last `takeOverflow()`. */
  takeOverflow(): boolean {
    const overflowed = this.#overflowed;
    this.#overflowed = false;
    return overflowed;
  }

  /** From now on, live notifications wait for `release()`. */
  hold(): void {
    this.#holding = true;
  }

  /**
   * Forgets held notifications: on a fresh (not recovered) session, history is the authority for what came before,
   * and delivering them after it could break the order where history lost some.
   */
  discardHeld(): void {
    this.#held = [];
  }

  /** Delivers what was held, in arrival order, then lets live notifications through. */
  release(): void {
    const held = this.#held;
    this.#held = [];
    this.#holding = false;
    for (const notification of held) this.deliver(notification);
  }

  /** A notification pushed by the server. */
  live(notification: Notification): void {
    if (!this.#holding) {
      this.deliver(notification);
      return;
    }
    if (this.#held.length >= MAX_HELD) {
      this.#held = [];
      this.#overflowed = true;
    }
    this.#held.push(notification);
  }

  /** Delivers unless already delivered; true when it was new. */
  deliver(notification: Notification): boolean {
    if (!this.#seen.add(notificationKey(notification))) return false;
    this.#lastSeenId = notification.id;
    this.emit(notification);
    return true;
  }
}
