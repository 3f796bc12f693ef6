import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClientAddress, createClientKey } from '../admission/client-address.js';
import { createConnectionAdmission } from '../admission/connection-admission.js';
import { createOriginPolicy } from '../admission/origins.js';
import { refusingRevoked, Revocations } from '../auth/revocations.js';
import type { JwksEndpointEvent } from '../auth/jwks.js';
import { createTokenVerifier } from '../auth/token-verifier.js';
import { createBackend } from '../cluster/backend.js';
import type { Config } from '../config/config.js';
import { createBroadcaster } from '../delivery/broadcaster.js';
import { relayAcrossInstances } from '../delivery/cluster-fanout.js';
import { DeferredDelivery } from '../delivery/deferred-delivery.js';
import { socketIoEmitter } from '../delivery/socketio-emitter.js';
import { WebSocketRooms } from '../delivery/websocket-rooms.js';
import { createApp } from '../http/app.js';
import { createPublishOnce } from '../notifications/publish-once.js';
import type { Logger } from '../observability/logger.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { SessionHub } from '../session/session-hub.js';
import { createClusterAdmin } from '../transports/socketio/cluster-admin.js';
import { HeldWrites } from '../transports/held-writes.js';
import { attachSocketIo } from '../transports/socketio/gateway.js';
import type { IoServer } from '../transports/socketio/types.js';
import { encodeNotification } from '../transports/websocket/codec.js';
import { attachWebSocket } from '../transports/websocket/gateway.js';
import { trackConnections } from './connections.js';
import { watchReadiness } from './readiness.js';
import { gracefulStop, type ShutdownSteps, type StopResult } from './shutdown.js';
import { HTTP_SERVER_LIMITS } from './http-limits.js';

export interface NotificationServer {
  readonly config: Config;
  readonly httpServer: HttpServer;
  readonly io: IoServer;
  readonly hub: SessionHub;
  readonly metrics: Metrics;
  /** Listens on `config.PORT`/`config.HOST` (port 0: any free port) and resolves with the address. */
  listen(): Promise<AddressInfo>;
  /**
   * Graceful stop within SHUTDOWN_TIMEOUT_MS (server/shutdown.ts): readiness 503 for `delayMs` while everything keeps
   * serving, then new sockets and webhooks are refused, in-flight requests finish, every socket is told
   * `server_shutdown`, and the listener, transports, timers and Redis are closed. Resolves with whether it was clean.
   */
  stop(options?: { delayMs?: number }): Promise<StopResult>;
}


/** The JWKS endpoint's reachability, in the logs once per change (never a token). */
const logJwksEndpoint =
  (logger: Logger) =>
  (event: JwksEndpointEvent): void => {
    if (event.reachable) logger.info('JWKS endpoint reachable again');
    else logger.warn({ err: event.error }, 'JWKS endpoint unreachable: tokens of keys not cached are refused (Authentication unavailable)');
  };

/**
 * Socket.IO's and the raw endpoint's per-connection structures in `instantchat_resources`. The in-memory adapter keeps
 * the sessions and packets of connection state recovery (`sessions`, `packets`: socket.io-adapter 2.5, not part of its
 * typed API); the Redis streams adapter keeps them in Redis, and these read 0.
 */
function watchTransportResources(metrics: Metrics, io: IoServer, wsRooms: WebSocketRooms): void {
  const adapter = () => io.of('/').adapter as unknown as { rooms: Map<string, unknown>; sessions?: Map<string, unknown>; packets?: unknown[] };
  metrics.watchResource('socketio_sockets', () => io.of('/').sockets.size);
  metrics.watchResource('socketio_engine_clients', () => io.engine.clientsCount);
  // Every socket is in the room of its own id: rooms without those are the delivery rooms.
  metrics.watchResource('socketio_rooms', () => adapter().rooms.size - io.of('/').sockets.size);
  metrics.watchResource('socketio_recovery_sessions', () => adapter().sessions?.size ?? 0);
  metrics.watchResource('socketio_recovery_packets', () => adapter().packets?.length ?? 0);
  metrics.watchResource('websocket_rooms', () => wsRooms.roomCount);
  metrics.watchResource('websocket_room_members', () => wsRooms.memberCount);
}

