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
 */
export function createBroadcaster(deps: {
  history: HistoryStore;
  metrics: Metrics;
  logger: Logger;
  emitters: RoomEmitter[];
}): Publisher {
  return {
    async publish(notification, receivedAt) {
      await deps.history.record(notification);
      const rooms = roomsForNotification(notification);
      for (const emitter of deps.emitters) emitter.emitToRooms(rooms, notification);
      deps.metrics.webhookToEmitSeconds.observe((performance.now() - receivedAt) / 1000);
      deps.metrics.notificationsPublished.inc({ event_type: notification.eventType });
      // "Did notification X reach account Y's rooms?": ids only, never the text.
      const { id, accountId, eventType } = notification;
      deps.logger.debug({ notificationId: id, accountId, eventType }, 'notification published');
    },
  };
}
