import type { Notification } from './notification.js';

/**
 * Where ingestion hands notifications over. The real-time side implements it; ingestion knows nothing of sockets.
 * `publish` must not wait on any client: it records and broadcasts, and returns.
 */
export interface Publisher {
  /**
   * @param receivedAt `performance.now()` when the request carrying the notification arrived, for the
   *   webhook-to-emit histogram.
   */
  publish(notification: Notification, receivedAt: number): void | Promise<void>;
}
