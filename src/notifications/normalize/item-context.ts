import type { JsonRecord } from './json-fields.js';
import type { SkipReason } from './skips.js';
import { resolveTime } from './timestamp.js';

/** What every item of one `entry[]` shares. */
export interface EntryContext {
  /** `entry.id` as a string; `"0"` for the App Dashboard's Test button. */
  readonly entryId: string | undefined;
  /** `entry.time`, raw: seconds for `changes` entries, milliseconds for `messaging` entries. */
  readonly entryTime: unknown;
  readonly receivedAt: Date;
}

/** The parts of a notification that every item kind derives the same way. */
export interface ItemContext {
  readonly accountId: string;
  /** ISO 8601 UTC notification timestamp. */
  readonly timestamp: string;
  /** The item's (else the entry's) time in ms; `undefined` when only the arrival time is known. */
  readonly eventMs: number | undefined;
  /** Flags that apply to the whole item whatever its kind (`isTest`, `standby`). */
  readonly flags: Readonly<Record<string, true>>;
}

export interface ItemParties {
  /** The item's own time (`messaging[].timestamp`, `changes[].value.timestamp`), raw. */
  readonly ownTime: unknown;
  readonly senderId?: string | undefined;
  readonly recipientId?: string | undefined;
  /** The item arrived under `entry[].standby[]` (another app owns the thread). */
  readonly standby?: boolean;
}

/** The App Dashboard's Test button sends `entry.id` `"0"` with canned ids. */
const TEST_ENTRY_ID = '0';

/**
 * The account an event belongs to is `entry.id`, echoes included. Only a dashboard test (`"0"`) or a missing id falls
 * back to the recipient, then the sender. A test with neither keeps `"0"` so it is still delivered (flagged
 * `isTest`) to whoever may see every account; an entry without any id names no account and its items are skipped.
 */
function accountOf(entryId: string | undefined, parties: ItemParties): string | undefined {
  if (entryId !== undefined && entryId !== TEST_ENTRY_ID) return entryId;
  return parties.recipientId ?? parties.senderId ?? entryId;
}

/** Why not, when the item cannot name an account or no time at all is usable (not even the arrival time). */
export function itemContext(entry: EntryContext, parties: ItemParties): ItemContext | SkipReason {
  const accountId = accountOf(entry.entryId, parties);
  if (accountId === undefined) return 'missing_account';
  const time = resolveTime(parties.ownTime, entry.entryTime, entry.receivedAt);
  if (time === undefined) return 'no_usable_time';
  const flags: Record<string, true> = {};
  if (entry.entryId === TEST_ENTRY_ID) flags.isTest = true;
  if (parties.standby === true) flags.standby = true;
  return { accountId, timestamp: time.iso, eventMs: time.eventMs, flags };
}

/** What a `messaging[]`-style kind normalizer gets beside its own payload (`message`, `reaction`, ...). */
export interface MessagingInput {
  readonly senderId: string | undefined;
  readonly ctx: ItemContext;
  /** The whole item, for an id of last resort (`itemDigest`) when a part of the usual one is missing. */
  readonly item: JsonRecord;
}
