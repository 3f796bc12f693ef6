/**
 * The one door between the SDK and the server's protocol definitions. Every protocol type the SDK uses comes from
 * the server's own modules through this file, type-only (nothing of the server reaches the SDK's JavaScript), so
 * that the SDK cannot drift from what the server validates and sends. When the server's definitions move, this is
 * the only file to re-point.
 *
 * The published declarations (`dist/index.d.ts`) do not import the server: the build prints every type exported
 * here in its resolved, structural form (scripts/protocol-declarations.mjs), so that zod and the server's paths stay
 * out of them.
 */
import type { z } from 'zod';
import type { EventType, Notification } from '../../src/notifications/notification.js';
import type {
  AuthFailedPayload,
  AuthSuccessPayload as ServerAuthSuccessPayload,
  ErrorPayload,
  HeartbeatResponsePayload,
  HistoryPayload,
  ServerShutdownPayload,
  SessionErrorCode,
  SubscriptionConfirmedPayload,
} from '../../src/session/protocol.js';
import type { getHistoryPayload, subscribePayload } from '../../src/session/payloads.js';

export type {
  AuthFailedPayload,
  ErrorPayload,
  EventType,
  HeartbeatResponsePayload,
  HistoryPayload,
  Notification,
  ServerShutdownPayload,
  SessionErrorCode,
  SubscriptionConfirmedPayload,
};

/**
 * `auth_success`. `heartbeatTimeoutMs` (SPEC) is optional here until the server's type declares it: the SDK paces
 * its heartbeats from it when present and falls back to a safe default otherwise.
 */
export type AuthSuccessPayload = ServerAuthSuccessPayload & { heartbeatTimeoutMs?: number };

/** What the SDK sends with `subscribe` and `get_history` (the server's zod schemas, as a client writes them). */
export type SubscribeRequest = NonNullable<z.input<typeof subscribePayload>>;
export type HistoryRequest = NonNullable<z.input<typeof getHistoryPayload>>;

/** The server messages the SDK listens to, by event name (the raw WebSocket protocol's `type`). */
export interface ServerMessageMap {
  auth_success: AuthSuccessPayload;
  auth_failed: AuthFailedPayload;
  subscription_confirmed: SubscriptionConfirmedPayload;
  heartbeat_response: HeartbeatResponsePayload;
  history: HistoryPayload;
  error: ErrorPayload;
  webhook_event: Notification;
  server_shutdown: ServerShutdownPayload;
}
