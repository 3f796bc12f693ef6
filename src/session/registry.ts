import type { Transport } from '../protocol/codes.js';
import type { SessionState } from './state.js';

/** What the registry needs of a connection: its id, transport, state and a way to close it. */
export interface RegisteredSession {
  readonly id: string;
  readonly transport: Transport;
  readonly state: SessionState;
}

/**
 * Live connections of this process, by id and by user: the heartbeat sweep, the per-user connection limit, the
 * admin listing and shutdown read it. A connection is added on connect and removed on disconnect, nothing else
 * keeps a reference, so nothing is left behind.
 */
export class SessionRegistry<S extends RegisteredSession = RegisteredSession> {
  readonly #sessions = new Map<string, S>();
  readonly #byUser = new Map<string, Set<string>>();

  add(session: S): void {
    this.#sessions.set(session.id, session);
  }

  /** Records the user of an authenticated session (called again on re-authentication: same user). */
  bindUser(session: S, userId: string): void {
    let ids = this.#byUser.get(userId);
    if (ids === undefined) {
      ids = new Set();
      this.#byUser.set(userId, ids);
    }
    ids.add(session.id);
  }

  remove(session: S): void {
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
    const userId = session.state.userId;
    if (userId === undefined) return;
    const ids = this.#byUser.get(userId);
    ids?.delete(session.id);
    if (ids?.size === 0) this.#byUser.delete(userId);
  }

  /** Authenticated connections of a user, other than `exceptId`. */
  countForUser(userId: string, exceptId?: string): number {
    const ids = this.#byUser.get(userId);
    if (ids === undefined) return 0;
    return exceptId !== undefined && ids.has(exceptId) ? ids.size - 1 : ids.size;
  }

  /** The live connections of a user on this process. */
  sessionsOf(userId: string): S[] {
    const ids = this.#byUser.get(userId);
    if (ids === undefined) return [];
    return [...ids].map((id) => this.#sessions.get(id)).filter((session): session is S => session !== undefined);
  }

  get(id: string): S | undefined {
    return this.#sessions.get(id);
  }

  values(): IterableIterator<S> {
    return this.#sessions.values();
  }

  get size(): number {
    return this.#sessions.size;
  }

  get userCount(): number {
    return this.#byUser.size;
  }
}
