import type { Server } from 'socket.io';
import type { Notification } from '../notifications/notification.js';
import type { RoomEmitter } from './broadcaster.js';

/** socket.io-adapter's `MessageType.BROADCAST`. */
const BROADCAST = 3;

interface ClusterMessage {
  uid?: string;
  nsp?: string;
  type?: number;
  data?: { requestId?: unknown; packet?: { data?: unknown[] }; opts?: { rooms?: unknown; except?: unknown } };
}
interface ClusterAdapterInternals {
  readonly uid: string;
  onMessage(message: ClusterMessage, offset?: string): void;
}

/**
 * Cluster mode: raw WebSocket clients of the other instances get what the Socket.IO broadcast carries. Every
 * instance reads the other instances' broadcasts from the adapter's Redis stream (`ClusterAdapter#onMessage`); each
 * `webhook_event` to rooms read there is handed to this instance's `local` (raw WebSocket) emitter too.
 *
 * It used to go through Socket.IO's server-side events, over Redis pub/sub: fire and forget, so that a PUBLISH
 * refused or lost, or a subscriber connection cut for a moment, lost the notification for every raw WebSocket client
 * of the other instances while the webhook was answered 200 (test/cluster-faults.test.ts: 18 of 85 with PUBLISH
 * refused for 2 s). The stream is read from the last entry seen, across reconnections, and its writes are retried
 * (cluster/adapter-faults.ts). Nothing is sent from this side: the Socket.IO emitter's broadcast carries the
 * notification.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function relayAcrossInstances(io: Server<any, any, any, any>, local: RoomEmitter): void {
  const adapter = io.of('/').adapter as unknown as Partial<ClusterAdapterInternals>;
  if (typeof adapter.onMessage !== 'function' || typeof adapter.uid !== 'string') {
    throw new Error('socket.io-adapter internals this server relies on are gone: ClusterAdapter#onMessage, #uid');
  }
  const internals = adapter as ClusterAdapterInternals;
  const onMessage = internals.onMessage.bind(adapter);
  internals.onMessage = (message, offset) => {
    onMessage(message, offset);
    if (message.type !== BROADCAST || message.uid === internals.uid || message.nsp !== '/') return;
    const { requestId, packet, opts } = message.data ?? {};
    const [event, notification] = packet?.data ?? [];
    if (requestId !== undefined || event !== 'webhook_event' || !Array.isArray(opts?.rooms)) return;
    if (Array.isArray(opts.except) && opts.except.length > 0) return;
    local.emitToRooms(opts.rooms as string[], notification as Notification);
  };
}
