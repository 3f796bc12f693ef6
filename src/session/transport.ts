import type { Transport } from '../observability/metrics.js';
import type { ServerMessages } from './protocol.js';

/** Why the server ends a connection; each transport maps it to its own close (Socket.IO disconnect, WS close code). */
export type CloseReason = 'auth_failed' | 'heartbeat_timeout' | 'rate_limited' | 'slow_consumer' | 'shutdown';

/**
 * What the transport-neutral session core needs of a connection. Socket.IO and raw WebSocket implement it; the
 * protocol (authenticate, subscribe, entitlement, heartbeats, limits) is written once, in `Session`.
 */
export interface SessionTransport {
  readonly kind: Transport;
  readonly id: string;
  send<E extends keyof ServerMessages>(event: E, payload: ServerMessages[E]): void;
  /** Adds the connection to these delivery rooms (none of which it holds). */
  joinRooms(rooms: readonly string[]): void;
  /** Removes the connection from these delivery rooms (all of which it holds). */
  leaveRooms(rooms: readonly string[]): void;
  /** Bytes sent to the connection that the client has not read yet. */
  backlogBytes(): number;
  close(reason: CloseReason): void;
}
