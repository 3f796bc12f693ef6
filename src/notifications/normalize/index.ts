import { notificationSchema } from '../notification.js';
import type { Notification } from '../notification.js';
import { envelopeItems, isEnvelope } from './envelope.js';
import { isFlat, normalizeFlat } from './flat.js';
import { countSkips, isSkip, skipOf, type Skip } from './skips.js';
import type { NormalizeResult } from './types.js';

export type { NormalizeResult } from './types.js';
export { SKIP_REASONS, type SkipCount, type SkipReason } from './skips.js';

/**
 * Parts of a notification a client can do without, by schema path: when one fails the schema (a username or a text
 * past its length bound), the notification goes out without it rather than not at all.
 */
const OPTIONAL_PARTS: Readonly<Record<string, (n: Notification) => void>> = {
  content: (n) => delete n.content,
  'sender.username': (n) => delete n.sender.username,
  'sender.id': (n) => delete n.sender.id,
};

/** The draft without the optional parts the schema refused, when those were all it refused; else `undefined`. */
function withoutBadOptionalParts(draft: Notification, failed: ReadonlyArray<readonly PropertyKey[]>): unknown {
  const paths = failed.map((path) => path.map(String).join('.'));
  if (!paths.every((path) => Object.hasOwn(OPTIONAL_PARTS, path))) return undefined;
  const repaired: Notification = { ...draft, sender: { ...draft.sender } };
  for (const path of paths) OPTIONAL_PARTS[path]?.(repaired);
  return repaired;
}

/** Keeps the drafts that pass the notification schema, in order, and counts the rest as skipped, with why. */
function tally(shape: NormalizeResult['shape'], drafts: Iterable<Notification | Skip>): NormalizeResult {
  const notifications: Notification[] = [];
  const skips: Skip[] = [];
  for (const candidate of drafts) {
    if (isSkip(candidate)) {
      skips.push(candidate);
      continue;
    }
    let checked = notificationSchema.safeParse(candidate);
    if (!checked.success) {
      const repaired = withoutBadOptionalParts(candidate, checked.error.issues.map((issue) => issue.path));
      if (repaired !== undefined) checked = notificationSchema.safeParse(repaired);
    }
    if (checked.success) notifications.push(checked.data);
    else skips.push(skipOf('invalid_notification', String(candidate.eventType)));
  }
  return { shape, notifications, skipped: skips.length, skips: countSkips(skips) };
}

/**
 * A parsed webhook body → its notifications. Pure and total: any JSON value (or any value at all) gives a result,
 * never a throw. Meta's envelope gives one notification per usable `changes[]` / `messaging[]` / `standby[]` item;
 * the guide's flat shape gives at most one; anything else is shape `unknown` with nothing to deliver. `receivedAt` is
 * the timestamp of items that carry no time; it never enters an id, so a retried delivery keeps its ids. An item that
 * gives nothing is counted in `skipped` and, by reason, in `skips`.
 */
export function normalizeWebhook(body: unknown, receivedAt: Date): NormalizeResult {
  if (isEnvelope(body)) return tally('envelope', envelopeItems(body, receivedAt));
  if (isFlat(body)) return tally('flat', [normalizeFlat(body, receivedAt)]);
  return { shape: 'unknown', notifications: [], skipped: 0, skips: [] };
}
