import { setTimeout as sleep } from 'node:timers/promises';
import type { DedupeStore } from './dedupe.js';
import type { Notification } from './notification.js';
import type { Publisher } from './publisher.js';

export type PublishResult =
  | { readonly result: 'accepted'; readonly delivered: string[]; readonly duplicates: number }
  | { readonly result: 'duplicate'; readonly duplicates: number };

/** How long a delivery waits for another one holding the same id (a simultaneous retry) to finish or fail. */
const PENDING_WAIT_MS = 3000;
const PENDING_POLL_MS = 50;
/** A commit that failed (Redis away) is tried again this often, for at most this long (within the claim's life). */
const COMMIT_RETRY_MS = 500;
const COMMIT_RETRY_FOR_MS = 25_000;

/** A pause that does not keep the process alive (a stop does not wait for a retry). */
const pause = (ms: number) => sleep(ms, undefined, { ref: false });

/**
 * Hands notifications to delivery, once per id: the one way in, for webhooks and the admin API alike. Each id is
 * claimed before delivery and committed after it, so two simultaneous retries of one POST (on one process or
 * several) deliver once, and a failure in between releases the id: the request fails with a 5xx and Meta's retry
 * delivers it.
 *
 * Under Redis faults (test/cluster-faults.test.ts):
 * - An id another delivery holds (pending) is not answered as a duplicate at once: that delivery may still fail, and
 *   a failed release (Redis away) leaves its claim behind until it expires. This one waits, bounded, for the claim to
 *   be committed (a duplicate) or released (delivered here); past the bound it fails, and Meta retries later.
 * - A commit that fails after the notification was handed to delivery does not fail the request: the notification
 *   is in the history and on its way, and a 5xx would make Meta's retry, once the claim expired, deliver and record
 *   it a second time. The commit is tried again in the background while the claim lives.
 */
export function createPublishOnce(deps: { dedupe: DedupeStore; publisher: Publisher; onCommitFailure?: (err: unknown) => void }) {
  const claim = async (key: string): Promise<boolean> => {
    const until = Date.now() + PENDING_WAIT_MS;
    for (;;) {
      const state = await deps.dedupe.claim(key);
      if (state !== 'pending') return state === 'claimed';
      if (Date.now() + PENDING_POLL_MS > until) throw new Error('notification is being delivered by another request');
      await pause(PENDING_POLL_MS);
    }
  };
  const commitLater = async (key: string, first: unknown) => {
    deps.onCommitFailure?.(first);
    const until = Date.now() + COMMIT_RETRY_FOR_MS;
    while (Date.now() + COMMIT_RETRY_MS < until) {
      await pause(COMMIT_RETRY_MS);
      try {
        await deps.dedupe.commit(key);
        return;
      } catch {
        // Redis still away: try again.
      }
    }
  };
  return async function publishOnce(notifications: readonly Notification[], receivedAt: number): Promise<PublishResult> {
    const delivered: string[] = [];
    let duplicates = 0;
    for (const notification of notifications) {
      const { id } = notification;
      // Keyed by account and type too: SPEC's ids can coincide across them (a comment on one account that mentions
      // another is `comments` there and `mentions` here, both with the comment's id), and those are two events.
      const key = dedupeKey(notification);
      if (!(await claim(key))) {
        duplicates++;
        continue;
      }
      try {
        await deps.publisher.publish(notification, receivedAt);
      } catch (err) {
        await deps.dedupe.release(key).catch(() => undefined);
        throw err;
      }
      await deps.dedupe.commit(key).catch((err: unknown) => void commitLater(key, err));
      delivered.push(id);
    }
    if (delivered.length === 0 && duplicates > 0) return { result: 'duplicate', duplicates };
    return { result: 'accepted', delivered, duplicates };
  };
}

export type PublishOnce = ReturnType<typeof createPublishOnce>;

const dedupeKey = (n: Notification): string => `${n.accountId}:${n.eventType}:${n.id}`;
