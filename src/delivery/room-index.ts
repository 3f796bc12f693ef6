/**
 * Room membership for raw WebSocket connections (Socket.IO keeps its own in its adapter). Maps both ways so that
 * leaving is cheap and a closed connection is removed from every room at once.
 */
export class RoomIndex<C> {
  readonly #members = new Map<string, Set<C>>();
  readonly #roomsOf = new Map<C, Set<string>>();

  join(conn: C, rooms: readonly string[]): void {
    let held = this.#roomsOf.get(conn);
    if (held === undefined) {
      held = new Set();
      this.#roomsOf.set(conn, held);
    }
    for (const room of rooms) {
      let members = this.#members.get(room);
      if (members === undefined) {
        members = new Set();
        this.#members.set(room, members);
      }
      members.add(conn);
      held.add(room);
    }
  }

  leave(conn: C, rooms: readonly string[]): void {
    const held = this.#roomsOf.get(conn);
    for (const room of rooms) {
      this.#leave(conn, room);
      held?.delete(room);
    }
    if (held?.size === 0) this.#roomsOf.delete(conn);
  }

  remove(conn: C): void {
    for (const room of this.#roomsOf.get(conn) ?? []) this.#leave(conn, room);
    this.#roomsOf.delete(conn);
  }

  /** Every member of any of `rooms`, each once. */
  membersOf(rooms: readonly string[]): Iterable<C> {
    const sets = rooms.map((r) => this.#members.get(r)).filter((s): s is Set<C> => s !== undefined && s.size > 0);
    if (sets.length === 0) return [];
    if (sets.length === 1) return sets[0] as Set<C>;
    const union = new Set<C>();
    for (const set of sets) for (const conn of set) union.add(conn);
    return union;
  }

  /** Rooms with at least one member. */
  get roomCount(): number {
    return this.#members.size;
  }

  /** Connections in at least one room. */
  get memberCount(): number {
    return this.#roomsOf.size;
  }

  #leave(conn: C, room: string): void {
    const members = this.#members.get(room);
    members?.delete(conn);
    if (members?.size === 0) this.#members.delete(room);
  }
}
