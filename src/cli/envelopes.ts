import { randomInt } from 'node:crypto';
import { EVENT_TYPES, type EventType } from '../notifications/notification.js';

/** What the webhook CLI knows about the event it builds. */
export interface EnvelopeInput {
  readonly type: EventType;
  readonly accountId: string;
  readonly text?: string;
  readonly from?: string;
}

/** A fresh numeric id, like Meta's, so that every run is a new event (a repeated id would be a duplicate). */
const freshId = (prefix = '17'): string => `${prefix}${Date.now()}${randomInt(1000, 10_000)}`;
/** A Meta-looking message id: base64 of a fresh id. */
const freshMid = (): string => Buffer.from(`ig_message:${freshId()}`).toString('base64url');

type Change = { field: string; value: Record<string, unknown> };
type Messaging = Record<string, unknown>;

function change(input: EnvelopeInput, from: { id: string; username?: string }): Change {
  const text = input.text ?? 'Hello from the webhook CLI';
  switch (input.type) {
    case 'comments':
    case 'live_comments':
      return {
        field: input.type,
        value: { from, media: { id: freshId('18'), media_product_type: 'FEED' }, id: freshId('18'), text },
      };
    case 'mentions':
      // Meta names nobody in a mention; the text, if wanted, lives on the comment it points to.
      return { field: 'mentions', value: { media_id: freshId('18'), comment_id: freshId('18') } };
    default:
      return { field: 'story_insights', value: { media_id: freshId('18'), impressions: 42, reach: 40, replies: 1, exits: 2 } };
  }
}

function messagingBody(input: EnvelopeInput): Messaging {
  const text = input.text;
  switch (input.type) {
    case 'message_reactions':
      return { reaction: { mid: freshMid(), action: 'react', reaction: 'love', emoji: text ?? '\u2764\ufe0f' } };
    case 'messaging_seen':
      return { read: { mid: freshMid() } };
    case 'messaging_postbacks':
      return { postback: { mid: freshMid(), title: text ?? 'Get started', payload: 'CLI_POSTBACK' } };
    case 'messaging_referral':
      return { referral: { ref: text ?? 'cli_ref', source: 'SHORTLINK', type: 'OPEN_THREAD' } };
    case 'messaging_optins':
      return { optin: { type: 'notification_messages', payload: 'CLI_OPTIN', title: text ?? 'Weekly offers' } };
    case 'messaging_handover':
      return {
        pass_thread_control: { previous_owner_app_id: '1000000000000001', new_owner_app_id: '1000000000000002', metadata: text ?? 'cli' },
      };
    case 'message_edit':
      return { message_edit: { mid: freshMid(), text: text ?? 'Edited from the webhook CLI', num_edit: 1 } };
    default:
      return { message: { mid: freshMid(), text: text ?? 'Hello from the webhook CLI' } };
  }
}

const CHANGE_TYPES = new Set<EventType>(['comments', 'live_comments', 'mentions', 'story_insights']);

/**
 * A Meta envelope `{"object":"instagram","entry":[...]}` carrying one item of `type`: a `changes[]` item for the
 * feed fields, a `messaging[]` item for direct messages. Messaging items name their sender by id only (as Meta does);
 * `from` becomes the username of comment authors.
 */
export function buildEnvelope(input: EnvelopeInput, now = Date.now()): Record<string, unknown> {
  const senderId = freshId('9');
  const entry: Record<string, unknown> = { id: input.accountId, time: Math.floor(now / 1000) };
  if (CHANGE_TYPES.has(input.type)) {
    entry.changes = [change(input, { id: senderId, ...(input.from !== undefined && { username: input.from }) })];
  } else {
    entry.time = now;
    entry.messaging = [{ sender: { id: senderId }, recipient: { id: input.accountId }, timestamp: now, ...messagingBody(input) }];
  }
  return { object: 'instagram', entry: [entry] };
}

export { EVENT_TYPES };
