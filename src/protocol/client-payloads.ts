import { z } from 'zod';

/**
 * zod schemas of client payloads. Strip mode (`z.object`): a schema reads only the keys it declares, so validating a
 * payload costs what the schema reads, not what was sent (a 100 KB Buffer has 100 000 keys, which `looseObject`
 * would walk and copy). Unknown keys (the guide's clients send extras such as `userId`) are dropped; wrong types and
 * oversized values are refused. Payloads that are not plain objects never reach these schemas (`isPlainPayload`).
 */

const clientTimestamp = z.union([z.number(), z.string().max(64)]).optional();
const optionalUserId = z.string().max(256).optional();

/**
 * A list of at most `max` items whose length is checked before any item is: zod's own `.max()` runs after every
 * element was parsed, so a 100 KB array of 50 000 strings would cost 50 000 parses to refuse.
 */
const boundedList = <T extends z.ZodType>(item: T, max: number) =>
  z
    .custom<unknown[]>((value) => !Array.isArray(value) || value.length <= max, { error: `expected at most ${max} items` })
    .pipe(z.array(item).min(1).max(max));

/** Every known event type fits (SPEC lists 12); unknown ones are answered `invalid_event_type`. */
export const MAX_EVENT_TYPES = 32;
/**
 * Accounts one request may name. With at most 12 known event types it bounds the delivery rooms one connection can
 * hold (accounts × types ≤ 12 000); a token's `accountIds` claim has the same bound.
 */
export const MAX_ACCOUNT_IDS = 1000;

const eventTypeList = boundedList(z.string().min(1).max(64), MAX_EVENT_TYPES);
const accountIdList = boundedList(z.string().min(1).max(64), MAX_ACCOUNT_IDS);

export const authenticatePayload = z.object({
  token: z.string().min(1).max(16_384),
  userId: z.string().min(1).max(256),
  timestamp: clientTimestamp,
});

export const subscribePayload = z.object({
  eventTypes: eventTypeList,
  userId: optionalUserId,
  accountIds: accountIdList.optional(),
  timestamp: clientTimestamp,
});

export const unsubscribePayload = z.object({
  eventTypes: eventTypeList,
  userId: optionalUserId,
  timestamp: clientTimestamp,
});

/**
 * Events whose payload is optional: absent, `null` or an object. `null` because Socket.IO encodes packets as JSON, so
 * a client's `emit(event, undefined, ack)` arrives as `null`.
 */
export const infoPayload = z.object({ userId: optionalUserId, timestamp: clientTimestamp }).nullish();

export const heartbeatPayload = z.object({ timestamp: clientTimestamp, clientId: z.string().max(256).optional() }).nullish();

export const HISTORY_MAX_LIMIT = 100;
export const HISTORY_DEFAULT_LIMIT = 50;

export const getHistoryPayload = z
  .object({
    eventTypes: eventTypeList.optional(),
    accountIds: accountIdList.optional(),
    since: z.string().min(1).max(512).optional(),
    limit: z.number().int().positive().optional(),
  })
  .nullish();

/**
 * Whether a payload may be handed to a schema: absent, `null`, or a plain object (what JSON decodes to). Buffers
 * (Socket.IO decodes binary attachments into them), arrays, class instances are refused at once, whatever their size.
 */
export function isPlainPayload(payload: unknown): boolean {
  if (payload === undefined || payload === null) return true;
  if (typeof payload !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(payload);
  return proto === Object.prototype || proto === null;
}

export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'Invalid payload';
  const where = issue.path.length > 0 ? issue.path.join('.') : 'payload';
  return `Invalid payload: ${where}: ${issue.message}`;
}
