/**
 * Why an item of a signed webhook gave no notification. Two kinds of reason, so that an operator can tell "Meta sent
 * a shape we do not know" (look at the payload, perhaps support it) from "we dropped it" (a known kind without a
 * part it cannot do without). Logged at warn and counted by reason; never with the item's text.
 */
export const SKIP_REASONS = {
  // Meta sent a shape we do not know.
  /** A `changes[]` item whose `field` is no known event type (`feed`, ...), or a flat body's `eventType`. */
  unknown_field: 'unknown_shape',
  /** A `messaging[]` / `standby[]` item with no known kind (`delivery`, ...). */
  unknown_kind: 'unknown_shape',
  /** A `changes[]` value of a messaging field that is of another kind than its field says. */
  field_mismatch: 'unknown_shape',
  /** An entry or an item that is not a JSON object. */
  not_an_object: 'unknown_shape',
  /** An entry with none of `changes`, `messaging`, `standby`. */
  no_item_list: 'unknown_shape',
  /** `changes`, `messaging` or `standby` that is not an array. */
  item_list_not_array: 'unknown_shape',
  /** A `changes[]` item without a `value` object. */
  missing_value: 'unknown_shape',
  // We dropped it.
  /** The item's own id is missing or unusable (a message's `mid`, a comment's `id`, a mention's `media_id`, ...). */
  missing_id: 'unusable',
  /** No account to deliver it to: no `entry.id`, recipient nor sender (or no `accountId` in a flat body). */
  missing_account: 'unusable',
  /** Not even the arrival time gives a valid timestamp. */
  no_usable_time: 'unusable',
  /** A required part fails the notification schema (an optional part that fails it is dropped instead). */
  invalid_notification: 'unusable',
} as const;

export type SkipReason = keyof typeof SKIP_REASONS;

/** An item that gave no notification: why, and what it was (`changes.feed`, `messaging.delivery`, `entry`, `flat`). */
export interface Skip {
  readonly skip: SkipReason;
  readonly kind: string;
}

/** How many items were skipped for one reason and kind. */
export interface SkipCount {
  readonly kind: string;
  readonly reason: SkipReason;
  readonly count: number;
}

export const skipOf = (reason: SkipReason, kind: string): Skip => ({ skip: reason, kind });

export const isSkip = (value: unknown): value is Skip =>
  typeof value === 'object' && value !== null && Object.hasOwn(value, 'skip');

/** Names Meta uses for fields and kinds; anything else (a hostile body's keys) is logged as `unreadable`. */
const KIND_NAME = /^[a-z][a-z0-9_]{0,47}$/;

/** `<list>.<name>` for an item kind named by the payload, with the name only when it reads as one of Meta's. */
export const kindName = (list: string, name: string | undefined): string =>
  `${list}.${name !== undefined && KIND_NAME.test(name) ? name : 'unreadable'}`;

/** Distinct kinds kept per body: a hostile body naming thousands of fields must not make a log line or label set grow. */
const MAX_DISTINCT = 16;

/** Counts skips by reason and kind, in order of first appearance; past `MAX_DISTINCT` pairs the kind is `other`. */
export function countSkips(skips: readonly Skip[]): SkipCount[] {
  const counts = new Map<string, { kind: string; reason: SkipReason; count: number }>();
  for (const { skip, kind } of skips) {
    const known = counts.get(`${skip} ${kind}`);
    if (known !== undefined) {
      known.count += 1;
      continue;
    }
    const bucket = counts.size < MAX_DISTINCT ? kind : 'other';
    const key = `${skip} ${bucket}`;
    const existing = counts.get(key);
    if (existing !== undefined) existing.count += 1;
    else counts.set(key, { kind: bucket, reason: skip, count: 1 });
  }
  return [...counts.values()];
}
