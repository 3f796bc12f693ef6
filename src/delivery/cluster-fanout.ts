import type { Server } from 'socket.io';
import type { Notification } from '../notifications/notification.js';
import type { RoomEmitter } from './broadcaster.js';

interface RelayEvents {
  notification: (rooms: string[], notification: Notification) => void;
}

/**
 * Cluster mode: raw WebSocket clients of the other instances are reached through Socket.IO's server-side events
 * (over the adapter's Redis pub/sub): each instance hands what the others publish to its own `local` emitter.
 * Returns the emitter that tells the others.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function relayAcrossInstances(io: Server<any, any, RelayEvents, any>, local: RoomEmitter): RoomEmitter {
  io.on('notification', (rooms: string[], notification: Notification) => local.emitToRooms(rooms, notification));
  return { emitToRooms: (rooms, notification) => io.serverSideEmit('notification', rooms, notification) };
}
