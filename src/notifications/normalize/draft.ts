import type { EventType, Notification } from '../notification.js';
import type { ItemContext } from './item-context.js';
import type { SkipReason } from './skips.js';

/** What a kind normalizer makes of its item: the notification, or why there is none. */
export type Drafted = Notification | SkipReason;

/** What a kind normalizer decides; the shared parts come from its `ItemContext`. */
export interface DraftParts {
  readonly id: string;
  readonly eventType: EventType;
  readonly ctx: ItemContext;
  readonly senderId?: string | undefined;
  readonly username?: string | undefined;
  readonly content?: string | undefined;
  /** Candidate details; `undefined` values are dropped. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** A copy without the `undefined` values, or `undefined` when nothing is left. */
export function compact<T>(fields: Readonly<Record<string, T | undefined>>): Record<string, T> | undefined {
  const out: Record<string, T> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) out[key] = value;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The notification, with optional keys omitted rather than set to `undefined`: the schema is strict and clients (and
 * deep-equal tests) see the difference. It is still checked against `notificationSchema` before it leaves.
 */
export function draft(parts: DraftParts): Notification {
  const notification: Notification = {
    id: parts.id,
    eventType: parts.eventType,
    accountId: parts.ctx.accountId,
    sender: compact({ id: parts.senderId, username: parts.username }) ?? {},
    timestamp: parts.ctx.timestamp,
  };
  if (parts.content !== undefined && parts.content.length > 0) notification.content = parts.content;
  const details = compact({ ...parts.details, ...parts.ctx.flags });
  if (details !== undefined) notification.details = details;
  return notification;
}
