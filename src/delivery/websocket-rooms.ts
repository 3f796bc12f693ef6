import type { Notification } from '../notifications/notification.js';
import type { RoomEmitter } from './broadcaster.js';
import type { RoomLink } from './room-membership.js';
import { RoomIndex } from './room-index.js';

/** What delivery needs of one raw WebSocket connection. */
export interface RoomMember {
  /** Queues an already encoded frame (the connection checks its own backlog once it has left). */
  send(frame: string): void;
}

/**
 * Delivery rooms of raw WebSocket connections (Socket.IO keeps its own, in its adapter): the membership index and the
 * one-encode emit to every member of a notification's rooms.
 */
export class WebSocketRooms implements RoomEmitter {
  readonly #index = new RoomIndex<RoomMember>();

  constructor(private readonly encode: (notification: Notification) => string) {}

  /** The room link of one connection. */
  linkOf(member: RoomMember): RoomLink {
    return {
      joinRooms: (rooms) => this.#index.join(member, rooms),
      leaveRooms: (rooms) => this.#index.leave(member, rooms),
    };
  }

  /** Forgets a closed connection, in every room at once. */
  remove(member: RoomMember): void {
    this.#index.remove(member);
  }

  get roomCount(): number {
    return this.#index.roomCount;
  }

  get memberCount(): number {
    return this.#index.memberCount;
  }

  emitToRooms(rooms: string[], notification: Notification): void {
    let frame: string | undefined;
    for (const member of this.#index.membersOf(rooms)) {
      // One encode per notification, whatever the number of receivers.
      frame ??= this.encode(notification);
      member.send(frame);
    }
  }
}
