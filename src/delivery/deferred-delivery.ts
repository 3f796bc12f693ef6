import type { Notification } from '../notifications/notification.js';
import type { Logger } from '../observability/logger.js';
import type { RoomEmitter } from './broadcaster.js';

/**
 * Answer Meta, then deliver: emits are queued and handed to the transports on the next turn of the event loop, after
 * the webhook's answer has been written. A fan-out to thousands of sockets then costs the sender nothing, and one
 * turn delivers every notification queued meanwhile, in order. What is queued is already in history: a client that
 * asks for it between the answer and the emit gets it there (and the SDK drops the second copy by id).
 */
export class DeferredDelivery implements RoomEmitter {
  #queue: { rooms: string[]; notification: Notification }[] = [];
  #turn: NodeJS.Immediate | undefined;

  constructor(
    private readonly transports: readonly RoomEmitter[],
    private readonly logger: Logger,
  ) {}

  emitToRooms(rooms: string[], notification: Notification): void {
    this.#queue.push({ rooms, notification });
    this.#turn ??= setImmediate(() => this.flush());
  }

  /** Delivers everything queued now (shutdown calls it before saying goodbye). */
  flush(): void {
    if (this.#turn !== undefined) clearImmediate(this.#turn);
    this.#turn = undefined;
    const queue = this.#queue;
    this.#queue = [];
    for (const { rooms, notification } of queue) {
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
}
