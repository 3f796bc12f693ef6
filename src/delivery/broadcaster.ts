import { performance } from 'node:perf_hooks';
import type { HistoryStore } from '../notifications/history.js';
import type { Notification } from '../notifications/notification.js';
import type { Publisher } from '../notifications/publisher.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { roomsForNotification } from './rooms.js';

/**
 * A transport's delivery of one notification to the union of its rooms: one encode, handed to every member by the
 * transport (Socket.IO's adapter, or the raw WebSocket room index), never a loop over every connection.
 */
export interface RoomEmitter {
  emitToRooms(rooms: string[], notification: Notification): void;
}

/**
 * The delivery side of `Publisher`: keeps the notification in history, then emits it once per transport to its two
 * rooms. Delivery never waits on a client: emits only queue frames.
 *
 * A notification already in history is not recorded again (history's `record` is idempotent), only emitted: a record
 * that Redis applied but whose answer was lost (a cut or frozen connection) failed the webhook, and Meta's retry
 * publishes it again (test/cluster-faults.test.ts). Its clients never got it, so it is emitted; clients tell repeats
 * by id.
 */
export function createBroadcaster(deps: {
  history: HistoryStore;
  metrics: Metrics;
  logger: Logger;
  emitters: RoomEmitter[];
  /** Where emits wait for the webhook's answer (DeferredDelivery); without it they happen within `publish`. */
  deferred?: { defer(delivery: () => void): void };
}): Publisher {
  /** Every transport is tried, whatever one of them throws; the first error is rethrown after the others. */
  const emit = (rooms: string[], notification: Notification, receivedAt: number) => {
    let failure: { err: unknown } | undefined;
    for (const emitter of deps.emitters) {
      try {
        emitter.emitToRooms(rooms, notification);
      } catch (err) {
        failure ??= { err };
      }
    }
    deps.metrics.webhookToEmitSeconds.observe((performance.now() - receivedAt) / 1000);
    deps.metrics.notificationsPublished.inc({ event_type: notification.eventType });
    // "Did notification X reach account Y's rooms?": ids only, never the text.
    const { id, accountId, eventType } = notification;
    deps.logger.debug({ notificationId: id, accountId, eventType }, 'notification published');
    if (failure !== undefined) throw failure.err;
  };
  return {
    async publish(notification, receivedAt) {
      await deps.history.record(notification);
      const rooms = roomsForNotification(notification);
      if (deps.deferred === undefined) emit(rooms, notification, receivedAt);
      else deps.deferred.defer(() => emit(rooms, notification, receivedAt));
    },
  };
}
