import type { EventType, Notification } from '../notification.js';
import type { Drafted } from './draft.js';
import { itemContext } from './item-context.js';
import type { EntryContext, MessagingInput } from './item-context.js';
import { idAt, isRecord, recordAt, valueAt } from './json-fields.js';
import type { JsonRecord } from './json-fields.js';
import { normalizeMessage } from './message.js';
import { normalizeEdit, normalizeReaction, normalizeRead } from './message-followups.js';
import {
  HANDOVER_KEYS,
  normalizeHandover,
  normalizeOptin,
  normalizePostback,
  normalizeReferral,
} from './thread-events.js';
import { kindName, skipOf, type Skip } from './skips.js';

type KindNormalizer = (payload: JsonRecord, input: MessagingInput, key: string) => Drafted;

interface Kind {
  readonly eventType: EventType;
  readonly normalize: KindNormalizer;
}

/**
 * A `messaging[]` item says what it is by the key it carries (an object). The first one present wins, in this order:
 * `message` is looked at before the standalone kinds, so a message that also carries context is still a message.
 */
const KINDS: ReadonlyMap<string, Kind> = new Map<string, Kind>([
  ['message', { eventType: 'messages', normalize: normalizeMessage }],
  ['message_edit', { eventType: 'message_edit', normalize: normalizeEdit }],
  ['reaction', { eventType: 'message_reactions', normalize: normalizeReaction }],
  ['read', { eventType: 'messaging_seen', normalize: normalizeRead }],
  ['postback', { eventType: 'messaging_postbacks', normalize: normalizePostback }],
  ['referral', { eventType: 'messaging_referral', normalize: normalizeReferral }],
  ['optin', { eventType: 'messaging_optins', normalize: normalizeOptin }],
  ...HANDOVER_KEYS.map((key): [string, Kind] => [
    key,
    { eventType: 'messaging_handover', normalize: normalizeHandover },
  ]),
]);

/** Event types whose payload has the `messaging[]` item shape, also when it comes as a `changes[].value`. */
export const MESSAGING_EVENT_TYPES: ReadonlySet<EventType> = new Set([...KINDS.values()].map((k) => k.eventType));

export interface MessagingOptions {
  /** The item came under `entry[].standby[]`. */
  readonly standby: boolean;
  /** Where the item came from, for the kind named when it is skipped: `messaging`, `standby`, `changes`. */
  readonly list: string;
  /** For a `changes[]` value: the `field` it came under, which the item's own key must agree with. */
  readonly expected?: EventType;
}

/** Keys every messaging item has beside its kind: another key (an object, first) names an unknown kind (`delivery`). */
const PARTY_KEYS = new Set(['sender', 'recipient', 'timestamp']);

/**
 * One `messaging[]` / `standby[]` item (or a `changes[]` value of a messaging field) → one notification, or the
 * reason there is none: an unknown kind (`delivery`, ...), or an item that names no id or account.
 */
export function normalizeMessagingItem(raw: unknown, entry: EntryContext, options: MessagingOptions): Notification | Skip {
  if (!isRecord(raw)) return skipOf('not_an_object', options.list);
  const key = [...KINDS.keys()].find((k) => recordAt(raw, k) !== undefined);
  const kind = key === undefined ? undefined : KINDS.get(key);
  const payload = key === undefined ? undefined : recordAt(raw, key);
  if (key === undefined || kind === undefined || payload === undefined) {
    const others = Object.keys(raw).filter((k) => !PARTY_KEYS.has(k));
    const named = others.find((k) => recordAt(raw, k) !== undefined) ?? others[0];
    return skipOf('unknown_kind', kindName(options.list, named));
  }
  const named = kindName(options.list, key);
  if (options.expected !== undefined && options.expected !== kind.eventType) return skipOf('field_mismatch', named);
  const senderId = idAt(recordAt(raw, 'sender'), 'id');
  const ctx = itemContext(entry, {
    ownTime: valueAt(raw, 'timestamp'),
    senderId,
    recipientId: idAt(recordAt(raw, 'recipient'), 'id'),
    standby: options.standby,
  });
  if (typeof ctx === 'string') return skipOf(ctx, named);
  const drafted = kind.normalize(payload, { senderId, ctx, item: raw }, key);
  return typeof drafted === 'string' ? skipOf(drafted, named) : drafted;
}
