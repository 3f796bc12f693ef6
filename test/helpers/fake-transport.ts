import type { ServerDisconnect, Transport } from '../../src/protocol/codes.js';
import type { ServerMessageName, ServerMessages } from '../../src/protocol/server-messages.js';
import type { SessionTransport } from '../../src/session/transport.js';

/** One thing the session core did to its transport, in the order it did it. */
export type TransportRecord =
  | { readonly op: 'send'; readonly event: ServerMessageName; readonly payload: unknown }
  | { readonly op: 'join'; readonly rooms: readonly string[] }
  | { readonly op: 'leave'; readonly rooms: readonly string[] }
  | { readonly op: 'close'; readonly reason: ServerDisconnect };

let nextId = 0;

/**
 * A `SessionTransport` that keeps what the session core does to it: what it is sent (event, payload), the rooms it
 * is in, the slices they were joined and left in, and why it was closed. It also notes breaches of the contract the
 * core must keep (a join of a room held, a leave of a room not held, anything after close), so that every test can
 * assert there were none. Its send backlog is whatever the test sets, or grows with every send once it `stopReading()`.
 */
export class FakeTransport implements SessionTransport {
  readonly id: string;
  readonly clientAddress = '127.0.0.1';
  readonly log: TransportRecord[] = [];
  readonly rooms = new Set<string>();
  readonly violations: string[] = [];
  closeReason: ServerDisconnect | undefined;
  /** Bytes sent and not read by the client, as `backlogBytes()` reports them. */
  backlog = 0;
  #reading = true;

  constructor(readonly kind: Transport = 'socketio') {
    this.id = `fake-${++nextId}`;
  }

  send<E extends ServerMessageName>(event: E, payload: ServerMessages[E]): void {
    if (this.closeReason !== undefined) this.violations.push(`send ${event} after close`);
    this.log.push({ op: 'send', event, payload });
    if (!this.#reading) this.backlog += Buffer.byteLength(JSON.stringify(payload));
  }

  joinRooms(rooms: readonly string[]): void {
    if (this.closeReason !== undefined) this.violations.push('join after close');
    for (const room of rooms) {
      if (this.rooms.has(room)) this.violations.push(`join of held room ${room}`);
      this.rooms.add(room);
    }
    this.log.push({ op: 'join', rooms: [...rooms] });
  }

  leaveRooms(rooms: readonly string[]): void {
    if (this.closeReason !== undefined) this.violations.push('leave after close');
    for (const room of rooms) {
      if (!this.rooms.delete(room)) this.violations.push(`leave of room not held ${room}`);
    }
    this.log.push({ op: 'leave', rooms: [...rooms] });
  }

  backlogBytes(): number {
    return this.backlog;
  }

  close(reason: ServerDisconnect): void {
    if (this.closeReason !== undefined) this.violations.push(`closed twice (${this.closeReason}, then ${reason})`);
    this.closeReason = reason;
    this.log.push({ op: 'close', reason });
  }

  /** From now on every message sent stays unread: the backlog grows by its JSON size. */
  stopReading(): void {
    this.#reading = false;
  }

  /** The messages sent, in order, as `[event, payload]`. */
  get sent(): Array<{ event: ServerMessageName; payload: unknown }> {
    return this.log.flatMap((r) => (r.op === 'send' ? [{ event: r.event, payload: r.payload }] : []));
  }

  /** The names of the messages sent, in order. */
  events(): ServerMessageName[] {
    return this.sent.map((m) => m.event);
  }

  /** The payloads of every `event` sent, in order. */
  all<E extends ServerMessageName>(event: E): Array<ServerMessages[E]> {
    return this.sent.filter((m) => m.event === event).map((m) => m.payload as ServerMessages[E]);
  }

  /** The last message sent. */
  last(): { event: ServerMessageName; payload: unknown } | undefined {
    return this.sent.at(-1);
  }

  /** The sizes of the join (or leave) calls, in order: one call is one slice. */
  slices(op: 'join' | 'leave'): number[] {
    return this.log.flatMap((r) => (r.op === op ? [r.rooms.length] : []));
  }

  /** Forgets what was recorded so far (rooms held stay). */
  clearLog(): void {
    this.log.length = 0;
  }
}
