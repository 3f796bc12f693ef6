import type { VerifiedToken } from '../auth/claims.js';
import { NO_ROOMS, type RoomPlan } from '../delivery/rooms.js';
import { ALL_ACCOUNTS, type Entitlement } from '../notifications/entitlement.js';
import type { EventType } from '../notifications/notification.js';

/**
 * Everything a connection's protocol state is, as plain data: Socket.IO keeps it in `socket.data`, which its
 * connection state recovery stores and restores, so it must stay serializable (no Sets, timers or functions).
 */
export interface SessionState {
  /** Set once authenticated. */
  userId?: string;
  /** Accounts the token entitles the connection to; undefined until authenticated. */
  entitlement?: Entitlement;
  /** Accounts the client narrowed its subscriptions to with `subscribe.accountIds`; absent: the whole entitlement. */
  scope?: string[];
  /** Subscribed event types, in the order first subscribed. */
  subscriptions: EventType[];
  /** Token expiry (epoch ms). */
  expiresAt?: number;
  /** The token's `iat` (epoch ms), when it has one: what a revocation is compared with. */
  issuedAt?: number;
  connectedAt: number;
  lastActivityAt: number;
}

/** A state whose connection is authenticated. */
export type AuthenticatedState = SessionState & { userId: string; entitlement: Entitlement };

export const newSessionState = (now: number): SessionState => ({
  subscriptions: [],
  connectedAt: now,
  lastActivityAt: now,
});

export const isAuthenticated = (state: SessionState): state is AuthenticatedState =>
  state.userId !== undefined && state.entitlement !== undefined;

/** The accounts the connection receives notifications of: its narrowed scope, else its entitlement. */
export const effectiveAccounts = (state: SessionState): Entitlement => state.scope ?? state.entitlement ?? [];

/** How the account scope is echoed in answers: a list, or `["*"]`. */
export const accountIdsOf = (state: SessionState): string[] => {
  const accounts = effectiveAccounts(state);
  return accounts === ALL_ACCOUNTS ? [ALL_ACCOUNTS] : [...accounts];
};

/** A new entitlement (re-authentication) keeps a narrowed scope only where the new token still allows it. */
export function rescope(scope: string[] | undefined, entitlement: Entitlement): string[] | undefined {
  if (scope === undefined || entitlement === ALL_ACCOUNTS) return scope;
  const allowed = new Set(entitlement);
  return scope.filter((id) => allowed.has(id));
}

/** The delivery rooms the state calls for: its accounts × its event types, none before authentication. */
export function roomPlan(state: SessionState): RoomPlan {
  if (!isAuthenticated(state)) return NO_ROOMS;
  const accounts = effectiveAccounts(state);
  return { accounts: accounts === ALL_ACCOUNTS ? ALL_ACCOUNTS : [...new Set(accounts)], types: [...state.subscriptions] };
}

/**
 * Whether a token a recovered client reconnected with should replace the session's: the same user, expiring no
 * earlier (a refresh made while away, not a stale copy of the token it first connected with).
 */
export function supersedes(token: VerifiedToken, state: SessionState): boolean {
  if (token.userId !== state.userId) return false;
  return (token.expiresAt ?? Number.POSITIVE_INFINITY) >= (state.expiresAt ?? Number.POSITIVE_INFINITY);
}
