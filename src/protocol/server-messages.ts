import { z } from 'zod';
import { EVENT_TYPES, notificationSchema } from '../notifications/notification.js';
import { AUTH_FAILURES, SHUTDOWN_SENTENCE, SOCKET_ERROR_CODES } from './codes.js';

/**
 * What the server sends, as schemas: the source of the server's types, the client SDK's types and the AsyncAPI
 * document. The server builds these payloads itself and does not validate them at run time.
 */

const serverTimestamp = z.number().int().describe("The server's Date.now() in milliseconds");
const accountIds = z
  .array(z.string())
  .describe('Instagram account ids: the list the socket receives notifications of, or ["*"] for every account');

export const SERVER_MESSAGES = {
  auth_success: z.object({
    message: z.literal('Authentication successful'),
    userId: z.string(),
    accountIds,
    heartbeatTimeoutMs: z
      .number()
      .int()
      .describe("The server's HEARTBEAT_TIMEOUT_MS: a socket silent for longer is disconnected; send heartbeats well inside it"),
    timestamp: serverTimestamp,
  }),
  auth_failed: z.object({
    reason: z.enum(Object.values(AUTH_FAILURES) as [string, ...string[]]),
    timestamp: serverTimestamp,
  }),
  subscription_confirmed: z.object({
    eventTypes: z.array(z.enum(EVENT_TYPES)).describe('Every event type now held'),
    accountIds,
    timestamp: serverTimestamp,
  }),
  connection_info: z.object({
    status: z.literal('connected'),
    subscriptions: z.array(z.enum(EVENT_TYPES)),
    accountIds,
    socketId: z.string().optional().describe('test_connection only'),
    serverTime: z.string().optional().describe('test_connection only: ISO 8601'),
    timestamp: serverTimestamp,
  }),
  heartbeat_response: z.object({ timestamp: serverTimestamp, serverTime: z.string().describe('ISO 8601') }),
  history: z.object({
    events: z.array(notificationSchema).describe('Oldest first, in arrival order'),
    complete: z
      .boolean()
      .describe('False when `since` is no longer kept or notifications after it were dropped: some may have been missed'),
    timestamp: serverTimestamp,
  }),
  error: z.object({ code: z.enum(SOCKET_ERROR_CODES), message: z.string(), timestamp: serverTimestamp }),
  webhook_event: notificationSchema,
  server_shutdown: z.object({ reason: z.literal(SHUTDOWN_SENTENCE), timestamp: serverTimestamp }),
} as const;

export type ServerMessageName = keyof typeof SERVER_MESSAGES;
export type ServerMessages = { [E in ServerMessageName]: z.output<(typeof SERVER_MESSAGES)[E]> };
