// What a card says about a notification: its text when it has one, else a sentence built from its details, so that
// mentions, story insights, reads, handovers and the like say what happened instead of "No text". Pure functions
// (no DOM), shared by the demo page and its tests.

const short = (id) => {
  const text = String(id ?? '');
  return text.length > 14 ? `…${text.slice(-8)}` : text;
};

const METRIC_NAMES = {
  reach: 'reach',
  impressions: 'impressions',
  exits: 'exits',
  replies: 'replies',
  tapsForward: 'taps forward',
  tapsBack: 'taps back',
};

function storyMetrics(metrics) {
  if (typeof metrics !== 'object' || metrics === null) return '';
  return Object.entries(metrics)
    // Meta sends -1 for a metric it could not compute (too few viewers).
    .map(([name, value]) => `${METRIC_NAMES[name] ?? name} ${typeof value === 'number' && value < 0 ? 'n/a' : value}`)
    .join(' · ');
}

function attachmentsSentence(attachments) {
  if (!Array.isArray(attachments) || attachments.length === 0) return '';
  const kinds = attachments.map((a) => {
    if (a?.type === 'story_mention') return 'a story mentioning you';
    if (a?.type === 'ig_post') return a.title ? `a post: “${a.title}”` : 'a post';
    return a?.type ? `a${/^[aeiou]/.test(a.type) ? 'n' : ''} ${a.type}` : 'an attachment';
  });
  return `Sent ${kinds.join(', ')}`;
}

function handoverSentence(d) {
  const meta = d.metadata ? ` (${d.metadata})` : '';
  switch (d.action) {
    case 'pass_thread_control':
      return `Conversation passed from app ${d.previousOwnerAppId ?? '?'} to app ${d.newOwnerAppId ?? '?'}${meta}`;
    case 'take_thread_control':
      return `Conversation taken by app ${d.newOwnerAppId ?? '?'} from app ${d.previousOwnerAppId ?? '?'}${meta}`;
    case 'request_thread_control':
      return `App ${d.requestedOwnerAppId ?? '?'} asks for the conversation${meta}`;
    default:
      return `Conversation control changed${d.action ? `: ${d.action}` : ''}${meta}`;
  }
}

/** Something about the details when no type-specific sentence applies. */
function genericSentence(details) {
  const parts = Object.entries(details)
    .filter(([, value]) => ['string', 'number', 'boolean'].includes(typeof value))
    .slice(0, 4)
    .map(([key, value]) => `${key}: ${typeof value === 'string' ? short(value) : value}`);
  return parts.join(' · ');
}

/**
 * The card's main line and whether it is the sender's own words (`text`) or a description (`description`).
 * @param {{eventType?: string, content?: string, details?: Record<string, unknown>}} n
 * @returns {{ kind: 'text' | 'description', line: string }}
 */
export function describeNotification(n) {
  const d = typeof n?.details === 'object' && n.details !== null ? n.details : {};
  const text = typeof n?.content === 'string' && n.content !== '' ? n.content : undefined;
  const description = (line) => ({ kind: 'description', line });
  switch (n?.eventType) {
    case 'mentions':
      return description(
        d.commentId ? `Mentioned you in a comment on media ${short(d.mediaId)}` : `Mentioned you in media ${short(d.mediaId)}`,
      );
    case 'story_insights': {
      const metrics = storyMetrics(d.metrics);
      return description(`Story ${short(d.mediaId)} insights${metrics ? `: ${metrics}` : ''}`);
    }
    case 'messaging_seen':
      return description(d.targetMid ? `Seen your message ${short(d.targetMid)}` : 'Seen your messages');
    case 'messaging_handover':
      return description(handoverSentence(d));
    case 'message_reactions':
      if (d.action === 'unreact') return description(`Removed a reaction from message ${short(d.targetMid)}`);
      return description(`Reacted ${text ?? d.emoji ?? d.reaction ?? ''} to message ${short(d.targetMid)}`.replace('  ', ' '));
    case 'message_edit':
      return text ? { kind: 'text', line: text } : description(`Edited message ${short(d.targetMid)}`);
    case 'messaging_referral':
      return description(`Opened the conversation from ${d.source ?? 'a link'}${d.ref ? ` (ref ${d.ref})` : ''}`);
    case 'messaging_optins':
      return description(`Opted in to ${d.title ? `“${d.title}”` : 'notifications'}${d.frequency ? ` (${String(d.frequency).toLowerCase()})` : ''}`);
    case 'messaging_postbacks':
      if (text) return { kind: 'text', line: text };
      return description(`Tapped a button${d.payload ? ` (${d.payload})` : ''}`);
    default:
      break;
  }
  if (text) return { kind: 'text', line: text };
  if (d.isDeleted) return description(`Unsent message ${short(d.targetMid)}`);
  if (d.isUnsupported) return description('Sent a message Instagram cannot show here');
  const attachments = attachmentsSentence(d.attachments);
  if (attachments) return description(attachments);
  const generic = genericSentence(d);
  return description(generic || 'No text');
}

/** Small labels for the card: echo, reply, deleted, ... */
export function notificationFlags(n) {
  const d = typeof n?.details === 'object' && n.details !== null ? n.details : {};
  const flags = [];
  if (d.isEcho) flags.push('sent by you');
  if (d.isSelf) flags.push('your account');
  if (d.isTest) flags.push('test');
  if (d.standby) flags.push('standby');
  if (d.parentId || d.replyTo || d.replyToStory) flags.push('reply');
  if (d.isDeleted) flags.push('unsent');
  return flags;
}
