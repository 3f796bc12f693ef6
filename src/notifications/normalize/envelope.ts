import type { Notification } from '../notification.js';
import { normalizeChange } from './changes.js';
import type { EntryContext } from './item-context.js';
import { idAt, isRecord, valueAt } from './json-fields.js';
import type { JsonRecord } from './json-fields.js';
import { normalizeMessagingItem } from './messaging.js';
import { skipOf, type Skip } from './skips.js';

/** Meta's envelope: `{"object":"instagram","entry":[...]}`. Other `object`s (`page`, ...) are not ours. */
export interface Envelope extends JsonRecord {
  readonly object: 'instagram';
  readonly entry: readonly unknown[];
}

export const isEnvelope = (body: unknown): body is Envelope =>
  isRecord(body) && valueAt(body, 'object') === 'instagram' && Array.isArray(valueAt(body, 'entry'));

type ItemNormalizer = (item: unknown, entry: EntryContext) => Notification | Skip;

/** The item lists an entry may hold; `standby[]` items are messaging items while another app owns the thread. */
const ITEM_LISTS: ReadonlyMap<string, ItemNormalizer> = new Map<string, ItemNormalizer>([
  ['changes', normalizeChange],
  ['messaging', (item, entry) => normalizeMessagingItem(item, entry, { standby: false, list: 'messaging' })],
  ['standby', (item, entry) => normalizeMessagingItem(item, entry, { standby: true, list: 'standby' })],
]);

/**
 * Every item of every entry, in body order: a notification draft, or why one could not be used. An entry that is not
 * an object, holds no item list, or holds a list that is not an array counts as one unusable item, so a body of
 * fields the server does not know is visible in the skipped count.
 */
export function* envelopeItems(envelope: Envelope, receivedAt: Date): Generator<Notification | Skip> {
  for (const raw of envelope.entry) {
    if (!isRecord(raw)) {
      yield skipOf('not_an_object', 'entry');
      continue;
    }
    const entry: EntryContext = { entryId: idAt(raw, 'id'), entryTime: valueAt(raw, 'time'), receivedAt };
    let lists = 0;
    // Object key order is body order, so notifications come out in the order their items appear.
    for (const key of Object.keys(raw)) {
      const normalize = ITEM_LISTS.get(key);
      if (normalize === undefined) continue;
      lists += 1;
      const items = valueAt(raw, key);
      if (!Array.isArray(items)) {
        yield skipOf('item_list_not_array', key);
        continue;
      }
      for (const item of items) yield normalize(item, entry);
    }
    if (lists === 0) yield skipOf('no_item_list', 'entry');
  }
}
