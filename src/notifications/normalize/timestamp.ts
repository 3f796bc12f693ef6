/**
 * Meta's times come in two units: `entry.time` is seconds for `changes` entries and milliseconds for `messaging`
 * entries, `messaging[].timestamp` is milliseconds, and `changes[].value.timestamp` is a numeric string of seconds.
 * One rule covers them all: a number (or numeric string) below 10^12 is seconds, anything else milliseconds. 10^12 ms
 * is September 2001 and 10^12 s is the year 33658, so no real time is ambiguous.
 */

const SECONDS_BELOW = 1e12;

/** The last instant `toISOString()` writes with a four-digit year (the notification schema accepts no other). */
const MAX_MS = 253_402_300_799_999;

const NUMERIC = /^\d+(?:\.\d+)?$/;

/** Strict ISO 8601 date-time with a zone; `Date.parse` alone also accepts free-form dates like `"Jan 1"`. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i;

const inRange = (ms: number): number | undefined =>
  Number.isFinite(ms) && ms >= 0 && ms <= MAX_MS ? Math.trunc(ms) : undefined;

/**
 * Epoch milliseconds from a number, a numeric string (seconds below 10^12, else ms) or an ISO 8601 string;
 * `undefined` for anything else, negative or beyond year 9999.
 */
export function toEpochMs(value: unknown): number | undefined {
  if (typeof value === 'number') return inRange(value < SECONDS_BELOW ? value * 1000 : value);
  if (typeof value !== 'string') return undefined;
  if (NUMERIC.test(value)) {
    const n = Number(value);
    return inRange(n < SECONDS_BELOW ? n * 1000 : n);
  }
  return ISO_DATE_TIME.test(value) ? inRange(Date.parse(value)) : undefined;
}

/** `Date.prototype.toISOString()` of a time, or `undefined` when the date is invalid or outside four-digit years. */
export function isoOf(ms: number | undefined): string | undefined {
  const valid = ms === undefined ? undefined : inRange(ms);
  return valid === undefined ? undefined : new Date(valid).toISOString();
}

/** When an item happened, as far as the payload says, and the notification timestamp that follows from it. */
export interface ResolvedTime {
  /** The item's own time, else its entry's; `undefined` when neither parses (stable ids must not use arrival time). */
  readonly eventMs: number | undefined;
  /** ISO 8601 UTC: the event time, else the arrival time. */
  readonly iso: string;
}

/** The item's own time, else the entry's time, else the arrival time; `undefined` only when all three are unusable. */
export function resolveTime(own: unknown, entryTime: unknown, receivedAt: Date): ResolvedTime | undefined {
  const eventMs = toEpochMs(own) ?? toEpochMs(entryTime);
  const iso = isoOf(eventMs ?? receivedAt.getTime());
  return iso === undefined ? undefined : { eventMs, iso };
}
