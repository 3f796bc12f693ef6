/**
 * Reading fields out of untrusted JSON without `any`: every accessor answers `undefined` for a missing key or a
 * value of the wrong type, so the normalizers never throw on a body Meta (or anyone else) did not shape as expected.
 */

export type JsonRecord = Record<string, unknown>;

/** Longest id the notification schema accepts; a longer value is treated as absent rather than failing the event. */
const MAX_ID_LENGTH = 512;

export const isRecord = (value: unknown): value is JsonRecord =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Own properties only: `{}`'s inherited `constructor` or `toString` must never read as a payload field. */
export const valueAt = (obj: JsonRecord | undefined, key: string): unknown =>
  obj !== undefined && Object.hasOwn(obj, key) ? obj[key] : undefined;

export const recordAt = (obj: JsonRecord | undefined, key: string): JsonRecord | undefined => {
  const value = valueAt(obj, key);
  return isRecord(value) ? value : undefined;
};

/** A non-empty string, else `undefined` (an empty text is no text). */
export const stringAt = (obj: JsonRecord | undefined, key: string): string | undefined => {
  const value = valueAt(obj, key);
  return typeof value === 'string' && value.length > 0 ? value : undefined;
};

/** A finite number, else `undefined`. */
export const numberAt = (obj: JsonRecord | undefined, key: string): number | undefined => {
  const value = valueAt(obj, key);
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
};

/** `true` only for a literal `true`: Meta's flags are booleans, and an absent flag is left out of `details`. */
export const flagAt = (obj: JsonRecord | undefined, key: string): true | undefined =>
  valueAt(obj, key) === true ? true : undefined;

/**
 * An id as a string. Meta's ids are digit strings because they overflow JSON numbers; a number is accepted only when
 * it is a safe integer (a larger one has already lost digits in `JSON.parse`, so it names the wrong object).
 */
const toId = (value: unknown): string | undefined => {
  if (typeof value === 'string') return value.length > 0 && value.length <= MAX_ID_LENGTH ? value : undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
};

export const idAt = (obj: JsonRecord | undefined, key: string): string | undefined => toId(valueAt(obj, key));
