import { attachmentsOf } from './attachments.js';
import { compact, draft, type Drafted } from './draft.js';
import type { MessagingInput } from './item-context.js';
import { flagAt, idAt, recordAt, stringAt, valueAt } from './json-fields.js';
import type { JsonRecord } from './json-fields.js';

/** A reply to a story: Meta names the story (`reply_to.story {id, url}`) instead of a message. */
function storyOf(replyTo: JsonRecord | undefined): Record<string, string> | undefined {
  const story = recordAt(replyTo, 'story');
  return compact({ id: idAt(story, 'id'), url: stringAt(story, 'url') });
}

/**
 * `message` → `messages`: inbound DMs, echoes of the account's own messages (`is_echo`), unsends (`is_deleted`),
 * media, shares, story mentions and replies. The id is the `mid`; an unsend carries the original message's `mid`, so
 * its id is `<mid>:deleted` or dedupe would take it for a retry of the message it removes.
 */
export function normalizeMessage(message: JsonRecord, { senderId, ctx }: MessagingInput): Drafted {
  const mid = idAt(message, 'mid');
  if (mid === undefined) return 'missing_id';
  const isDeleted = flagAt(message, 'is_deleted');
  const replyTo = recordAt(message, 'reply_to');
  return draft({
    id: isDeleted ? `${mid}:deleted` : mid,
    eventType: 'messages',
    ctx,
    senderId,
    content: stringAt(message, 'text'),
    details: {
      isEcho: flagAt(message, 'is_echo'),
      isDeleted,
      targetMid: isDeleted ? mid : undefined,
      isUnsupported: flagAt(message, 'is_unsupported'),
      replyTo: idAt(replyTo, 'mid'),
      replyToStory: storyOf(replyTo),
      quickReplyPayload: stringAt(recordAt(message, 'quick_reply'), 'payload'),
      attachments: attachmentsOf(valueAt(message, 'attachments')),
    },
  });
}
