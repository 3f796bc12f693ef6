import { isEventType } from '../notification.js';
import type { Notification } from '../notification.js';
import { compact } from './draft.js';
import { idAt, isRecord, recordAt, stringAt, valueAt } from './json-fields.js';
import type { JsonRecord } from './json-fields.js';
import { kindName, skipOf, type Skip } from './skips.js';
import { isoOf, toEpochMs } from './timestamp.js';

/**
 * The Socket.IO integration guide's flat event, used by the InstantChat backend and by tests:
 * `{id, eventType, accountId, sender?: {id?, username?}, message?: {text} | comment?: {text}, content?, timestamp?}`.
 * It is recognized by its `eventType` key on a body that is not an envelope.
 */
export const isFlat = (body: unknown): body is JsonRecord =>
  isRecord(body) && Object.hasOwn(body, 'eventType') && !Object.hasOwn(body, 'object') && !Object.hasOwn(body, 'entry');

/**
 * ISO string or epoch number (seconds below 10^12, else ms); absent or unreadable: the arrival time, as for a
 * missing one (an event is worth more with the time it reached us than not at all).
 */
function timestampOf(body: JsonRecord, receivedAt: Date): string | undefined {
  return isoOf(toEpochMs(valueAt(body, 'timestamp'))) ?? isoOf(receivedAt.getTime());
}

/**
 * The flat body → one notification, or why not: `id`, `eventType` (a known one) or `accountId` missing (or no usable
 * time, not even the arrival time). The text is `message.text`, else `comment.text` (the guide's order), else
 * `content`.
 */
export function normalizeFlat(body: JsonRecord, receivedAt: Date): Notification | Skip {
  const id = idAt(body, 'id');
  const accountId = idAt(body, 'accountId');
  const eventType = stringAt(body, 'eventType');
  const timestamp = timestampOf(body, receivedAt);
  if (eventType === undefined || !isEventType(eventType)) return skipOf('unknown_field', kindName('flat', eventType));
  if (id === undefined) return skipOf('missing_id', `flat.${eventType}`);
  if (accountId === undefined) return skipOf('missing_account', `flat.${eventType}`);
  if (timestamp === undefined) return skipOf('no_usable_time', `flat.${eventType}`);
  const sender = recordAt(body, 'sender');
  const content =
    stringAt(recordAt(body, 'message'), 'text') ??
    stringAt(recordAt(body, 'comment'), 'text') ??
    stringAt(body, 'content');
  const notification: Notification = {
    id,
    eventType,
    accountId,
    sender: compact({ id: idAt(sender, 'id'), username: stringAt(sender, 'username') }) ?? {},
    timestamp,
  };
  if (content !== undefined) notification.content = content;
  return notification;
}
