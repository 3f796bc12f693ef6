import type { VerifiedToken } from '../auth/claims.js';
import { entitlementToList } from '../notifications/entitlement.js';
import type { AuthFailure } from '../protocol/codes.js';
import type { AuthError } from '../protocol/errors.js';
import type { ServerMessages } from '../protocol/server-messages.js';
import { rescope, supersedes, type AuthenticatedState, type SessionState } from './state.js';

/**
 * What a token makes of a connection's state, as pure functions: the session core applies them, tests read them.
 */

/** The state once `token` is in effect: its user, entitlement, expiry and issue time; a narrowed scope kept where allowed. */
export function withToken(state: SessionState, token: VerifiedToken): AuthenticatedState {
  const next: AuthenticatedState = {
    ...state,
    userId: token.userId,
    entitlement: token.entitlement === '*' ? '*' : [...token.entitlement],
  };
  const scope = rescope(state.scope, token.entitlement);
  setOrDelete(next, 'scope', scope);
  setOrDelete(next, 'expiresAt', token.expiresAt);
  setOrDelete(next, 'issuedAt', token.issuedAt);
  return next;
}

/** Copies what `withToken` decided into the live state (Socket.IO keeps that very object in `socket.data`). */
export function adopt(state: SessionState, next: AuthenticatedState): void {
  state.userId = next.userId;
  state.entitlement = next.entitlement;
  setOrDelete(state, 'scope', next.scope);
  setOrDelete(state, 'expiresAt', next.expiresAt);
  setOrDelete(state, 'issuedAt', next.issuedAt);
}

/**
 * What to do with the token a recovered client reconnected with (verified, or the reason it was refused): another
 * user's is a mismatch; a refresh (valid, same user, expiring no earlier) is applied; anything else (the stale token the
 * client first connected with, while it refreshed the session with `authenticate` since) keeps the stored session,
 * which must still be valid itself.
 */
export type RecoveryOutcome =
  | { readonly kind: 'apply'; readonly token: VerifiedToken }
  | { readonly kind: 'keep' }
  | { readonly kind: 'fail'; readonly reason: AuthFailure };

export function recoveryOutcome(verified: VerifiedToken | AuthError, state: AuthenticatedState, now: number): RecoveryOutcome {
  if (!('reason' in verified)) {
    if (verified.userId !== state.userId) return { kind: 'fail', reason: 'user_mismatch' };
    if (supersedes(verified, state)) return { kind: 'apply', token: verified };
  } else if (state.expiresAt !== undefined && state.expiresAt <= now) {
    return { kind: 'fail', reason: verified.reason };
  }
  return { kind: 'keep' };
}

export function authSuccess(token: VerifiedToken, heartbeatTimeoutMs: number): ServerMessages['auth_success'] {
  return {
    message: 'Authentication successful',
    userId: token.userId,
    accountIds: entitlementToList(token.entitlement),
    heartbeatTimeoutMs,
    timestamp: Date.now(),
  };
}

function setOrDelete<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value === undefined) delete target[key];
  else target[key] = value;
}
