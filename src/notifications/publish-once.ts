import type { DedupeStore } from './dedupe.js';
import type { Notification } from './notification.js';
import type { Publisher } from './publisher.js';

export type PublishResult =
  | { readonly result: 'accepted'; readonly delivered: string[]; readonly duplicates: number }
  | { readonly result: 'duplicate'; readonly duplicates: number };

/**
 * Hands notifications to delivery, once per id: the one way in, for webhooks and the admin API alike. Each id is claimed before delivery and committed after it, so two
 * simultaneous retries of one POST (on one process or several) deliver once, and a failure in between releases the
 * id: the request fails with a 5xx and Meta's retry delivers it.
 */
export function createPublishOnce(deps: { dedupe: DedupeStore; publisher: Publisher }) {
  return async function publishOnce(notifications: readonly Notification[], receivedAt: number): Promise<PublishResult> {
    const delivered: string[] = [];
    let duplicates = 0;
    for (const notification of notifications) {
      const { id } = notification;
      // Keyed by account and type too: SPEC's ids can coincide across them (a comment on one account that mentions
      // another is `comments` there and `mentions` here, both with the comment's id), and those are two events.
      const key = dedupeKey(notification);
      if (!(await deps.dedupe.claim(key))) {
        duplicates++;
        continue;
      }
      try {
        await deps.publisher.publish(notification, receivedAt);
      } catch (err) {
        await deps.dedupe.release(key).catch(() => undefined);
        throw err;
      }
      await deps.dedupe.commit(key);
      delivered.push(id);
    }
    if (delivered.length === 0 && duplicates > 0) return { result: 'duplicate', duplicates };
    return { result: 'accepted', delivered, duplicates };
  };
}

export type PublishOnce = ReturnType<typeof createPublishOnce>;

const dedupeKey = (n: Notification): string => `${n.accountId}:${n.eventType}:${n.id}`;
