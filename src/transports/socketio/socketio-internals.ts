import { Adapter } from 'socket.io-adapter';
import { Namespace, Socket } from 'socket.io';
import type { IoServer, IoSocket, SocketData } from './types.js';

/**
 * Socket.IO internals this server relies on, in one place, each checked at start-up (`assertSocketIoInternals`) so
 * that an upgrade that renames one fails loudly instead of breaking recovery or answers silently.
 */
type DirectSocket = { packet(packet: { type: number; data: unknown[] }): void };

/** socket.io-parser's EVENT packet type. */
const EVENT_PACKET = 2;

export function assertSocketIoInternals(): void {
  const missing = [
    typeof (Socket.prototype as unknown as Partial<DirectSocket>).packet !== 'function' && 'socket.io Socket#packet',
    typeof Adapter.prototype.restoreSession !== 'function' && 'socket.io-adapter Adapter#restoreSession',
    typeof (Namespace.prototype as unknown as Partial<SessionFactory>)._createSocket !== 'function' &&
      'socket.io Namespace#_createSocket',
    typeof (Adapter.prototype as unknown as Partial<AdapterInternals>).apply !== 'function' && 'socket.io-adapter Adapter#apply',
    typeof (Adapter.prototype as unknown as Partial<AdapterInternals>)._encode !== 'function' && 'socket.io-adapter Adapter#_encode',
  ].filter((name): name is string => typeof name === 'string');
  if (missing.length > 0) throw new Error(`Socket.IO internals this server relies on are gone: ${missing.join(', ')}`);
}

/**
 * Writes one event packet to the connection, bypassing the adapter. With connection state recovery on, Socket.IO's
 * own `socket.emit` goes through the adapter (socket.io 4.8 `Socket.emit`): every answer would be kept for replay
 * (heartbeats from every client would make a reconnect storm quadratic, and a goodbye would be replayed to the
 * recovered client), and in cluster mode each would wait for a Redis write, so that `auth_failed` or
 * `server_shutdown` would arrive after the disconnect, and nothing at all while Redis is away.
 */
export function writeEvent(socket: IoSocket, event: string, payload: unknown): void {
  (socket as unknown as DirectSocket).packet({ type: EVENT_PACKET, data: [event, payload] });
}

/** A session Socket.IO's adapter restores for a reconnecting client: its data, rooms and missed packets. */
export type RestoredSession = NonNullable<Awaited<ReturnType<Adapter['restoreSession']>>>;

/** What a review decides of a restored session: the session to restore (or none), and which packets it may get. */
export interface RecoveryReview {
  readonly session: RestoredSession | null;
  /** Whether a packet (an emit's argument list) may reach this session: applied to the replay and the window alike. */
  readonly admits: (packet: readonly unknown[]) => boolean;
}

type SessionFactory = { _createSocket(client: unknown, auth: Record<string, unknown>): Promise<unknown> };
type BroadcastOptions = { rooms: Set<string>; except?: Set<string> };
type ApplyCallback = (socket: unknown) => void;
type PacketLike = { data?: unknown[]; id?: number };
/** The options `Adapter#_encode` completes: the packet's whole WebSocket frame, when it is one text frame. */
type PacketOptions = { wsPreEncodedFrame?: Buffer[] } | undefined;
type OutgoingListeners = { notifyOutgoingListeners(packet: PacketLike): void };
interface AdapterInternals {
  apply(opts: BroadcastOptions, callback: ApplyCallback): void;
  _encode(packet: PacketLike, packetOpts: PacketOptions): unknown;
}

/** One reconnection being restored: its handshake, what was replayed, and the broadcasts applied meanwhile. */
interface Restoration {
  readonly auth: Record<string, unknown>;
  replayed: Set<string>;
  admits: (packet: readonly unknown[]) => boolean;
  readonly window: Array<{ packet: PacketLike; opts: BroadcastOptions; deliver: ApplyCallback }>;
}

/** A stream offset as the Redis streams adapter appends it to a broadcast packet's data (`<ms>-<seq>`). */
const OFFSET = /^\d+-\d+$/;
const offsetOf = (data: readonly unknown[] | undefined): string | undefined => {
  const last = data?.at(-1);
  return typeof last === 'string' && OFFSET.test(last) ? last : undefined;
};

/**
 * Recovery, completed. Socket.IO restores a reconnecting client's session in `Namespace#_createSocket`: the adapter
 * reads what the client missed (`Adapter#restoreSession`; in cluster mode, from the Redis stream), then the socket is
 * built, which rejoins its rooms and replays what was read. A broadcast applied between the read and the rejoin
 * reaches neither the replay nor the rooms, and is lost (cluster mode under load: test/recovery-under-load.test.ts).
 * So, while a session is being restored, every broadcast the adapter applies to rooms (`Adapter#apply`, with the
 * packet `Adapter#_encode` just encoded) is also kept, and once the socket is built each one it should have had and was
 * not replayed (by stream offset) is delivered to it, before it is connected, in order.
 *
 * `review` sees, and may change, the session with the reconnecting client's handshake `auth` (a fresh token): this is
 * the only point where what is replayed can still be decided, since the socket's constructor writes it. Applies to the
 * adapter in place: re-apply if `io.adapter()` replaces it.
 */
