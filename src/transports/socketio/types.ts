import type { Server, Socket } from 'socket.io';
import type { Notification } from '../../notifications/notification.js';
import type { ClientToServerEvents, ServerToClientEvents } from '../../protocol/events.js';
import type { ConnectionEntry } from '../../session/admin-view.js';
import type { SessionState } from '../../session/state.js';

/**
 * Between instances (cluster mode): a notification for the raw WebSocket clients of the others; the admin API's
 * questions to every instance (cluster-admin.ts), answered through the acknowledgement.
 */
export interface InterServerEvents {
  notification: (rooms: string[], notification: Notification) => void;
  list_clients: (answer: (clients: ConnectionEntry[]) => void) => void;
  revoke_user: (userId: string, revokedAt: number, answer: (disconnected: number) => void) => void;
}

/** `socket.data`: the session state, kept serializable for connection state recovery. */
export type SocketData = SessionState;

export type IoServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type IoSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
