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
  /** Makes the connection a member of exactly these delivery rooms. */
  setRooms(rooms: ReadonlySet<string>): void;
  close(reason: CloseReason): void;
}
