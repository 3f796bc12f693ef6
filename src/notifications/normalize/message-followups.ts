import { draft, type Drafted } from './draft.js';
import type { MessagingInput } from './item-context.js';
import { itemDigest } from './item-digest.js';
import { idAt, stringAt, valueAt } from './json-fields.js';
import type { JsonRecord } from './json-fields.js';

/*
 * Events about an existing message (reactions, reads, edits) carry that message's `mid` but no id of their own. Their
 * ids are composites that stay equal across Meta's retries and never equal the target `mid`. Without the `mid` there
 * is nothing to show; a part of the composite missing is not a reason to drop the event: the item's digest stands in.
 */

/** `num_edit`, the edit's ordinal: a non-negative integer, sometimes a numeric string. */
function editNumberOf(message: JsonRecord): number | undefined {
  const raw = valueAt(message, 'num_edit');
  const n = typeof raw === 'string' && /^\d{1,15}$/.test(raw) ? Number(raw) : raw;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * `reaction` → `message_reactions`, id `<mid>:<action>:<senderId>:<timestampMs>` (`<mid>:<action>:<digest>` when the
 * sender or every time is missing): react and unreact of the same message by the same person differ, and so do
 * successive reactions. `content` is the emoji (an unreact has none).
 */
export function normalizeReaction(reaction: JsonRecord, { senderId, ctx, item }: MessagingInput): Drafted {
  const mid = idAt(reaction, 'mid');
  // Meta always sends `action`; a reaction without one is taken as `react`.
  const action = stringAt(reaction, 'action') ?? 'react';
  if (mid === undefined) return 'missing_id';
  const who = senderId !== undefined && ctx.eventMs !== undefined ? `${senderId}:${ctx.eventMs}` : itemDigest(item);
  if (who === undefined) return 'missing_id';
  const emoji = stringAt(reaction, 'emoji');
  return draft({
    id: `${mid}:${action}:${who}`,
    eventType: 'message_reactions',
    ctx,
    senderId,
    content: emoji,
    details: { targetMid: mid, action, reaction: stringAt(reaction, 'reaction'), emoji },
  });
}

/**
 * `read` → `messaging_seen`, id `<mid>:read:<senderId>` (`<mid>:read` without a sender): Instagram reports the last
 * message read (`read.mid`).
 */
export function normalizeRead(read: JsonRecord, { senderId, ctx }: MessagingInput): Drafted {
  const mid = idAt(read, 'mid');
  if (mid === undefined) return 'missing_id';
  return draft({
    id: senderId === undefined ? `${mid}:read` : `${mid}:read:${senderId}`,
    eventType: 'messaging_seen',
    ctx,
    senderId,
    details: { targetMid: mid },
  });
}

/**
 * `message_edit` → `message_edit`, id `<mid>:edit:<num_edit>` (`<mid>:edit:<digest>` without a usable `num_edit`); the
 * new text is `content` when Meta includes it.
 */
export function normalizeEdit(edit: JsonRecord, { senderId, ctx, item }: MessagingInput): Drafted {
  const mid = idAt(edit, 'mid');
  if (mid === undefined) return 'missing_id';
  const numEdit = editNumberOf(edit);
  const which = numEdit ?? itemDigest(item);
  if (which === undefined) return 'missing_id';
  return draft({
    id: `${mid}:edit:${which}`,
    eventType: 'message_edit',
    ctx,
    senderId,
    content: stringAt(edit, 'text'),
    details: { targetMid: mid, numEdit },
  });
}
