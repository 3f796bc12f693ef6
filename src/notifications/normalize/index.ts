import { notificationSchema } from '../notification.js';
import type { Notification } from '../notification.js';
import { envelopeItems, isEnvelope } from './envelope.js';
import { isFlat, normalizeFlat } from './flat.js';
import type { NormalizeResult } from './types.js';

export type { NormalizeResult } from './types.js';

/** Keeps the drafts that pass the notification schema, in order, and counts the rest as skipped. */
function tally(shape: NormalizeResult['shape'], drafts: Iterable<Notification | undefined>): NormalizeResult {
  const notifications: Notification[] = [];
  let skipped = 0;
  for (const candidate of drafts) {
    const checked = candidate === undefined ? undefined : notificationSchema.safeParse(candidate);
    if (checked?.success === true) notifications.push(checked.data);
    else skipped += 1;
  }
  return { shape, notifications, skipped };
}

/**
 * A parsed webhook body → its notifications. Pure and total: any JSON value (or any value at all) gives a result,
 * never a throw. Meta's envelope gives one notification per usable `changes[]` / `messaging[]` / `standby[]` item;
 * the guide's flat shape gives at most one; anything else is shape `unknown` with nothing to deliver. `receivedAt` is
 * the timestamp of items that carry no time; it never enters an id, so a retried delivery keeps its ids.
 */
export function normalizeWebhook(body: unknown, receivedAt: Date): NormalizeResult {
  if (isEnvelope(body)) return tally('envelope', envelopeItems(body, receivedAt));
  if (isFlat(body)) return tally('flat', [normalizeFlat(body, receivedAt)]);
  return { shape: 'unknown', notifications: [], skipped: 0 };
}
