import { transports } from 'engine.io';
import type { Socket } from 'socket.io';
import type { Corkable } from '../held-writes.js';
import { type WsInternals, writeWholeFrame } from '../ws-frames.js';

/**
 * The Engine.IO socket's internals read here, in one place. Back-pressure: Socket.IO exposes no per-socket send backlog
 * (TRAPS): on the websocket transport it is the `ws` socket's `bufferedAmount`, plus the packets Engine.IO holds while
 * that socket is still writing; on long-polling, the packets waiting for the client's next poll.
 */
interface EngineInternals {
  readyState?: string;
  transport?: { name?: string; socket?: WsInternals & { bufferedAmount?: number; terminate?: () => void } };
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
  socket?: { _socket?: Corkable };
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

/** The TCP socket under a Socket.IO connection on the websocket transport (none on long-polling). */
export function tcpSocketOf(socket: Socket): Corkable | undefined {
  const conn = socket.conn as unknown as EngineInternals;
  return conn.transport?.name === 'websocket' ? conn.transport.socket?._socket : undefined;
}

/**
 * A broadcast's write to one Socket.IO connection: on the websocket transport its TCP socket is held first (`hold`:
 * the writes leave over the next turns), then the broadcast's whole WebSocket frame (Socket.IO's pre-encoded one) is
 * written straight to it when nothing of the connection's is waiting to be handed to it: an open Engine.IO socket
 * whose write buffer (packets kept while a write is in flight) is empty, and whose `ws` has nothing queued. What is in
 * flight is already in the TCP socket, ahead of this frame. The bytes are exactly those Engine.IO would write, in the
 * same order; what is saved is its per-packet bookkeeping (a packet object, `packetCreate`, `flush` and `drain`
 * events, a write callback). False leaves the write to Engine.IO: no frame, long-polling, an upgrade, packets waiting,
 * a closing socket, or an Engine.IO or `ws` that no longer has these members (`onMissing` is told once).
 */
export function writeBroadcastFrame(
  socket: Socket,
  frame: Buffer | undefined,
  hold: (tcp: Corkable) => void,
  onMissing: (what: string) => void,
): boolean {
  const conn = socket.conn as unknown as EngineInternals;
  const transport = conn.transport;
  if (transport?.name !== 'websocket') return false;
  const ws = transport.socket;
  if (ws?._socket !== undefined) hold(ws._socket);
  if (frame === undefined) return false;
  if (!engineChecked) {
    engineChecked = true;
    if (typeof conn.readyState !== 'string' || !Array.isArray(conn.writeBuffer)) {
      engineMissing = true;
      onMissing('engine.io Socket#readyState, #writeBuffer');
    }
  }
  if (engineMissing || conn.readyState !== 'open' || conn.writeBuffer?.length !== 0) return false;
  return writeWholeFrame(ws, frame, onMissing);
}

let engineChecked = false;
let engineMissing = false;

/** The listener Engine.IO 6.6's `WebSocketResponse` puts on the TCP socket, as its compiled source reads. */
const UPGRADE_RESPONSE_CLOSE = '() => this.emit("close")';

type Listener = ((...args: unknown[]) => void) & { listener?: (...args: unknown[]) => void };

/**
 * Lets the upgrade request go. Engine.IO answers a websocket upgrade with a `WebSocketResponse`, which forwards the TCP
 * socket's `close` to its own listeners (Engine.IO middlewares, which this server has none of); that listener keeps
 * the response, and through it the upgrade request, for the connection's life (about 1 KB each). Removing it frees
 * both. False when the listener is not found (an Engine.IO upgrade changed it: memory only, nothing breaks).
 */
export function releaseUpgradeResponse(socket: Socket): boolean {
  const tcp = tcpSocketOf(socket) as (Corkable & { rawListeners?(event: string): Listener[]; removeListener?(event: string, l: Listener): void }) | undefined;
  for (const listener of tcp?.rawListeners?.('close') ?? []) {
    const fn = listener.listener ?? listener;
    // Only an anonymous arrow can be it: the others' source is not read (one string each, per connection).
    if (fn.name !== '' || String(fn) !== UPGRADE_RESPONSE_CLOSE) continue;
    tcp?.removeListener?.('close', listener);
    return true;
  }
  return false;
}
