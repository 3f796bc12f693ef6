import { createHash } from 'node:crypto';
import type { JsonRecord } from './json-fields.js';

/**
 * A short digest of an item as parsed: the id of last resort for an item that lacks a part its usual composite id is
 * made of (a reaction without sender or time, an edit without `num_edit`). A retried delivery carries the same bytes,
 * so the same digest; two events that differ in anything differ in it. 66 bits: collisions are not a concern at the
 * volume one account receives within the dedupe window. `undefined` for a value JSON cannot write (never from a
 * parsed body).
 */
export function itemDigest(item: JsonRecord): string | undefined {
  let text: string;
  try {
    text = JSON.stringify(item);
  } catch {
    return undefined;
  }
  return createHash('sha256').update(text).digest('base64url').slice(0, 11);
}