export function completeRecovery(
  io: IoServer,
  review: (session: RestoredSession, auth: Record<string, unknown> | undefined) => Promise<RecoveryReview>,
): void {
  const nsp = io.of('/') as unknown as SessionFactory;
  const adapter = io.of('/').adapter;
  const restorations = new Map<string, Restoration>();

  aroundApply(io, (packet, opts, callback, apply) => {
    apply(opts, callback);
    if (restorations.size === 0 || packet === undefined || opts.rooms.size === 0) return;
    for (const restoration of restorations.values()) restoration.window.push({ packet, opts, deliver: callback });
  });

  const create = nsp._createSocket.bind(nsp);
  nsp._createSocket = async (client, auth) => {
    const pid = typeof auth?.pid === 'string' ? auth.pid : undefined;
    if (pid === undefined) return create(client, auth);
    const restoration: Restoration = { auth, replayed: new Set(), admits: () => true, window: [] };
    restorations.set(pid, restoration);
    try {
      const socket = (await create(client, auth)) as IoSocket;
      if (socket.recovered) {
        for (const { packet, opts, deliver } of restoration.window) {
          const offset = offsetOf(packet.data);
          if (offset !== undefined && restoration.replayed.has(offset)) continue;
          if (!reaches(socket.rooms, opts) || !restoration.admits(packet.data ?? [])) continue;
          deliver(socket);
        }
      }
      return socket;
    } finally {
      restorations.delete(pid);
    }
  };

  const restore = adapter.restoreSession.bind(adapter);
  adapter.restoreSession = async (pid, offset) => {
    const session = await restore(pid, offset);
    const restoration = restorations.get(pid);
    // `null` is the adapter's own "no such session" (its type says otherwise): the client connects afresh.
    if (!session) return session;
    const reviewed = await review(session, restoration?.auth);
    if (restoration !== undefined) {
      restoration.admits = reviewed.admits;
      for (const packet of reviewed.session?.missedPackets ?? []) {
        const replayed = offsetOf(packet);
        if (replayed !== undefined) restoration.replayed.add(replayed);
      }
    }
    return reviewed.session as RestoredSession;
  };
}

/** What writes broadcasts to the sockets they reach, in place of Socket.IO. */
export interface BroadcastWriter {
  /**
   * Called with every socket a broadcast reaches (in cluster mode, also for what other instances broadcast), and the
   * broadcast's whole WebSocket frame when it has one: true when it wrote the frame itself, false to leave the write to
   * Socket.IO.
   */
  write(socket: IoSocket, frame: Buffer | undefined): boolean;
}

/**
 * Takes over the per-socket writes of broadcasts. The adapter encodes a broadcast once, WebSocket frame included
 * (`wsPreEncodedFrame`), then hands it to each socket through Socket.IO's and Engine.IO's write path: a packet object,
 * four events and a write callback per socket, about a third of a fan-out's CPU. `writer.write` may write the frame
 * straight away instead; what it declines goes Socket.IO's way, and so does a packet that is not one text frame or
 * that expects acks (given no frame). `onAnyOutgoing` listeners are told either way.
 */
export function takeOverBroadcastWrites(io: IoServer, writer: BroadcastWriter): void {
  aroundApply(io, (packet, opts, callback, apply, preEncoded) => {
    if (packet === undefined) return apply(opts, callback);
    // Broadcasts with acks (`io.timeout(…).emit`) register each socket's ack in Socket.IO's write: theirs stay there.
    const frame =
      preEncoded === undefined || packet.id !== undefined
        ? undefined
        : preEncoded.length === 1
          ? preEncoded[0]
          : Buffer.concat(preEncoded);
    apply(opts, (socket) => {
      if (!writer.write(socket as IoSocket, frame)) return callback(socket);
      (socket as Partial<OutgoingListeners>).notifyOutgoingListeners?.(packet);
    });
  });
}

/**
 * Wraps the adapter's `apply` with `around`, which is given the packet a broadcast just encoded (and its WebSocket
 * frame, when the adapter made one) and must call `apply` itself. `Adapter#broadcast` encodes, then applies: the
 * packet encoded last is that apply's; the other callers (fetching, joining or disconnecting sockets) encode nothing,
 * and get `undefined`. Applies to the adapter in place.
 */
function aroundApply(
  io: IoServer,
  around: (
    packet: PacketLike | undefined,
    opts: BroadcastOptions,
    callback: ApplyCallback,
    apply: AdapterInternals['apply'],
    frame: Buffer[] | undefined,
  ) => void,
): void {
  const adapter = io.of('/').adapter;
  const internals = adapter as unknown as AdapterInternals;
  let encoded: PacketLike | undefined;
  let encodedOptions: PacketOptions | undefined;
  const encode = internals._encode.bind(adapter);
  internals._encode = (packet, packetOpts) => {
    encoded = packet;
    encodedOptions = packetOpts;
    return encode(packet, packetOpts);
  };
  const apply = internals.apply.bind(adapter);
  internals.apply = (opts, callback) => {
    const packet = encoded;
    // Read after `_encode` returned: the adapter sets the frame on the options it was given.
    const frame = encodedOptions?.wsPreEncodedFrame;
    encoded = undefined;
    encodedOptions = undefined;
    around(packet, opts, callback, apply, frame);
  };
}

/** Whether a broadcast to `opts` reaches a socket in `rooms` (Socket.IO's own rule). */
function reaches(rooms: ReadonlySet<string>, opts: BroadcastOptions): boolean {
  const included = [...opts.rooms].some((room) => rooms.has(room));
  return included && ![...(opts.except ?? [])].some((room) => rooms.has(room));
}

export type { SocketData };
