import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { RoomEmitter } from '../delivery/broadcaster.js';
import { isClientEvent, type ServerMessages } from '../session/protocol.js';
import type { Session } from '../session/session.js';
import { newSessionState } from '../session/state.js';
import type { GatewayOptions } from '../session/gateway-options.js';
import type { CloseReason, SessionTransport } from '../session/transport.js';
import { RoomIndex } from './room-index.js';

export const WS_PATH = '/ws/notifications';
/** SPEC: frames over 64 KiB close the connection with 1009. */
const MAX_FRAME_BYTES = 64 * 1024;
/** How long a slow consumer's close may take to flush before the connection is cut (`ws` would wait 30 s). */
const SLOW_CONSUMER_GRACE_MS = 1000;

const CLOSE: Record<CloseReason, [code: number, reason: string]> = {
  auth_failed: [1008, 'Authentication failed'],
  heartbeat_timeout: [1000, 'Heartbeat timeout'],
  rate_limited: [1008, 'Rate limit exceeded'],
  slow_consumer: [1013, 'Slow consumer'],
  shutdown: [1001, 'Server shutting down'],
};

export interface WsGateway extends RoomEmitter {
  /** Stops accepting and resolves once every connection has closed (shutdown has already asked each to). */
  close(): Promise<void>;
}

/**
 * The raw WebSocket transport (`/ws/notifications`) for clients without Socket.IO: JSON text frames
 * `{"type": <event>, ...payload}`, the same protocol as Socket.IO through the same session core.
 */
export function attachWebSocket(httpServer: HttpServer, options: GatewayOptions): WsGateway {
  const { hub, metrics, logger } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, clientTracking: false });
  // Keyed by connection id: the room index and the live connections it points at.
  const rooms = new RoomIndex<string>();
  const connections = new Map<string, { ws: WebSocket; session: Session }>();

  httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(req) !== WS_PATH) return; // Engine.IO answers its own path and ends the others.
    void admit(req).then((refusal) => {
      if (refusal !== undefined) return refuse(socket, ...refusal);
      wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws));
    });
  });

  async function admit(req: IncomingMessage): Promise<[number, string] | undefined> {
    if (options.isDraining()) return [503, 'Service Unavailable'];
    if (!options.origins.isAllowed(req.headers.origin, req)) return [403, 'Forbidden'];
    if (options.connectLimiter !== undefined) {
      try {
        await options.connectLimiter.consume(options.clientAddress(req));
      } catch {
        return [429, 'Too Many Requests'];
      }
    }
    return undefined;
  }

  function onConnection(ws: WebSocket): void {
    const id = randomUUID();
    const session = hub.open(newSessionState(Date.now()), wsLink(ws, id));
    connections.set(id, { ws, session });
    metrics.activeConnections.inc({ transport: 'websocket' });
    // Admitted just before shutdown began, and opened after every connection was told: tell this one too.
    if (options.isDraining()) {
      session.send('server_shutdown', { reason: 'Server shutting down', timestamp: Date.now() });
      session.close('shutdown');
    }

    ws.on('message', (data: RawData, isBinary: boolean) => {
      const frame = decode(data, isBinary);
      if (typeof frame === 'string') void session.handleUndecodable(frame);
      else void session.handle(frame.type, frame.payload);
    });
    ws.on('error', (err) => logger.debug({ err, sessionId: session.id }, 'websocket error'));
    ws.on('close', () => {
      session.dispose();
      rooms.remove(id);
      connections.delete(id);
      metrics.activeConnections.dec({ transport: 'websocket' });
    });
  }

  function wsLink(ws: WebSocket, id: string): SessionTransport {
    return {
      kind: 'websocket',
      id,
      send(event, payload) {
        if (ws.readyState === WebSocket.OPEN) ws.send(encode(event, payload));
      },
      joinRooms(names) {
        rooms.join(id, names);
      },
      leaveRooms(names) {
        rooms.leave(id, names);
      },
      backlogBytes: () => ws.bufferedAmount,
      close(reason) {
        const [code, text] = CLOSE[reason];
        ws.close(code, text);
        if (reason === 'slow_consumer') setTimeout(() => ws.terminate(), SLOW_CONSUMER_GRACE_MS).unref();
      },
    };
  }

  return {
    emitToRooms(roomNames, notification) {
      let frame: string | undefined;
      for (const id of rooms.membersOf(roomNames)) {
        const conn = connections.get(id);
        if (conn === undefined || conn.ws.readyState !== WebSocket.OPEN) continue;
        const { ws, session } = conn;
        if (ws.bufferedAmount > options.maxClientBufferBytes) {
          session.close('slow_consumer');
          continue;
        }
        // One encode per notification, whatever the number of receivers.
        frame ??= JSON.stringify({ type: 'webhook_event', payload: notification, timestamp: Date.now() });
        ws.send(frame);
      }
    },
    close: () =>
      new Promise((resolve) => {
        wss.close();
        if (connections.size === 0) return resolve();
        for (const { ws } of connections.values()) {
          ws.once('close', () => {
            if (connections.size === 0) resolve();
          });
        }
      }),
  };
}

function encode<E extends keyof ServerMessages>(event: E, payload: ServerMessages[E]): string {
  if (event === 'webhook_event') return JSON.stringify({ type: event, payload, timestamp: Date.now() });
  return JSON.stringify({ type: event, ...payload });
}

/**
 * A client frame as `{type, payload}`, or the reason it cannot be used. The frame itself is the payload (the event's
 * schema reads only its own keys and drops `type`): never copied, whatever the number of keys it carries.
 */
function decode(data: RawData, isBinary: boolean): { type: string; payload: Record<string, unknown> } | string {
  if (isBinary) return 'Binary frames are not supported; send JSON text';
  let value: unknown;
  try {
    value = JSON.parse(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString());
  } catch {
    return 'Invalid JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'Expected a JSON object';
  const payload = value as Record<string, unknown>;
  const type = payload.type;
  if (typeof type !== 'string' || !isClientEvent(type)) return 'Unknown message type';
  return { type, payload };
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function refuse(socket: Duplex, status: number, text: string): void {
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}
