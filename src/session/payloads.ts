import { z } from 'zod';

/**
 * zod schemas of client payloads. Unknown keys are tolerated (the guide's clients send extras such as `userId`),
 * wrong types and oversized values are not.
 */

const clientTimestamp = z.union([z.number(), z.string().max(64)]).optional();
const optionalUserId = z.string().max(256).optional();
const eventTypeList = z.array(z.string().min(1).max(64)).min(1).max(32);
const accountIdList = z.array(z.string().min(1).max(64)).min(1).max(1000);

export const authenticatePayload = z.looseObject({
  token: z.string().min(1).max(16_384),
  userId: z.string().min(1).max(256),
  timestamp: clientTimestamp,
});

export const subscribePayload = z.looseObject({
  eventTypes: eventTypeList,
  userId: optionalUserId,
  accountIds: accountIdList.optional(),
  timestamp: clientTimestamp,
});

export const unsubscribePayload = z.looseObject({
  eventTypes: eventTypeList,
  userId: optionalUserId,
  timestamp: clientTimestamp,
});

/**
 * Events whose payload is optional: absent, `null` or an object. `null` because Socket.IO encodes packets as JSON, so
 * a client's `emit(event, undefined, ack)` arrives as `null`.
 */
export const infoPayload = z.looseObject({ userId: optionalUserId, timestamp: clientTimestamp }).nullish();

export const heartbeatPayload = z
  .looseObject({ timestamp: clientTimestamp, clientId: z.string().max(256).optional() })
  .nullish();

export const HISTORY_MAX_LIMIT = 100;
export const HISTORY_DEFAULT_LIMIT = 50;

export const getHistoryPayload = z
  .looseObject({
    eventTypes: eventTypeList.optional(),
    accountIds: accountIdList.optional(),
    since: z.string().min(1).max(512).optional(),
    limit: z.number().int().positive().optional(),
  })
  .nullish();

export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'Invalid payload';
  const where = issue.path.length > 0 ? issue.path.join('.') : 'payload';
  return `Invalid payload: ${where}: ${issue.message}`;
}
