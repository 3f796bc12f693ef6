import type { Server } from 'socket.io';
import type { RoomEmitter } from './broadcaster.js';

/**
 * Socket.IO's delivery: one `io.to(rooms).emit`, encoded once by the adapter for every member (on every instance, in
 * cluster mode, through the Redis stream, which also keeps it for connection state recovery).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const socketIoEmitter = (io: Server<any, any, any, any>): RoomEmitter => ({
  emitToRooms: (rooms, notification) => io.to(rooms).emit('webhook_event', notification),
});
