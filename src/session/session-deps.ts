import type { VerifiedToken } from '../auth/claims.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import type { HistoryStore } from '../notifications/history.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { ConnectionLimits } from './connection-limits.js';
import type { Deadlines } from './deadlines.js';
import type { SessionRegistry } from './registry.js';
import type { Session } from './session.js';

/** What every session of a hub shares: its collaborators and limits. */
export interface SessionDeps {
  readonly verifier: TokenVerifier;
  readonly registry: SessionRegistry<Session>;
  readonly history: HistoryStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly authTimeoutMs: number;
  /** Told to clients in `auth_success`, so that they pace their heartbeats. */
  readonly heartbeatTimeoutMs: number;
  readonly maxConnectionsPerUser: number;
  /** Unsent bytes past which a connection is closed as a slow consumer. */
  readonly maxClientBufferBytes: number;
  /** The per-connection budgets: events, abuse, room changes. */
  readonly limits: ConnectionLimits;
  /** Authentication deadlines and token expiries of every connection, on one timer each. */
  readonly authDeadlines: Deadlines<Session>;
  readonly expiries: Deadlines<Session>;
  /**
   * Whether a revocation this instance knows of covers a token of `userId` issued at `issuedAt`: asked (in memory)
   * right before a token takes effect, so that a revocation announced while the token was being verified still wins.
   */
  readonly isRevoked?: (userId: string, issuedAt: number | undefined) => boolean;
}

export interface OpenOptions {
  /** A token the transport verified at connect: the session starts authenticated. */
  readonly handshake?: VerifiedToken;
  /** Socket.IO restored the session (state, rooms, missed packets). */
  readonly recovered?: boolean;
  /** The token a recovered client reconnected with: verified and applied before anything else. */
  readonly recoveryToken?: unknown;
}
