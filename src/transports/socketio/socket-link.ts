import type { Logger } from '../../observability/logger.js';
import type { SessionTransport } from '../../session/transport.js';
import { backlogBytes, cutConnection } from './engine-internals.js';
import { writeEvent } from './socketio-internals.js';
import type { IoServer, IoSocket } from './types.js';

/** How long a slow consumer's announced disconnect may take to flush before the connection is cut. */
const SLOW_CONSUMER_GRACE_MS = 1000;

/**
 * `auth_success` goes through the adapter, so that it carries a recovery offset: a client that has not received any
 * broadcast yet could not otherwise be recovered (Socket.IO #4888). Every other answer is written straight to the
 * connection (`writeEvent`).
 */
const OFFSET_CARRIERS: ReadonlySet<string> = new Set(['auth_success']);

/**
 * One Socket.IO connection as the session core sees it. A class rather than an object of closures: its methods are
 * shared by every connection, and each connection holds only its three fields (memory per idle connection).
 */
class SocketLink implements SessionTransport {
  readonly kind = 'socketio';
  readonly id: string;

  constructor(
    private readonly io: IoServer,
    private readonly socket: IoSocket,
    private readonly options: { canBroadcast: () => boolean; logger: Logger; clientAddress: string },
  ) {
    this.id = socket.id;
  }

  get clientAddress(): string {
    return this.options.clientAddress;
  }

  send(event: string, payload: unknown): void {
    // While Redis is away a broadcast would wait for it: greet at once without an offset rather than late.
    if (OFFSET_CARRIERS.has(event) && this.options.canBroadcast()) {
      (this.io.to(this.socket.id).emit as (e: string, p: unknown) => boolean)(event, payload);
      return;
    }
    writeEvent(this.socket, event, payload);
  }

  joinRooms(rooms: readonly string[]): void {
    void this.socket.join(rooms as string[]);
  }

  leaveRooms(rooms: readonly string[]): void {
    for (const room of rooms) void this.socket.leave(room);
  }

  backlogBytes(): number {
    return backlogBytes(this.socket, (what) =>
      this.options.logger.error({ missing: what }, 'an Engine.IO internal is gone: slow consumers go undetected'),
    );
  }

  close(reason: Parameters<SessionTransport['close']>[0]): void {
    const socket = this.socket;
    // On shutdown, close the transport rather than the Socket.IO session: the client then reconnects by itself
    // (to another instance), and its session is kept for recovery where the adapter is shared. Every other reason
    // is a deliberate server disconnect, which the client must not undo by reconnecting.
    if (reason === 'shutdown') {
      socket.conn.close();
      return;
    }
    socket.disconnect(true);
    // A client that does not read would hold the closing connection and its backlog: cut it after a short grace.
    if (reason === 'slow_consumer') setTimeout(() => cutConnection(socket), SLOW_CONSUMER_GRACE_MS).unref();
  }
}

export function socketLink(
  io: IoServer,
  socket: IoSocket,
  options: { canBroadcast: () => boolean; logger: Logger; clientAddress: string },
): SessionTransport {
  return new SocketLink(io, socket, options);
}
