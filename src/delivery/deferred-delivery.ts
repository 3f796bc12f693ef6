import { performance } from 'node:perf_hooks';
import type { Notification } from '../notifications/notification.js';
import type { Logger } from '../observability/logger.js';
import type { RoomEmitter } from './broadcaster.js';

/**
 * Answer Meta, then deliver: emits are queued and handed to the transports on the next turn of the event loop, after
 * the webhook's answer has been written. A fan-out to thousands of sockets then costs the sender nothing, and one
 * turn delivers every notification queued meanwhile, in order. What is queued is already in history: a client that
 * asks for it between the answer and the emit gets it there (and the SDK drops the second copy by id).
 *
 * A turn delivers for a few milliseconds at most, then yields: a burst of large fan-outs never holds the event loop
 * (health checks, webhook answers, client events) for longer than one notification's fan-out plus this slice.
 */
const TURN_BUDGET_MS = 5;

export class DeferredDelivery implements RoomEmitter {
  #queue: { rooms: string[]; notification: Notification }[] = [];
  /** Index of the next queued notification to deliver: the queue is emptied once it is all delivered. */
  #next = 0;
  #turn: NodeJS.Immediate | undefined;

  constructor(
    private readonly transports: readonly RoomEmitter[],
    private readonly logger: Logger,
  ) {}

  emitToRooms(rooms: string[], notification: Notification): void {
    this.#queue.push({ rooms, notification });
    this.#turn ??= setImmediate(() => this.#deliverSlice());
  }

  /** Delivers everything queued now, in order (shutdown calls it before saying goodbye). */
  flush(): void {
    if (this.#turn !== undefined) clearImmediate(this.#turn);
    this.#turn = undefined;
    this.#deliver(Number.POSITIVE_INFINITY);
  }

  #deliverSlice(): void {
    this.#turn = undefined;
    this.#deliver(performance.now() + TURN_BUDGET_MS);
    if (this.#next < this.#queue.length) this.#turn = setImmediate(() => this.#deliverSlice());
  }

  #deliver(until: number): void {
    while (this.#next < this.#queue.length) {
      const { rooms, notification } = this.#queue[this.#next++] as { rooms: string[]; notification: Notification };
      this.#deliverOne(rooms, notification);
      if (performance.now() >= until) break;
    }
    if (this.#next === this.#queue.length) {
      this.#queue = [];
      this.#next = 0;
    }
  }

  #deliverOne(rooms: string[], notification: Notification): void {
    for (const transport of this.transports) {
      // One transport failing (a cluster relay with Redis gone) does not keep the others from delivering.
      try {
        transport.emitToRooms(rooms, notification);
      } catch (err) {
        this.logger.error(
          { err: err instanceof Error ? err.message : String(err), notificationId: notification.id },
          'delivery to a transport failed',
        );
      }
    }
  }
}
