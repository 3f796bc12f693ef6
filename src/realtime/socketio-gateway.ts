import type { Server as HttpServer } from 'node:http';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import type { VerifiedToken } from '../auth/claims.js';
import { AuthError } from '../auth/token-verifier.js';
import { newSessionState } from '../session/state.js';
import type { GatewayOptions } from '../session/gateway-options.js';
import type { CloseReason, SessionTransport } from '../session/transport.js';
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData } from './socket-events.js';
import { backlogBytes, cutConnection } from './slow-consumers.js';

export type IoServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type IoSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface SocketIoGatewayOptions extends GatewayOptions {
  readonly recoveryWindowMs: number;
  /** Cluster mode's adapter (Redis streams); Socket.IO's in-memory adapter when undefined. */
  readonly adapter: ServerOptions['adapter'] | undefined;
  /** Whether broadcasts go out now; false while Redis is unreachable in cluster mode. */
  readonly canBroadcast: () => boolean;
}

/** SPEC: `maxHttpBufferSize` is kept small. */
const MAX_HTTP_BUFFER_SIZE = 100_000;
/** How long a slow consumer's announced disconnect may take to flush before the connection is cut. */
const SLOW_CONSUMER_GRACE_MS = 1000;

/** Socket.IO as a thin transport over the session core. */
export function attachSocketIo(httpServer: HttpServer, options: SocketIoGatewayOptions): IoServer {
  const { hub, metrics, logger, origins } = options;
  const io: IoServer = new Server(httpServer, {
    path: '/socket.io',
    serveClient: true,
    maxHttpBufferSize: MAX_HTTP_BUFFER_SIZE,
    cors: { origin: (origin, cb) => cb(null, origins.isAllowed(origin)), credentials: true },
    // CORS headers do not protect WebSocket upgrades: check the Origin of every handshake request.
    allowRequest: (req, cb) => {
      if (options.isDraining()) return cb('Server shutting down', false);
      if (!origins.isAllowed(req.headers.origin, req)) return cb('Origin not allowed', false);
      if (options.handshakeLimiter === undefined) return cb(null, true);
      options.handshakeLimiter.consume(options.clientAddress(req)).then(
        () => cb(null, true),
        () => cb('Too many connection attempts', false),
      );
    },
    // RECOVERY_WINDOW_MS=0 turns recovery off (a zero TTL is also an error for the Redis session store).
    ...(options.recoveryWindowMs > 0 && {
      connectionStateRecovery: { maxDisconnectionDuration: options.recoveryWindowMs, skipMiddlewares: true },
    }),
    ...(options.adapter !== undefined && { adapter: options.adapter }),
  });
  withholdReplayFromExpiredSessions(io);

  // The token of a handshake-authenticated socket, between the middleware and the connection handler.
  const handshakeTokens = new WeakMap<IoSocket, VerifiedToken>();

  io.use(async (socket, next) => {
    if (options.isDraining()) return next(new Error('Server shutting down'));
    if (options.connectLimiter !== undefined) {
      try {
        await options.connectLimiter.consume(options.clientAddress(socket.request));
      } catch {
        return next(new Error('Too many connection attempts'));
      }
    }
    const auth = socket.handshake.auth as Record<string, unknown> | undefined;
    const token = auth?.token;
    if (token === undefined) return next();
    try {
      handshakeTokens.set(socket, hub.verifyHandshake(token, auth?.userId));
      next();
    } catch (err) {
      const reason = err instanceof AuthError ? err.reason : 'Invalid token';
      logger.info({ socketId: socket.id, reason }, 'handshake authentication failed');
      next(Object.assign(new Error(reason), { data: { reason } }));
    }
  });

  io.on('connection', (socket) => {
    const recovered = socket.recovered;
    if (!recovered) socket.data = newSessionState(Date.now());
    else socket.data.lastActivityAt = Date.now();
    const session = hub.open(socket.data, socketLink(io, socket, options.canBroadcast), {
      recovered,
      ...(handshakeTokens.has(socket) && { handshake: handshakeTokens.get(socket) as VerifiedToken }),
    });
    handshakeTokens.delete(socket);
    // `open` may have refused the socket at once (a recovered session whose token expired meanwhile): it is gone, and
    // its `disconnect` fired before the listener below existed, so it must not be counted.
    if (!socket.connected) return;
    metrics.activeConnections.inc({ transport: 'socketio' });
    // Admitted just before shutdown began, and opened after every socket was told: tell this one too.
    if (options.isDraining()) {
      session.send('server_shutdown', { reason: 'Server shutting down', timestamp: Date.now() });
      session.close('shutdown');
    }
    logger.debug({ socketId: socket.id, recovered }, 'socket connected');

    socket.onAny((event: string, ...args: unknown[]) => {
      const ack = typeof args.at(-1) === 'function' ? (args.pop() as (payload: unknown) => void) : undefined;
      void session.handle(event, args[0], ack);
    });
    socket.on('disconnect', (reason) => {
      session.dispose();
      metrics.activeConnections.dec({ transport: 'socketio' });
      logger.debug({ socketId: socket.id, reason }, 'socket disconnected');
    });
  });

  return io;
}

