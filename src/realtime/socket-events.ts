import type { z } from 'zod';
import type {
  authenticatePayload,
  getHistoryPayload,
  heartbeatPayload,
  infoPayload,
  subscribePayload,
  unsubscribePayload,
} from '../session/payloads.js';
import type { Notification } from '../notifications/notification.js';
import type { ServerMessages } from '../session/protocol.js';
import type { SessionState } from '../session/state.js';

/**
 * The typed event maps of the Socket.IO protocol, shared by the server and by clients written in TypeScript (the
 * tests use them with socket.io-client). Payload types are the documented shapes; the server still validates them.
 */
type Listener<T> = (payload: T) => void;
type Answer = ServerMessages[Exclude<keyof ServerMessages, 'webhook_event' | 'server_shutdown'>];
type WithAck<T> = (payload: T, ack?: (answer: Answer) => void) => void;

export type ServerToClientEvents = { [E in keyof ServerMessages]: Listener<ServerMessages[E]> };

export interface ClientToServerEvents {
  authenticate: WithAck<z.input<typeof authenticatePayload>>;
  subscribe: WithAck<z.input<typeof subscribePayload>>;
  unsubscribe: WithAck<z.input<typeof unsubscribePayload>>;
  get_subscriptions: WithAck<z.input<typeof infoPayload>>;
  test_connection: WithAck<z.input<typeof infoPayload>>;
  heartbeat: WithAck<z.input<typeof heartbeatPayload>>;
  get_history: WithAck<z.input<typeof getHistoryPayload>>;
}

/** Between instances (cluster mode): a notification for the raw WebSocket clients of the others. */
export interface InterServerEvents {
  notification: (rooms: string[], notification: Notification) => void;
}

/** `socket.data`: the session state, kept serializable for connection state recovery. */
export type SocketData = SessionState;
