import type { Notification } from '../notifications/notification.js';

/** Error codes of socket `error` events (SPEC, Socket.IO protocol). */
export type SessionErrorCode =
  | 'not_authenticated'
  | 'invalid_payload'
  | 'invalid_event_type'
  | 'forbidden_account'
  | 'rate_limited'
  | 'unavailable'
  | 'heartbeat_timeout'
  | 'slow_consumer';

export interface ErrorPayload {
  code: SessionErrorCode;
  message: string;
  timestamp: number;
}

export interface AuthSuccessPayload {
  message: 'Authentication successful';
  userId: string;
  accountIds: string[];
  /** The server's HEARTBEAT_TIMEOUT_MS, so that clients pace their heartbeats. */
  heartbeatTimeoutMs: number;
  timestamp: number;
}

export interface AuthFailedPayload {
  reason: string;
  timestamp: number;
}

export interface SubscriptionConfirmedPayload {
  eventTypes: string[];
  accountIds: string[];
  timestamp: number;
}

export interface ConnectionInfoPayload {
  status: 'connected';
  subscriptions: string[];
  accountIds: string[];
  socketId?: string;
  serverTime?: string;
  timestamp: number;
}

export interface HeartbeatResponsePayload {
  timestamp: number;
  serverTime: string;
}

export interface HistoryPayload {
  events: Notification[];
  complete: boolean;
  timestamp: number;
}

export interface ServerShutdownPayload {
  reason: 'Server shutting down';
  timestamp: number;
}

/** Every message the server sends, by event name. */
export interface ServerMessages {
  auth_success: AuthSuccessPayload;
  auth_failed: AuthFailedPayload;
  subscription_confirmed: SubscriptionConfirmedPayload;
  connection_info: ConnectionInfoPayload;
  heartbeat_response: HeartbeatResponsePayload;
  history: HistoryPayload;
  error: ErrorPayload;
  webhook_event: Notification;
  server_shutdown: ServerShutdownPayload;
}

/** The client events of SPEC's table. Payloads are `unknown` until the session core has validated them. */
export const CLIENT_EVENTS = [
  'authenticate',
  'subscribe',
  'unsubscribe',
  'get_subscriptions',
  'test_connection',
  'heartbeat',
  'get_history',
] as const;

export type ClientEvent = (typeof CLIENT_EVENTS)[number];

const CLIENT_EVENT_SET = new Set<string>(CLIENT_EVENTS);
export const isClientEvent = (name: string): name is ClientEvent => CLIENT_EVENT_SET.has(name);

/** What an answer to a client event is: the event the server emits and the payload an ack callback receives too. */
export type Answer = { [E in keyof ServerMessages]: { event: E; payload: ServerMessages[E] } }[keyof ServerMessages];
