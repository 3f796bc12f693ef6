import type { Server, Socket } from 'socket.io';
import type { Notification } from '../../notifications/notification.js';
import type { ClientToServerEvents, ServerToClientEvents } from '../../protocol/events.js';
import type { SessionState } from '../../session/state.js';

/** Between instances (cluster mode): a notification for the raw WebSocket clients of the others. */
export interface InterServerEvents {
  notification: (rooms: string[], notification: Notification) => void;
}

/** `socket.data`: the session state, kept serializable for connection state recovery. */
export type SocketData = SessionState;

export type IoServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type IoSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
