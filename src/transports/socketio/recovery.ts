import type { VerifiedToken } from '../../auth/claims.js';
import { isEntitledTo } from '../../notifications/entitlement.js';
import type { Notification } from '../../notifications/notification.js';
import { supersedes, type SessionState } from '../../session/state.js';
import type { RecoveryReview, RestoredSession } from './socketio-internals.js';

/**
 * What a recovered session is sent of what it missed. A refresh of the stored token in the reconnecting client's
 * handshake (same user, expiring no earlier) stands for the stored one: a client that refreshed its token while away
 * gets what it missed, as far as the new token entitles it. A session whose token has expired (and brought no fresh one) gets nothing
 * replayed: it is told `Token expired` once restored, and fetches what it missed with `get_history` after
 * re-authenticating. A session of a revoked token is not restored at all (`null`): the client connects afresh, through
 * the handshake checks, and a revocation is never undone by a reconnect.
 */
export async function reviewRecovery(
  session: RestoredSession,
  auth: Record<string, unknown> | undefined,
  verify: (token: unknown) => Promise<VerifiedToken>,
  isRevoked: (state: SessionState) => Promise<boolean> = async () => false,
): Promise<RecoveryReview> {
  const stored = session.data as SessionState;
  // A store that cannot answer (Redis away) restores nothing either: the handshake then decides.
  if (await isRevoked(stored).catch(() => true)) return { session: null, admits: () => false };
  const fresh = typeof auth?.token === 'string' ? await verify(auth.token).catch(() => undefined) : undefined;
  const token = fresh !== undefined && supersedes(fresh, stored) ? fresh : undefined;
  const expiresAt = token !== undefined ? token.expiresAt : stored.expiresAt;
  if (expiresAt !== undefined && expiresAt <= Date.now()) return { session: { ...session, missedPackets: [] }, admits: () => false };
  if (token === undefined) return { session, admits: () => true };
  const entitlement = token.entitlement;
  // A packet is the argument list of its emit: ['webhook_event', notification, offset?].
  const admits = (packet: readonly unknown[]) => {
    const [event, notification] = packet as [string, Notification | undefined];
    return event !== 'webhook_event' || (notification !== undefined && isEntitledTo(entitlement, notification.accountId));
  };
  return { session: { ...session, missedPackets: session.missedPackets.filter(admits) }, admits };
}
