import request from 'supertest';
import { expect } from 'vitest';
import { EVENT_TYPES, type Notification } from '../../src/notifications/notification.js';
import type { WebhookResult } from '../../src/protocol/codes.js';
import { authedClient, type TestClient, type TestSocket } from './clients.js';
import { flatEvent, postFlat } from './webhooks.js';

/** Every known event type: a subscriber that should see everything the server delivers. */
export const ALL_EVENT_TYPES: string[] = [...EVENT_TYPES];

/**
 * The `webhook_event`s one client received, in order, read from its inbox. `until` looks at what already arrived
 * first, then listens, so a test never races a notification that came before it started waiting.
 */
export class Deliveries {
  constructor(readonly client: TestClient) {}

  get socket(): TestSocket {
    return this.client.socket;
  }

  get events(): Notification[] {
    return this.client.deliveries();
  }

  get ids(): string[] {
    return this.client.deliveredIds();
  }

  /** Resolves with the events from index `from` once `count` of them have arrived; rejects after `timeoutMs`. */
  async until(count: number, { from = 0, timeoutMs = 5000 } = {}): Promise<Notification[]> {
    const enough = () => this.events.length - from >= count;
    if (!enough()) await this.client.inbox.waitFor('webhook_event', { where: enough, timeoutMs });
    return this.events.slice(from);
  }

  /** Resolves with the first notification of id `id` (already arrived or to come); rejects after `timeoutMs`. */
  arrival(id: string, timeoutMs = 5000): Promise<Notification> {
    return this.client.waitForDelivery(id, timeoutMs);
  }
}

/** A socket authenticated with `accountIds` (default every account), subscribed to every event type. */
export async function watcher(url: string, accountIds: string[] = ['*'], userId = 'watcher'): Promise<Deliveries> {
  return new Deliveries(await authedClient(url, { userId, accountIds }, { subscribe: ALL_EVENT_TYPES }));
}

/**
 * Positive control: posts a fresh flat event for `accountId` and waits until every watcher receives it. Delivery to
 * a socket is in arrival order, so once the control is in, anything posted before it that was going to arrive has.
 */
export async function sendControl(
  url: string,
  watchers: Deliveries[],
  accountId = '17841400000000001',
): Promise<Notification> {
  const control = flatEvent({ accountId, comment: { text: 'control' } });
  const res = await postFlat(url, control);
  expect(res.status).toBe(200);
  const arrivals = await Promise.all(watchers.map((w) => w.arrival(control.id as string)));
  return arrivals[0] as Notification;
}

/** Asserts that, since index `from`, `watcher` received exactly `expected` then a fresh positive control. */
export async function expectOnlyThenControl(url: string, w: Deliveries, from: number, expected: string[] = []) {
  const control = await sendControl(url, [w]);
  expect(w.ids.slice(from)).toEqual([...expected, control.id]);
}

/** `instantchat_webhooks_total` by result, read from `GET /metrics` as Prometheus would. */
export async function webhookCounts(url: string): Promise<Record<WebhookResult, number>> {
  const res = await request(url).get('/metrics');
  expect(res.status).toBe(200);
  const counts = { accepted: 0, invalid_signature: 0, invalid_body: 0, duplicate: 0 };
  for (const [, result, value] of res.text.matchAll(/^instantchat_webhooks_total\{result="(\w+)"\} (\d+)$/gm)) {
    counts[result as WebhookResult] = Number(value);
  }
  return counts;
}

/** The change of each counter between two readings (zeros left out, so `toEqual({accepted: 1})` reads well). */
export function countDelta(before: Record<WebhookResult, number>, after: Record<WebhookResult, number>) {
  const delta: Partial<Record<WebhookResult, number>> = {};
  for (const key of Object.keys(after) as WebhookResult[]) {
    if (after[key] !== before[key]) delta[key] = after[key] - before[key];
  }
  return delta;
}
