/**
 * The one door between the SDK and the server's protocol definitions. Every protocol type the SDK uses comes from
 * the server's protocol table (src/protocol) through this file, type-only (nothing of the server reaches the SDK's
 * JavaScript), so that the SDK cannot drift from what the server validates and sends.
 *
 * The published declarations (`dist/index.d.ts`) do not import the server: the build prints every type exported
 * here in its resolved, structural form (scripts/protocol-declarations.mjs), so that zod and the server's paths stay
 * out of them.
 */
import type { z } from 'zod';
import type { EventType, Notification } from '../../src/notifications/notification.js';
import type { getHistoryPayload, subscribePayload } from '../../src/protocol/client-payloads.js';
import type { SocketErrorCode } from '../../src/protocol/codes.js';
import type { ServerMessages } from '../../src/protocol/server-messages.js';

export type { EventType, Notification };

/** Codes of the server's `error` event. */
export type SessionErrorCode = SocketErrorCode;
export type AuthSuccessPayload = ServerMessages['auth_success'];
export type AuthFailedPayload = ServerMessages['auth_failed'];
export type SubscriptionConfirmedPayload = ServerMessages['subscription_confirmed'];
export type HeartbeatResponsePayload = ServerMessages['heartbeat_response'];
export type HistoryPayload = ServerMessages['history'];
export type ErrorPayload = ServerMessages['error'];
export type ServerShutdownPayload = ServerMessages['server_shutdown'];

/** What the SDK sends with `subscribe` and `get_history` (the server's zod schemas, as a client writes them). */
export type SubscribeRequest = NonNullable<z.input<typeof subscribePayload>>;
export type HistoryRequest = NonNullable<z.input<typeof getHistoryPayload>>;

/** The server messages, by event name (the raw WebSocket protocol's `type`). */
export type ServerMessageMap = ServerMessages;
