import { Adapter } from 'socket.io-adapter';
import { Socket } from 'socket.io';
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

/**
 * Socket.IO writes a recovered session's missed packets in the socket's constructor, before the connection handler
 * can check the token: a session whose token expired while it was away would be sent what was published after the
 * expiry, then `auth_failed`. Such a session is restored without them; once re-authenticated, the client fetches
 * what it missed with `get_history`. Applies to the adapter in place: re-apply if `io.adapter()` replaces it.
 */
export function withholdReplayFromExpiredSessions(io: IoServer): void {
  const adapter = io.of('/').adapter;
  const restore = adapter.restoreSession.bind(adapter);
  adapter.restoreSession = async (pid, offset) => {
    const session = await restore(pid, offset);
    const expiresAt = (session?.data as SocketData | undefined)?.expiresAt;
    return session && expiresAt !== undefined && expiresAt <= Date.now() ? { ...session, missedPackets: [] } : session;
  };
}