/**
 * Socket.IO writes a recovered session's missed packets in the socket's constructor, before the connection handler
 * can check the token: a session whose token expired while it was away would be sent what was published after the
 * expiry, then `auth_failed`. Such a session is restored without them; once re-authenticated, the client fetches
 * what it missed with `get_history`. Applies to the adapter in place: re-apply if `io.adapter()` replaces it.
 */
function withholdReplayFromExpiredSessions(io: IoServer): void {
  const adapter = io.of('/').adapter;
  const restore = adapter.restoreSession.bind(adapter);
  adapter.restoreSession = async (pid, offset) => {
    const session = await restore(pid, offset);
    const expiresAt = (session?.data as SocketData | undefined)?.expiresAt;
    return session && expiresAt !== undefined && expiresAt <= Date.now() ? { ...session, missedPackets: [] } : session;
  };
}

/**
 * `auth_success` goes through the adapter, so that it carries a recovery offset: a client that has not received any
 * broadcast yet could not otherwise be recovered (Socket.IO #4888). Every other answer is written straight to the
 * connection. With connection state recovery on, Socket.IO's own `socket.emit` goes through the adapter too
 * (socket.io 4.8 `Socket.emit`): every answer would be kept for replay (heartbeats from every client would make a
 * reconnect storm quadratic, and a goodbye would be replayed to the recovered client), and in cluster mode each one
 * would wait for a Redis write, so that `auth_failed` or `server_shutdown` would arrive after the disconnect, and
 * nothing at all while Redis is away.
 */
const OFFSET_CARRIERS: ReadonlySet<string> = new Set(['auth_success']);

/** Engine-level write of one event packet (socket.io-parser's EVENT type), bypassing the adapter. */
const EVENT_PACKET = 2;
type DirectSocket = { packet(packet: { type: number; data: unknown[] }): void };

function socketLink(io: IoServer, socket: IoSocket, canBroadcast: () => boolean): SessionTransport {
  return {
    kind: 'socketio',
    id: socket.id,
    send(event, payload) {
      // While Redis is away a broadcast would wait for it: greet at once without an offset rather than late.
      if (OFFSET_CARRIERS.has(event) && canBroadcast()) {
        (io.to(socket.id).emit as (e: string, p: unknown) => boolean)(event, payload);
        return;
      }
      (socket as unknown as DirectSocket).packet({ type: EVENT_PACKET, data: [event, payload] });
    },
    joinRooms(rooms) {
      void socket.join(rooms as string[]);
    },
    leaveRooms(rooms) {
      for (const room of rooms) void socket.leave(room);
    },
    backlogBytes: () => backlogBytes(socket),
    close(reason: CloseReason) {
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
    },
  };
}
