import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { createTokenVerifier } from '../auth/token-verifier.js';
import { createBackend } from '../cluster/backend.js';
import type { Config } from '../config/config.js';
import { createBroadcaster } from '../delivery/broadcaster.js';
import { createApp } from '../http/app.js';
import { createClientAddress, createClientKey } from '../http/client-address.js';
import { createOriginPolicy } from '../http/origins.js';
import type { Notification } from '../notifications/notification.js';
import type { Logger } from '../observability/logger.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { attachSocketIo, type IoServer } from '../realtime/socketio-gateway.js';
import { SessionHub } from '../session/session-hub.js';
import { attachWebSocket } from '../ws/ws-gateway.js';
import { createIngestor } from '../webhooks/ingest.js';
import { trackConnections } from './connections.js';
import { HTTP_SERVER_LIMITS } from './http-limits.js';

export interface NotificationServer {
  readonly config: Config;
  readonly httpServer: HttpServer;
  readonly io: IoServer;
  readonly hub: SessionHub;
  readonly metrics: Metrics;
  /** Listens on `config.port`/`config.host` (port 0: any free port) and resolves with the address. */
  listen(): Promise<AddressInfo>;
  /**
   * Graceful drain: readiness turns 503 at once, new sockets are refused, every socket is told `server_shutdown` and
   * disconnected, in-flight requests finish, then the listener closes and every timer is cleared.
   */
  stop(): Promise<void>;
}

/** How long the end of a drain waits for connections to close by themselves before cutting them. */
const CLOSE_GRACE_MS = 1000;
/** Longest wait for in-flight requests before sockets are told to go (and at most half of SHUTDOWN_TIMEOUT_MS). */
const MAX_REQUEST_DRAIN_MS = 5000;

/** Resolves when `promise` settles or after `ms`, whichever comes first; never rejects. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** The app factory: builds every part from its dependencies without listening, so tests run it on port 0. */
export function createNotificationServer(config: Config, logger: Logger): NotificationServer {
  const startedAt = Date.now();
  const metrics = createMetrics();
  let draining = false;

  const backend = createBackend(config, logger);
  const { history, dedupe } = backend;
  const hub = new SessionHub({
    verifier: createTokenVerifier(config.jwt),
    history,
    metrics,
    logger,
    authTimeoutMs: config.authTimeoutMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    heartbeatSweepMs: config.heartbeatSweepMs,
    maxConnectionsPerUser: config.maxConnectionsPerUser,
    socketEventRateLimit: config.socketEventRateLimit,
  });

  // Engine.IO wraps the 'request' listeners present when it attaches and passes them only what is not /socket.io;
  // the Express app, built later (it needs the publisher), is reached through this one.
  const httpServer = createServer(HTTP_SERVER_LIMITS, (req: IncomingMessage, res: ServerResponse) => app(req, res));
  const connections = trackConnections(httpServer);
  const perMinute = (points: number) =>
    config.connectRateLimit > 0 ? new RateLimiterMemory({ points, duration: 60 }) : undefined;
  const connectLimiter = perMinute(config.connectRateLimit);
  const handshakeLimiter = perMinute(config.connectRateLimit * 2);
  const edge = {
    hub,
    metrics,
    logger,
    origins: createOriginPolicy(config.clientOrigins),
    clientAddress: createClientAddress(config.trustProxy),
    clientKey: createClientKey(config.trustProxy),
    connectLimiter,
    handshakeLimiter,
    maxClientBufferBytes: config.maxClientBufferBytes,
    isDraining: () => draining,
  };
  const io = attachSocketIo(httpServer, {
    ...edge,
    recoveryWindowMs: config.recoveryWindowMs,
    adapter: backend.adapter,
    canBroadcast: () => backend.notReadyReason() === undefined,
  });
  const ws = attachWebSocket(httpServer, edge);
  // Raw WebSocket clients of the other instances are reached through the adapter's server-side events.
  if (backend.clustered) io.on('notification', (rooms, notification) => ws.emitToRooms(rooms, notification));

  const publisher = createBroadcaster({
    history,
    metrics,
    emitters: [
      { emitToRooms: (rooms, notification) => io.to(rooms).emit('webhook_event', notification) },
      ws,
      ...(backend.clustered
        ? [{ emitToRooms: (rooms: string[], n: Notification) => io.serverSideEmit('notification', rooms, n) }]
        : []),
    ],
  });
  const ingest = createIngestor({ dedupe, publisher, logger });
  const app = createApp({
    config,
    logger,
    metrics,
    readiness: { notReadyReason: () => (draining ? 'shutting_down' : backend.notReadyReason()) },
    isDraining: () => draining,
    ingest,
    registry: hub.registry,
    startedAt,
  });

  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    draining = true;
    // Requests in flight finish first (a webhook being received is delivered to sockets still open), then sockets
    // are told to go. New webhooks meanwhile get 503 and are retried by Meta. A stalled request must not keep the
    // goodbyes from every socket: past half the shutdown budget, sockets are told anyway, and the requests still
    // get the rest of it (past SHUTDOWN_TIMEOUT_MS the process exits 1).
    await withTimeout(connections.idle(), Math.min(config.shutdownTimeoutMs / 2, MAX_REQUEST_DRAIN_MS));
    hub.closeAll();
    hub.stop();
    // Long-polling clients fetch their goodbye with their next request: give them the grace to do so.
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = () => (io.engine.clientsCount === 0 ? resolve() : setTimeout(check, 20).unref());
        check();
      }),
      CLOSE_GRACE_MS,
    );
    await connections.idle();
    // io.close() closes the engine (and its held long-polling requests) and the HTTP listener. A client that stopped
    // reading would hold its close handshake open for 30 s: after a short grace for the goodbyes to flush, cut it.
    const closed = Promise.all([
      ws.close(),
      new Promise<void>((resolve) => {
        void io.close(() => resolve());
        httpServer.closeAllConnections();
      }),
    ]);
    await withTimeout(closed, CLOSE_GRACE_MS);
    connections.destroyAll();
    await closed;
    await backend.close();
    logger.info('server stopped');
  };

  return {
    config,
    httpServer,
    io,
    hub,
    metrics,
    listen: async () => {
      const address = await new Promise<AddressInfo>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.port, config.host, () => {
          httpServer.off('error', reject);
          resolve(httpServer.address() as AddressInfo);
        });
      });
      // Live at once; ready when Redis is (it may start after us): readiness reports it meanwhile.
      backend.connect().catch((err: unknown) =>
        logger.error({ err: err instanceof Error ? err.message : String(err) }, 'redis not reachable yet; not ready'),
      );
      return address;
    },
    stop: () => (stopping ??= stop()),
  };
}
