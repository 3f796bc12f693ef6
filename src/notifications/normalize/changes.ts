import { isEventType } from '../notification.js';
import type { Notification } from '../notification.js';
import { compact, draft, type Drafted } from './draft.js';
import { itemContext } from './item-context.js';
import type { EntryContext } from './item-context.js';
import { idAt, isRecord, numberAt, recordAt, stringAt, valueAt } from './json-fields.js';
import type { JsonRecord } from './json-fields.js';
import { MESSAGING_EVENT_TYPES, normalizeMessagingItem } from './messaging.js';
import { isSkip, kindName, skipOf, type Skip } from './skips.js';

/**
 * `comments` and `live_comments` share one value shape: `{from {id, username, self_ig_scoped_id?}, media {id,
 * media_product_type?}, id, parent_id?, text}`. Comments carry no time of their own, so `entry.time` (seconds) is used.
 */
function normalizeComment(value: JsonRecord, eventType: 'comments' | 'live_comments', entry: EntryContext): Drafted {
  const id = idAt(value, 'id');
  const from = recordAt(value, 'from');
  const senderId = idAt(from, 'id');
  if (id === undefined) return 'missing_id';
  const ctx = itemContext(entry, { ownTime: valueAt(value, 'timestamp'), senderId });
  if (typeof ctx === 'string') return ctx;
  const media = recordAt(value, 'media');
  // The account's own comments (replies from the app) are delivered flagged: Meta marks them with self_ig_scoped_id.
  const isSelf =
    (senderId !== undefined && senderId === entry.entryId) || idAt(from, 'self_ig_scoped_id') !== undefined;
  return draft({
    id,
    eventType,
    ctx,
    senderId,
    username: stringAt(from, 'username'),
    content: stringAt(value, 'text'),
    details: {
      mediaId: idAt(media, 'id'),
      mediaProductType: stringAt(media, 'media_product_type'),
      parentId: idAt(value, 'parent_id'),
      isSelf: isSelf ? true : undefined,
    },
  });
}

/** `mentions` `{media_id, comment_id?}`: a caption mention has no comment. The payload names nobody. */
function normalizeMention(value: JsonRecord, entry: EntryContext): Drafted {
  const commentId = idAt(value, 'comment_id');
  const mediaId = idAt(value, 'media_id');
  const id = commentId ?? mediaId;
  if (id === undefined) return 'missing_id';
  const ctx = itemContext(entry, { ownTime: valueAt(value, 'timestamp') });
  if (typeof ctx === 'string') return ctx;
  return draft({ id, eventType: 'mentions', ctx, details: { mediaId, commentId } });
}

/** Story metrics as Meta sends them (snake_case); `-1` means "fewer than 5" and is passed on as is. */
const METRICS = [
  ['reach', 'reach'],
  ['exits', 'exits'],
  ['replies', 'replies'],
  ['taps_forward', 'tapsForward'],
  ['taps_back', 'tapsBack'],
  ['impressions', 'impressions'],
] as const;

/** `story_insights`, sent when a story expires; id `media_id` (one per story). */
function normalizeStoryInsights(value: JsonRecord, entry: EntryContext): Drafted {
  const mediaId = idAt(value, 'media_id');
  if (mediaId === undefined) return 'missing_id';
  const ctx = itemContext(entry, { ownTime: valueAt(value, 'timestamp') });
  if (typeof ctx === 'string') return ctx;
  const metrics = compact(Object.fromEntries(METRICS.map(([wire, name]) => [name, numberAt(value, wire)])));
  return draft({ id: mediaId, eventType: 'story_insights', ctx, details: { mediaId, metrics } });
}

/**
 * One `entry[].changes[]` item `{field, value}` → one notification, or the reason there is none: a field that is no
 * known event type, a value that names no id, ... Messaging fields sent as changes (the App Dashboard's Test button
 * does so for `messages`) have the `messaging[]` item shape in `value`.
 */
export function normalizeChange(raw: unknown, entry: EntryContext): Notification | Skip {
  if (!isRecord(raw)) return skipOf('not_an_object', 'changes');
  const field = stringAt(raw, 'field');
  const kind = kindName('changes', field);
  if (field === undefined || !isEventType(field)) return skipOf('unknown_field', kind);
  const value = recordAt(raw, 'value');
  if (value === undefined) return skipOf('missing_value', kind);
  let drafted: Notification | Skip | Drafted;
  switch (field) {
    case 'comments':
    case 'live_comments':
      drafted = normalizeComment(value, field, entry);
      break;
    case 'mentions':
      drafted = normalizeMention(value, entry);
      break;
    case 'story_insights':
      drafted = normalizeStoryInsights(value, entry);
      break;
    default:
      drafted = MESSAGING_EVENT_TYPES.has(field)
        ? normalizeMessagingItem(value, entry, { standby: false, list: 'changes', expected: field })
        : 'unknown_field';
  }
  if (typeof drafted === 'string') return skipOf(drafted, kind);
  return isSkip(drafted) ? skipOf(drafted.skip, kind) : drafted;
}
