import type { Server as HttpServer } from 'node:http';
import { Server, type ServerOptions } from 'socket.io';
import type { VerifiedToken } from '../../auth/claims.js';
import type { AuthError } from '../../protocol/errors.js';
import { newSessionState } from '../../session/state.js';
import type { GatewayOptions } from '../gateway-options.js';
import type { Corkable, HeldWrites } from '../held-writes.js';
import { batchFlushedPackets, releaseUpgradeResponse, writeBroadcastFrame } from './engine-internals.js';
import { socketLink } from './socket-link.js';
import { reviewRecovery } from './recovery.js';
import { assertSocketIoInternals, type BroadcastWriter, completeRecovery, takeOverBroadcastWrites } from './socketio-internals.js';
import type { IoServer, IoSocket } from './types.js';

export interface SocketIoGatewayOptions extends GatewayOptions {
  readonly recoveryWindowMs: number;
  /** Cluster mode's adapter (Redis streams); Socket.IO's in-memory one when undefined. */
  readonly adapter: ServerOptions['adapter'] | undefined;
  /** Whether broadcasts go out now; false while Redis is unreachable in cluster mode. */
  readonly canBroadcast: () => boolean;
  /** Where broadcasts' writes wait to leave over the next turns (a large fan-out does not hold the event loop). */
  readonly heldWrites: HeldWrites;
}

/** SPEC: `maxHttpBufferSize` is kept small. */
const MAX_HTTP_BUFFER_SIZE = 100_000;

/** Socket.IO as a thin transport over the session core. */
export function attachSocketIo(httpServer: HttpServer, options: SocketIoGatewayOptions): IoServer {
  const { hub, metrics, logger, admission } = options;
  assertSocketIoInternals();
  batchFlushedPackets();
  const io: IoServer = new Server(httpServer, {
    path: '/socket.io',
    serveClient: true,
    maxHttpBufferSize: MAX_HTTP_BUFFER_SIZE,
    cors: { origin: (origin, cb) => cb(null, admission.isOriginAllowed(origin)), credentials: true },
    // The Engine.IO handshake: a session that never joins the namespace still holds its place for a while.
    allowRequest: (req, cb) => {
      void admission.admit(req, 'handshakes').then((refusal) => cb(refusal?.message ?? null, refusal === undefined));
    },
    // RECOVERY_WINDOW_MS=0 turns recovery off (a zero TTL is also an error for the Redis session store).
    ...(options.recoveryWindowMs > 0 && {
      connectionStateRecovery: { maxDisconnectionDuration: options.recoveryWindowMs, skipMiddlewares: true },
    }),
    ...(options.adapter !== undefined && { adapter: options.adapter }),
  });
  completeRecovery(io, (session, auth) =>
    reviewRecovery(session, auth, (token) => hub.verifier.verify(token), (state) => hub.isRevoked(state)),
  );
  takeOverBroadcastWrites(
    io,
    heldFrameWriter(options.heldWrites, (missing) =>
      logger.error({ missing }, 'broadcasts go through Engine.IO again (its or ws internals changed): more CPU per delivery'),
    ),
  );

  let upgradeResponseMissed = false;
  // The token of a handshake-authenticated socket, between the middleware and the connection handler.
  const handshakeTokens = new WeakMap<IoSocket, VerifiedToken>();

  io.use(async (socket, next) => {
    // The origin was checked at the Engine.IO handshake.
    const refusal = await admission.admit(socket.request, 'connections', false);
    if (refusal !== undefined) return next(new Error(refusal.message));
    const auth = socket.handshake.auth as Record<string, unknown> | undefined;
    const token = auth?.token;
    if (token === undefined) return next();
    try {
      handshakeTokens.set(socket, await hub.verifyHandshake(token, auth?.userId));
      next();
    } catch (err) {
      const message = (err as AuthError).message;
      logger.info(
        { sessionId: socket.id, transport: 'socketio', clientAddress: options.clientAddress(socket.request), reason: message },
        'handshake authentication failed',
      );
      next(Object.assign(new Error(message), { data: { reason: message } }));
    }
  });

  io.on('connection', (socket) => {
    const recovered = socket.recovered;
    if (!recovered) socket.data = newSessionState(Date.now());
    else socket.data.lastActivityAt = Date.now();
    // A recovered socket skipped the middleware: the token it reconnected with is verified and applied by the session.
    const token = (socket.handshake.auth as Record<string, unknown> | undefined)?.token;
    const clientAddress = options.clientAddress(socket.request);
    const link = socketLink(io, socket, { canBroadcast: options.canBroadcast, logger, clientAddress });
    const session = hub.open(socket.data, link, {
      recovered,
      ...(handshakeTokens.has(socket) && { handshake: handshakeTokens.get(socket) as VerifiedToken }),
      ...(recovered && token !== undefined && { recoveryToken: token }),
    });
    handshakeTokens.delete(socket);
    forgetHandshake(socket);
    // On the websocket transport now, or once a long-polling client (socket.io-client's default start) upgrades.
    const releaseUpgrade = () => {
      if (releaseUpgradeResponse(socket) || upgradeResponseMissed) return;
      upgradeResponseMissed = true;
      logger.warn('Engine.IO upgrade responses are kept per connection (its internals changed): about 1 KB each');
    };
    if (socket.conn.transport.name === 'websocket') releaseUpgrade();
    else socket.conn.once('upgrade', releaseUpgrade);
    // `open` may have refused the socket at once (a recovered session whose token expired meanwhile): it is gone, and
    // its `disconnect` fired before the listener below existed, so it must not be counted.
    if (!socket.connected) return;
    metrics.activeConnections.inc({ transport: 'socketio' });
    // Admitted just before shutdown began, and opened after every socket was told: tell this one too.
    if (admission.isDraining()) session.close('shutdown');
    logger.debug({ sessionId: socket.id, transport: 'socketio', clientAddress, recovered }, 'connected');

    socket.onAny((event: string, ...args: unknown[]) => {
      const ack = typeof args.at(-1) === 'function' ? (args.pop() as (payload: unknown) => void) : undefined;
      void session.handle(event, args[0], ack);
    });
    socket.on('disconnect', (reason) => {
      session.dispose();
      metrics.activeConnections.dec({ transport: 'socketio' });
      logger.debug({ sessionId: socket.id, transport: 'socketio', clientAddress, reason }, 'disconnected');
    });
  });
  return io;
}

