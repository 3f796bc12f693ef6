import type { Transport } from '../protocol/codes.js';
import type { SessionRegistry } from './registry.js';
import type { Session } from './session.js';
import { accountIdsOf } from './state.js';

/**
 * What the admin API asks of the whole deployment: every instance in cluster mode (transports/socketio/
 * cluster-admin.ts). `partial` when some instance did not answer in time.
 */
export interface AdminCommands {
  listClients(): Promise<{ clients: ConnectionEntry[]; partial: boolean }>;
  /** Records the revocation, then closes the user's connections everywhere: how many were closed. */
  revokeUser(userId: string): Promise<{ disconnected: number; partial: boolean }>;
}

/** One connection as `GET /api/admin/clients` lists it (SPEC's fields). */
export interface ConnectionEntry {
  readonly userId: string | null;
  readonly socketId: string;
  readonly transport: Transport;
  readonly subscriptions: string[];
  readonly accountIds: string[];
  readonly connectedAt: string;
  readonly lastActivityAt: string;
}

/** The connections of this instance, authenticated or not. */
export function listConnections(registry: SessionRegistry<Session>): ConnectionEntry[] {
  return [...registry.values()].map((session) => ({
    userId: session.state.userId ?? null,
    socketId: session.id,
    transport: session.transport,
    subscriptions: [...session.state.subscriptions],
    accountIds: session.state.userId === undefined ? [] : accountIdsOf(session.state),
    connectedAt: new Date(session.state.connectedAt).toISOString(),
    lastActivityAt: new Date(session.state.lastActivityAt).toISOString(),
  }));
}
