import { SOCKET_ERRORS } from '../protocol/codes.js';
import type { ConnectionLimits } from './connection-limits.js';

export type Ack = (payload: unknown) => void;

/** What the queue needs of its connection to refuse an event or end a flood. */
export interface QueueOwner {
  readonly id: string;
  /** Answers `error {code: "rate_limited"}` (to the ack too, when there is one). */
  refuse(message: string, ack?: Ack): void;
  /** Counts a refusal that is not told (without an ack, once a second is enough). */
  countSilentRefusal(): void;
  /** Ends the connection for sustained flooding. */
  endForAbuse(): void;
}

/** One `rate_limited` event a second is enough to tell a client that sends without acks; acks always get theirs. */
const NOTICE_EVERY_MS = 1000;

/**
 * A connection's client events, handled one after the other in arrival order (an event sent right after
 * `authenticate` sees its result, whatever the token verification waits for), rate limited on arrival, and bounded in
 * number while they wait (a slow backend holds the queue).
 */
export class EventQueue {
  #pending = 0;
  /** The last event's handling, while any is pending (nothing is kept for an idle connection). */
  #tail: Promise<void> | undefined;
  #lastNotice = 0;
  #abusive = false;

  constructor(
    private readonly owner: QueueOwner,
    private readonly limits: ConnectionLimits,
  ) {}

  /** Sustained flooding was seen: the connection ends once what it sent before is answered; nothing more is taken. */
  get abusive(): boolean {
    return this.#abusive;
  }

  /** Counts one arriving event against the budgets; false (and the refusal answered) when it is not to be handled. */
  async admit(ack?: Ack): Promise<boolean> {
    const admission = await this.limits.admit(this.owner.id);
    if (admission === 'accepted') {
      if (this.#pending < this.limits.maxPending) return true;
      this.owner.refuse('Too many events waiting for an answer', ack);
      return false;
    }
    if (admission === 'abusive') {
      if (!this.#abusive) void this.run(() => this.owner.endForAbuse());
      this.#abusive = true;
      return false;
    }
    const now = Date.now();
    if (ack !== undefined || now - this.#lastNotice >= NOTICE_EVERY_MS) {
      if (ack === undefined) this.#lastNotice = now;
      this.owner.refuse(SOCKET_ERRORS.rate_limited, ack);
    } else {
      this.owner.countSilentRefusal();
    }
    return false;
  }

  /** Runs `work` after everything queued before it. */
  run(work: () => Promise<void> | void): Promise<void> {
    this.#pending++;
    const done = (this.#tail ?? Promise.resolve()).then(work).finally(() => {
      if (--this.#pending === 0) this.#tail = undefined;
    });
    this.#tail = done;
    return done;
  }
}
