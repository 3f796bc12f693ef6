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

type SessionFactory = { _createSocket(client: unknown, auth: Record<string, unknown>): Promise<unknown> };

/**
 * Lets `review` see, and change, a session the adapter restores, together with the reconnecting client's handshake
 * `auth` (its fresh token, say). Socket.IO writes a recovered session's missed packets in the socket's constructor,
 * before any middleware or connection handler runs: this is the only point where what is replayed can still be
 * decided. `Namespace#_createSocket` (which has the handshake) calls `Adapter#restoreSession` (which has the session):
 * the first is wrapped to hand the handshake to the second. Applies to the adapter in place: re-apply if
 * `io.adapter()` replaces it.
 */
export function reviewRestoredSessions(
  io: IoServer,
  review: (session: RestoredSession, auth: Record<string, unknown> | undefined) => Promise<RestoredSession | null>,
): void {
  const nsp = io.of('/') as unknown as SessionFactory;
  const adapter = io.of('/').adapter;
  const handshakes = new Map<string, Record<string, unknown>>();
  const create = nsp._createSocket.bind(nsp);
  nsp._createSocket = async (client, auth) => {
    const pid = typeof auth?.pid === 'string' ? auth.pid : undefined;
    if (pid !== undefined) handshakes.set(pid, auth);
    try {
      return await create(client, auth);
    } finally {
      if (pid !== undefined) handshakes.delete(pid);
    }
  };
  const restore = adapter.restoreSession.bind(adapter);
  adapter.restoreSession = async (pid, offset) => {
    const session = await restore(pid, offset);
    // `null` is the adapter's own "no such session" (its type says otherwise): the client connects afresh.
    return (session ? await review(session, handshakes.get(pid)) : session) as RestoredSession;
  };
}

export type { SocketData };
