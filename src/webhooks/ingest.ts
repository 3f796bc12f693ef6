import type { DedupeStore } from '../notifications/dedupe.js';
import type { Notification } from '../notifications/notification.js';
import type { Publisher } from '../notifications/publisher.js';
import type { Logger } from '../observability/logger.js';

export type IngestResult =
  | { readonly result: 'accepted'; readonly delivered: string[]; readonly duplicates: number }
  | { readonly result: 'duplicate'; readonly duplicates: number };

/**
 * Hands notifications to delivery, once per id. An id is remembered only after its notification was handed over,
 * so a failure in between never swallows an event (Meta retries a 5xx). Ids being handed over by a concurrent
 * request count as duplicates, so two simultaneous retries of one POST deliver once.
 */
export function createIngestor(deps: { dedupe: DedupeStore; publisher: Publisher; logger: Logger }) {
  const inFlight = new Set<string>();

  return async function ingest(notifications: readonly Notification[], receivedAt: number): Promise<IngestResult> {
    const delivered: string[] = [];
    let duplicates = 0;
    for (const notification of notifications) {
      const { id } = notification;
      if (inFlight.has(id)) {
        duplicates++;
        continue;
      }
      // Claimed before the store is asked: a concurrent request must not slip in while the lookup is pending.
      inFlight.add(id);
      try {
        if (await deps.dedupe.has(id)) {
          duplicates++;
          continue;
        }
        await deps.publisher.publish(notification, receivedAt);
        await deps.dedupe.remember(id);
        delivered.push(id);
      } finally {
        inFlight.delete(id);
      }
    }
    if (delivered.length === 0 && duplicates > 0) return { result: 'duplicate', duplicates };
    deps.logger.debug({ delivered: delivered.length, duplicates }, 'notifications handed to delivery');
    return { result: 'accepted', delivered, duplicates };
  };
}

export type Ingest = ReturnType<typeof createIngestor>;
