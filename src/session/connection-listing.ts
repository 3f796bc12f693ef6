import type { Transport } from '../protocol/codes.js';
import type { SessionRegistry } from './registry.js';
import type { Session } from './session.js';
import { accountIdsOf } from './state.js';

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
