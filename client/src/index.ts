/**
 * @instantchat/client: the typed client of the InstantChat notification server, for browsers and Node.js.
 *
 * ```js
 * import { createNotificationClient } from '@instantchat/client';
 * const client = createNotificationClient({ url, getToken, eventTypes: ['comments', 'messages'] });
 * client.on('notification', (n) => render(n));
 * ```
 */
export { createNotificationClient, AnswerError } from './notification-client.js';
export { decodeToken, type DecodedToken } from './token.js';
export type {
  ClientError,
  ClientErrorCode,
  ClientEvents,
  ClientOptions,
  ClientState,
  Frame,
  GapInfo,
  NotificationClient,
} from './options.js';
export type {
  AuthFailedPayload,
  AuthSuccessPayload,
  ErrorPayload,
  EventType,
  HistoryPayload,
  HistoryRequest,
  Notification,
  SessionErrorCode,
  SubscriptionConfirmedPayload,
} from './protocol.js';
export type { TransportKind } from './transports/transport.js';
export type { WebSocketConstructor, WebSocketLike } from './transports/websocket-transport.js';