/** The app factory: builds every part from its dependencies without listening, so tests run it on port 0. */
export function createNotificationServer(config: Config, logger: Logger): NotificationServer {
  const startedAt = Date.now();

  /** Shutdown began: readiness 503. */
  let notReady = false;
  /** The drain began: new sockets, webhooks and admin events are refused. */
  let draining = false;

  const backend = createBackend(config, logger);
  const metrics = createMetrics(backend.clustered ? { redisUp: () => backend.notReadyReason() === undefined } : {});
  const { history, dedupe } = backend;
  const revocations = new Revocations({ ttlMs: config.REVOCATION_TTL_MS, shared: backend.revocationStore });
  const hub = new SessionHub({
    // Every token path (handshake, authenticate, recovery) refuses what a revocation covers.
    verifier: refusingRevoked(createTokenVerifier(config, { onJwksEndpoint: logJwksEndpoint(logger) }), revocations),
    revocations,
    history,
    metrics,
    logger,
    authTimeoutMs: config.AUTH_TIMEOUT_MS,
    heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS,
    heartbeatSweepMs: config.HEARTBEAT_SWEEP_MS,
    maxConnectionsPerUser: config.MAX_CONNECTIONS_PER_USER,
    socketEventRateLimit: config.SOCKET_EVENT_RATE_LIMIT,
    maxClientBufferBytes: config.MAX_CLIENT_BUFFER_BYTES,
  });

  // Engine.IO wraps the 'request' listeners present when it attaches and passes them only what is not /socket.io;
  // the Express app, built later (it needs the publisher), is reached through this one.
  const httpServer = createServer(HTTP_SERVER_LIMITS, (req: IncomingMessage, res: ServerResponse) => app(req, res));
  const connections = trackConnections(httpServer);
  const clientAddress = createClientAddress(config.TRUST_PROXY);
  const gateway = {
    hub,
    metrics,
    logger,
    clientAddress,
    admission: createConnectionAdmission({
      isDraining: () => draining,
      origins: createOriginPolicy(config.CLIENT_URL),
      clientKey: createClientKey(config.TRUST_PROXY),
      connectRateLimit: config.CONNECT_RATE_LIMIT,
    }),
  };
  const heldWrites = new HeldWrites();
  const io = attachSocketIo(httpServer, {
    ...gateway,
    heldWrites,
    recoveryWindowMs: config.RECOVERY_WINDOW_MS,
    adapter: backend.adapter,
    canBroadcast: () => backend.notReadyReason() === undefined,
  });
  const adminCommands = createClusterAdmin({ io, hub, revocations, clustered: backend.clustered, logger });
  const wsRooms = new WebSocketRooms(encodeNotification);
  const ws = attachWebSocket(httpServer, { ...gateway, rooms: wsRooms, heldWrites });
  watchTransportResources(metrics, io, wsRooms);

  // Cluster mode: raw WebSocket clients here also get what other instances broadcast (read from the Redis stream).
  if (backend.clustered) relayAcrossInstances(io, wsRooms);
  // The next deliveries wait while a fan-out's writes are still leaving.
  const deliveries = new DeferredDelivery(logger, () => heldWrites.backlogged);
  const publisher = createBroadcaster({ history, metrics, logger, emitters: [socketIoEmitter(io), wsRooms], deferred: deliveries });
  const ingest = createPublishOnce({
    dedupe,
    publisher,
    onCommitFailure: (err) =>
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'dedupe commit failed after publish: retried in the background'),
  });
  const app = createApp({
    config,
    logger,
    metrics,
    readiness: watchReadiness(() => (notReady ? 'shutting_down' : backend.notReadyReason()), logger),
    isDraining: () => draining,
    ingest,
    registry: hub.registry,
    adminCommands,
    startedAt,
  });

  let closingTransports: Promise<void> | undefined;
  const steps: ShutdownSteps = {
    logger,
    requests: connections,
    notReady: () => (notReady = true),
    refuseNew: () => (draining = true),
    sayGoodbye: async (graceMs) => {
      // What was accepted goes out before the goodbye.
      deliveries.flush();
      hub.closeAll();
      hub.stop();
      // Long-polling clients fetch their goodbye with their next request: give them the grace to do so.
      const deadline = Date.now() + graceMs;
      while (io.engine.clientsCount > 0 && Date.now() < deadline) await sleep(20);
    },
    // io.close() closes the engine (and its held long-polling requests) and the HTTP listener.
    closeTransports: () =>
      (closingTransports ??= Promise.all([
        ws.close(),
        new Promise<void>((resolve) => {
          void io.close(() => resolve());
          httpServer.closeAllConnections();
        }),
      ]).then(() => undefined)),
    closeBackend: () => backend.close(),
  };

  let stopping: Promise<StopResult> | undefined;
  return {
    config,
    httpServer,
    io,
    hub,
    metrics,
    listen: async () => {
      const address = await new Promise<AddressInfo>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.PORT, config.HOST, () => {
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
    stop: (options = {}) =>
      (stopping ??= gracefulStop(steps, { delayMs: options.delayMs ?? 0, timeoutMs: config.SHUTDOWN_TIMEOUT_MS })),
  };
}
