import type { RoomLink } from '../delivery/room-membership.js';
import type { ServerDisconnect, Transport } from '../protocol/codes.js';
import type { ServerMessageName, ServerMessages } from '../protocol/server-messages.js';

/**
 * What the transport-neutral session core needs of a connection. Socket.IO and raw WebSocket implement it; the
 * protocol (authenticate, subscribe, entitlement, heartbeats, limits) is written once, in `Session`.
 */
export interface SessionTransport extends RoomLink {
  readonly kind: Transport;
  readonly id: string;
  /** The client's address (honouring TRUST_PROXY), for log lines about the connection. */
  readonly clientAddress: string;
  send<E extends ServerMessageName>(event: E, payload: ServerMessages[E]): void;
  /** Bytes sent to the connection that the client has not read yet. */
  backlogBytes(): number;
  /** Ends the connection as its transport does for that reason (the session has already said its last words). */
  close(reason: ServerDisconnect): void;
}
