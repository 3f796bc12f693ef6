import type { Server, Socket } from 'socket.io';

/** How often send backlogs are measured. */
const CHECK_INTERVAL_MS = 1000;

/**
 * Socket.IO has no per-socket send backlog: read the `ws` socket's `bufferedAmount` on the websocket transport and
 * the pending packets on long-polling. A socket past `maxBytes` is handed to `onSlow`. Returns a stop function.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function watchSlowConsumers(io: Server<any, any, any, any>, maxBytes: number, onSlow: (socket: Socket) => void) {
  const timer = setInterval(() => {
    for (const socket of io.of('/').sockets.values()) {
      if (backlogBytes(socket) > maxBytes) onSlow(socket);
    }
  }, CHECK_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

interface EngineInternals {
  transport?: { name?: string; socket?: { bufferedAmount?: number } };
  writeBuffer?: Array<{ data?: unknown }>;
}

function backlogBytes(socket: Socket): number {
  const conn = socket.conn as unknown as EngineInternals;
  let bytes = conn.transport?.name === 'websocket' ? (conn.transport.socket?.bufferedAmount ?? 0) : 0;
  for (const packet of conn.writeBuffer ?? []) {
    const data = packet.data;
    bytes += typeof data === 'string' ? Buffer.byteLength(data) : data instanceof Buffer ? data.byteLength : 0;
  }
  return bytes;
}
