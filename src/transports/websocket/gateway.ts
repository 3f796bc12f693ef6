import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { RoomMember, WebSocketRooms } from '../../delivery/websocket-rooms.js';
import { DISCONNECTS, HTTP_ERRORS } from '../../protocol/codes.js';
import type { Session } from '../../session/session.js';
import { newSessionState } from '../../session/state.js';
import type { SessionTransport } from '../../session/transport.js';
import type { GatewayOptions } from '../gateway-options.js';
import type { Corkable, HeldWrites } from '../held-writes.js';
import { canEncodeFrames, LastTextFrame, type WsInternals, writeWholeFrame } from '../ws-frames.js';
import { decode, encode } from './codec.js';

export const WS_PATH = '/ws/notifications';
/** SPEC: frames over 64 KiB close the connection with 1009. */
const MAX_FRAME_BYTES = 64 * 1024;
/** How long a slow consumer's close may take to flush before the connection is cut (`ws` would wait 30 s). */
const SLOW_CONSUMER_GRACE_MS = 1000;

export interface WsGateway {
  /** Stops accepting and resolves once every connection has closed (shutdown has already asked each to). */
  close(): Promise<void>;
}

/**
 * The raw WebSocket transport (`/ws/notifications`) for clients without Socket.IO: JSON text frames, the same
 * protocol as Socket.IO through the same session core.
 */
export function attachWebSocket(
  httpServer: HttpServer,
  options: GatewayOptions & { rooms: WebSocketRooms; heldWrites: HeldWrites },
): WsGateway {
  const { hub, metrics, logger, admission, rooms } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, clientTracking: false });
  const connections = new Set<WebSocket>();
  // A fan-out's frame is encoded once and written as is to each connection; `ws` frames it per connection if its
  // internals changed (logged once).
  const fanOutFrame = canEncodeFrames() ? new LastTextFrame() : undefined;
  let framesMissed = false;
  const onFramesMissing = (missing: string) => {
    if (framesMissed) return;
    framesMissed = true;
    logger.error({ missing }, 'fan-outs are framed per connection again (ws internals changed): more CPU per delivery');
  };
  if (fanOutFrame === undefined) onFramesMissing('ws Sender.frame');

  httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(req) !== WS_PATH) return; // Engine.IO answers its own path and ends the others.
    void admission.admit(req, 'connections').then((refusal) => {
      if (refusal !== undefined) return refuse(socket, HTTP_ERRORS[refusal.code].status, refusal.message);
      wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, socket as Duplex & Corkable, options.clientAddress(req)));
    });
  });

  function onConnection(ws: WebSocket, tcp: Corkable, clientAddress: string): void {
    const checkBacklog = () => session.checkBacklog();
    const member: RoomMember = {
      send: (frame) => {
        if (ws.readyState !== WebSocket.OPEN) return;
        // A fan-out's writes leave after it, a slice of sockets a turn; the backlog is checked once they have.
        options.heldWrites.hold(tcp, checkBacklog);
        // The frame encoded once for the whole fan-out, unless `ws` has something queued before it.
        const whole = fanOutFrame?.of(frame);
        if (whole === undefined || !writeWholeFrame(ws as unknown as WsInternals, whole, onFramesMissing)) ws.send(frame);
      },
    };
    const session: Session = hub.open(newSessionState(Date.now()), wsLink(ws, randomUUID(), member, clientAddress));
    connections.add(ws);
    logger.debug({ sessionId: session.id, transport: 'websocket', clientAddress }, 'connected');
    metrics.activeConnections.inc({ transport: 'websocket' });
    // Admitted just before shutdown began, and opened after every connection was told: tell this one too.
    if (admission.isDraining()) session.close('shutdown');

    ws.on('message', (data: RawData, isBinary: boolean) => {
      const frame = decode(data, isBinary);
      if (typeof frame === 'string') void session.handleUndecodable(frame);
      else void session.handle(frame.type, frame.payload);
    });
    ws.on('error', (err) => logger.debug({ err, sessionId: session.id }, 'websocket error'));
    ws.on('close', () => {
      session.dispose();
      rooms.remove(member);
      connections.delete(ws);
      metrics.activeConnections.dec({ transport: 'websocket' });
    });
  }

  function wsLink(ws: WebSocket, id: string, member: RoomMember, clientAddress: string): SessionTransport {
    return {
      kind: 'websocket',
      id,
      clientAddress,
      send(event, payload) {
        if (ws.readyState === WebSocket.OPEN) ws.send(encode(event, payload));
      },
      ...rooms.linkOf(member),
      backlogBytes: () => ws.bufferedAmount,
      close(reason) {
        const [code, text] = DISCONNECTS[reason].close;
        ws.close(code, text);
        if (reason === 'slow_consumer') setTimeout(() => ws.terminate(), SLOW_CONSUMER_GRACE_MS).unref();
      },
    };
  }

  return {
    close: () =>
      new Promise((resolve) => {
        wss.close();
        if (connections.size === 0) return resolve();
        for (const ws of connections) {
          ws.once('close', () => {
            if (connections.size === 0) resolve();
          });
        }
      }),
  };
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
