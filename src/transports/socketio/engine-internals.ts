import { transports } from 'engine.io';
import type { Socket } from 'socket.io';

/**
 * Engine.IO internals read for back-pressure, in one place. Socket.IO exposes no per-socket send backlog (TRAPS): on
 * the websocket transport it is the `ws` socket's `bufferedAmount`, plus the packets Engine.IO holds while that socket
 * is still writing; on long-polling, the packets waiting for the client's next poll.
 */
/** A TCP socket, as far as holding its writes goes. */
interface Corkable {
  cork(): void;
  uncork(): void;
  readonly destroyed?: boolean;
}

interface EngineInternals {
  transport?: { name?: string; socket?: { bufferedAmount?: number; terminate?: () => void; _socket?: Corkable } };
  writeBuffer?: Array<{ data?: unknown }>;
  close(discard?: boolean): void;
}

let checked = false;

/**
 * Verifies, on the first connection, that the members read here still exist (an Engine.IO upgrade could rename
 * them, and back-pressure would silently read 0): a loud error rather than a slow consumer never caught.
 */
function check(conn: EngineInternals, onMissing: (what: string) => void): void {
  if (checked) return;
  checked = true;
  if (!Array.isArray(conn.writeBuffer)) onMissing('engine.io Socket#writeBuffer');
  if (conn.transport?.name === 'websocket' && typeof conn.transport.socket?.bufferedAmount !== 'number') {
    onMissing('engine.io WebSocket transport#socket.bufferedAmount');
  }
}

/** Bytes written to a Socket.IO connection that the client has not read yet. */
export function backlogBytes(socket: Socket, onMissing: (what: string) => void): number {
  const conn = socket.conn as unknown as EngineInternals;
  check(conn, onMissing);
  let bytes = conn.transport?.name === 'websocket' ? (conn.transport.socket?.bufferedAmount ?? 0) : 0;
  for (const packet of conn.writeBuffer ?? []) {
    const data = packet.data;
    bytes += typeof data === 'string' ? Buffer.byteLength(data) : data instanceof Buffer ? data.byteLength : 0;
  }
  return bytes;
}

/**
 * Cuts a connection at once, whatever it has not sent: a client that does not read would otherwise hold a closing
 * connection and its backlog (Engine.IO waits for the write buffer to drain, `ws` 30 s for the close handshake).
 */
export function cutConnection(socket: Socket): void {
  const conn = socket.conn as unknown as EngineInternals;
  const raw = conn.transport?.name === 'websocket' ? conn.transport.socket : undefined;
  if (raw?.terminate !== undefined) raw.terminate();
  else conn.close(true);
}

/** Engine.IO's websocket transport, as far as `batchFlushedPackets` uses it. */
interface WebSocketTransport {
  send(packets: unknown[]): void;
  socket?: { _socket?: { cork(): void; uncork(): void } };
}

let batching = false;

/**
 * One `writev` for all the packets of a flush, instead of one per packet. While a write is in flight Engine.IO keeps
 * what is emitted to a connection in its write buffer, then sends that buffer frame by frame through `ws`, and each
 * frame is a system call of its own (`ws` corks only the two halves of one frame). When several notifications reach
 * the same socket within one turn (a burst of webhooks), that is most of a server's CPU; corking the TCP socket around
 * the loop hands the kernel every frame at once. Frames, order and callbacks are unchanged. Applied once, to the
 * transport's prototype; fails loudly at start-up if Engine.IO no longer has the members it wraps.
 */
export function batchFlushedPackets(): void {
  if (batching) return;
  const proto = (transports as unknown as Record<string, { prototype: WebSocketTransport } | undefined>).websocket?.prototype;
  if (typeof proto?.send !== 'function') throw new Error('Engine.IO internals this server relies on are gone: transports.websocket#send');
  batching = true;
  const send = proto.send;
  proto.send = function (this: WebSocketTransport, packets) {
    const tcp = packets.length > 1 ? this.socket?._socket : undefined;
    if (tcp === undefined) return send.call(this, packets);
    tcp.cork();
    try {
      send.call(this, packets);
    } finally {
      tcp.uncork();
    }
  };
}

/**
 * Sockets whose held writes are released per turn: about 500 × 12 µs of `writev` (the system call that dominates a
 * fan-out), some 6 ms.
 */
const RELEASE_SLICE = 500;

/**
 * The writes of broadcasts, held and released in slices. A broadcast to 5 000 sockets writes to each of them, and
 * those system calls are two thirds of its cost: done within the broadcast they hold the event loop for about 100 ms
 * (health checks, webhook answers, heartbeats wait). Here each socket's TCP socket is corked as a broadcast reaches it
 * (frames are queued in order, nothing is copied) and uncorked 500 sockets at a time, in the order they were reached:
 * the first ones once the code that broadcast returns, the next a turn each; every frame of the turn to one socket
 * leaves in one `writev`. A socket closed meanwhile drops its
 * held frames as it would its unsent ones (`end()`, a close handshake, sends them first). Deliveries wait while more
 * than a turn's worth is held (`backlogged`), so that what is held never outgrows what the next turns release.
 */
export class HeldWrites {
  readonly #held = new Set<Corkable>();
  #releasing = false;

  /** Whether more sockets' writes are held than the next turn releases. */
  get backlogged(): boolean {
    return this.#held.size > RELEASE_SLICE;
  }

  /** Holds what is written to this connection until its slice is released (long-polling: nothing to hold). */
  hold(socket: Socket): void {
    const conn = socket.conn as unknown as EngineInternals;
    const tcp = conn.transport?.name === 'websocket' ? conn.transport.socket?._socket : undefined;
    if (tcp === undefined || tcp.destroyed === true || this.#held.has(tcp)) return;
    tcp.cork();
    this.#held.add(tcp);
    if (!this.#releasing) {
      this.#releasing = true;
      // The first slice as soon as the code that broadcast returns, the next ones a turn each.
      process.nextTick(this.#releaseSlice);
    }
  }

  readonly #releaseSlice = (): void => {
    let released = 0;
    for (const tcp of this.#held) {
      this.#held.delete(tcp);
      tcp.uncork();
      if (++released === RELEASE_SLICE) break;
    }
    if (this.#held.size > 0) setImmediate(this.#releaseSlice);
    else this.#releasing = false;
  };
}
