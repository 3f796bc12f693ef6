import { z } from 'zod';

/** The event types a client may subscribe to (SPEC, "Known event types"). */
export const EVENT_TYPES = [
  'comments',
  'live_comments',
  'mentions',
  'story_insights',
  'messages',
  'message_reactions',
  'messaging_seen',
  'messaging_postbacks',
  'messaging_referral',
  'messaging_optins',
  'messaging_handover',
  'message_edit',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

const KNOWN = new Set<string>(EVENT_TYPES);
export const isEventType = (value: string): value is EventType => KNOWN.has(value);

/** Instagram ids are digit strings that overflow JSON numbers; ids of ours may carry `:` suffixes. */
const id = z.string().min(1).max(512);

const isoTimestamp = z.iso.datetime({ offset: false, precision: 3 });

/** The normalized event pushed to clients as `webhook_event` (SPEC, "The notification"). */
export const notificationSchema = z.strictObject({
  id,
  eventType: z.enum(EVENT_TYPES),
  accountId: id,
  sender: z.strictObject({ id: id.optional(), username: z.string().max(256).optional() }),
  content: z.string().max(100_000).optional(),
  timestamp: isoTimestamp,
  details: z.record(z.string(), z.unknown()).optional(),
});

export type Notification = z.infer<typeof notificationSchema>;
