import type { Notification } from '../notification.js';
import { draft } from './draft.js';
import type { MessagingInput } from './item-context.js';
import { idAt, stringAt, valueAt } from './json-fields.js';
import type { JsonRecord } from './json-fields.js';

/*
 * Events about an existing message (reactions, reads, edits) carry that message's `mid` but no id of their own. Their
 * ids are composites that stay equal across Meta's retries and never equal the target `mid`.
 */

/** `num_edit`, the edit's ordinal: a non-negative integer, sometimes a numeric string. */
function editNumberOf(message: JsonRecord): number | undefined {
  const raw = valueAt(message, 'num_edit');
  const n = typeof raw === 'string' && /^\d{1,15}$/.test(raw) ? Number(raw) : raw;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * `reaction` → `message_reactions`, id `<mid>:<action>:<senderId>:<timestampMs>`: react and unreact of the same
 * message by the same person differ, and so do successive reactions. `content` is the emoji (an unreact has none).
 */
export function normalizeReaction(reaction: JsonRecord, { senderId, ctx }: MessagingInput): Notification | undefined {
  const mid = idAt(reaction, 'mid');
  // Meta always sends `action`; a reaction without one is taken as `react`.
  const action = stringAt(reaction, 'action') ?? 'react';
  if (mid === undefined || senderId === undefined || ctx.eventMs === undefined) return undefined;
  const emoji = stringAt(reaction, 'emoji');
  return draft({
    id: `${mid}:${action}:${senderId}:${ctx.eventMs}`,
    eventType: 'message_reactions',
    ctx,
    senderId,
    content: emoji,
    details: { targetMid: mid, action, reaction: stringAt(reaction, 'reaction'), emoji },
  });
}

/** `read` → `messaging_seen`, id `<mid>:read:<senderId>`: Instagram reports the last message read (`read.mid`). */
export function normalizeRead(read: JsonRecord, { senderId, ctx }: MessagingInput): Notification | undefined {
  const mid = idAt(read, 'mid');
  if (mid === undefined || senderId === undefined) return undefined;
  return draft({
    id: `${mid}:read:${senderId}`,
    eventType: 'messaging_seen',
    ctx,
    senderId,
    details: { targetMid: mid },
  });
}

/** `message_edit` → `message_edit`, id `<mid>:edit:<num_edit>`; the new text is `content` when Meta includes it. */
export function normalizeEdit(edit: JsonRecord, { senderId, ctx }: MessagingInput): Notification | undefined {
  const mid = idAt(edit, 'mid');
  const numEdit = editNumberOf(edit);
  if (mid === undefined || numEdit === undefined) return undefined;
  return draft({
    id: `${mid}:edit:${numEdit}`,
    eventType: 'message_edit',
    ctx,
    senderId,
    content: stringAt(edit, 'text'),
    details: { targetMid: mid, numEdit },
  });
}