/**
 * How the gateway writes broadcasts: each socket a broadcast reaches is held (its writes leave over the next turns,
 * `HeldWrites`), then gets the frame the adapter encoded once, as is (`writeBroadcastFrame`); `onMissing` is told
 * (once) if Engine.IO's or `ws`'s internals no longer allow that, and Socket.IO writes instead.
 */
export function heldFrameWriter(heldWrites: HeldWrites, onMissing: (what: string) => void): BroadcastWriter {
  const hold = (tcp: Corkable) => heldWrites.hold(tcp);
  return { write: (socket, frame) => writeBroadcastFrame(socket, frame, hold, onMissing) };
}

/**
 * What was read of the handshake is not kept for the connection's life: the HTTP request Engine.IO holds (Socket.IO's
 * memory-usage advice: a few KiB per connection), its headers and the token in `auth`. Nothing reads them after the
 * connection handler (the client address is computed once, above). Engine.IO's upgrade response keeps a reference to
 * the request until the TCP connection closes (its `close` listener on the socket), so the request is also emptied of
 * its headers and URL: dropping the reference alone would free nothing.
 */
function forgetHandshake(socket: IoSocket): void {
  // Fields are overwritten, never deleted: a `delete` turns the request into a dictionary-mode object, which alone
  // weighs more (1.6 KB) than what it held.
  const request = socket.conn.request as { headers: unknown; rawHeaders: unknown; url: unknown; _query?: unknown } | null;
  if (request !== null) {
    request.headers = NOTHING;
    request.rawHeaders = NO_ITEMS;
    request.url = '';
    if (request._query !== undefined) request._query = undefined;
  }
  (socket.conn as unknown as { request: unknown }).request = null;
  socket.handshake.headers = NOTHING as typeof socket.handshake.headers;
  socket.handshake.auth = NOTHING;
  socket.handshake.url = '';
  socket.handshake.time = '';
}

/** What a forgotten handshake holds instead: one shared empty object and list, not two new ones per connection. */
const NOTHING: Record<string, never> = Object.freeze({});
const NO_ITEMS: readonly never[] = Object.freeze([]);
