import type { VerifiedToken } from '../auth/claims.js';
import { isCoveredBy, type Revocations } from '../auth/revocations.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import type { HistoryStore } from '../notifications/history.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { ConnectionLimits } from './connection-limits.js';
import { Deadlines } from './deadlines.js';
import { startBacklogSweeper, startHeartbeatSweeper } from './sweepers.js';
import { SessionRegistry } from './registry.js';
import { AuthError } from '../protocol/errors.js';
import { Session, type OpenOptions, type SessionDeps } from './session.js';
import type { SessionState } from './state.js';
import type { SessionTransport } from './transport.js';

export interface SessionHubOptions {
  readonly verifier: TokenVerifier;
  readonly history: HistoryStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly authTimeoutMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly heartbeatSweepMs: number;
  readonly maxConnectionsPerUser: number;
  readonly socketEventRateLimit: number;
  readonly maxClientBufferBytes: number;
  /** Revoked users (admin API); the verifier is expected to refuse their tokens already (`refusingRevoked`). */
  readonly revocations?: Revocations;
}

/**
 * The transport-neutral core every transport opens its connections on: the registry, the limits, the deadlines (one
 * timer for every connection's), the heartbeat and backlog sweeps. One per server; `stop()` clears its timers.
 */
export class SessionHub {
  readonly registry = new SessionRegistry<Session>();
  readonly #deps: SessionDeps;
  readonly #stopSweepers: Array<() => void>;

  get verifier(): TokenVerifier {
    return this.options.verifier;
  }

  constructor(readonly options: SessionHubOptions) {
    this.#deps = {
      verifier: options.verifier,
      registry: this.registry,
      history: options.history,
      metrics: options.metrics,
      logger: options.logger,
      authTimeoutMs: options.authTimeoutMs,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      maxConnectionsPerUser: options.maxConnectionsPerUser,
      maxClientBufferBytes: options.maxClientBufferBytes,
      limits: new ConnectionLimits(options.socketEventRateLimit),
      authDeadlines: new Deadlines<Session>(),
      expiries: new Deadlines<Session>(),
      ...(options.revocations !== undefined && {
        isRevoked: (userId: string, issuedAt: number | undefined) => options.revocations?.revokesLocally(userId, issuedAt) === true,
      }),
    };
    const { authDeadlines, expiries } = this.#deps;
    options.metrics.watchResource('sessions', () => this.registry.size);
    options.metrics.watchResource('session_users', () => this.registry.userCount);
    // Heap entries, cancelled ones included: the deadlines of connections that left must not pile up.
    options.metrics.watchResource('auth_deadlines', () => authDeadlines.heapSize);
    options.metrics.watchResource('token_expiries', () => expiries.heapSize);
    this.#stopSweepers = [
      startHeartbeatSweeper(this.registry, { timeoutMs: options.heartbeatTimeoutMs, sweepMs: options.heartbeatSweepMs }),
      startBacklogSweeper(this.registry),
    ];
  }

  open(state: SessionState, link: SessionTransport, options: OpenOptions = {}) {
    const session = new Session(state, link, this.#deps);
    session.open(options);
    return session;
  }

  /**
   * Verifies a handshake token and applies the per-user limit before a connection is accepted. A `userId` the client
   * sent beside the token must be the token's, as with `authenticate`.
   */
  async verifyHandshake(token: unknown, userId?: unknown): Promise<VerifiedToken> {
    try {
      const verified = await this.options.verifier.verify(token);
      if (userId !== undefined && userId !== verified.userId) throw new AuthError('user_mismatch');
      if (this.registry.countForUser(verified.userId) >= this.options.maxConnectionsPerUser) {
        throw new AuthError('too_many_connections');
      }
      return verified;
    } catch (err) {
      const failure = err instanceof AuthError ? err : new AuthError('invalid_token');
      this.options.metrics.authFailures.inc({ reason: failure.reason });
      throw failure;
    }
  }

  /**
   * Ends every connection of `userId` on this instance whose token the revocation at `revokedAt` covers (all of them,
   * but one that authenticated with a newer token while the announcement travelled) with `auth_failed {reason:
   * "Session revoked"}`. Called once the revocation is recorded, so that none can come back with the same token;
   * answers how many were closed.
   */
  revokeUser(userId: string, revokedAt: number): number {
    const sessions = this.registry
      .sessionsOf(userId)
      .filter((session) => !session.closed && isCoveredBy(revokedAt, session.state.issuedAt));
    for (const session of sessions) session.fail('session_revoked');
    return sessions.length;
  }

  /** Whether a session Socket.IO stored for recovery belongs to a revoked token (then it must not be restored). */
  async isRevoked(state: SessionState): Promise<boolean> {
    if (state.userId === undefined || this.options.revocations === undefined) return false;
    return this.options.revocations.revokes(state.userId, state.issuedAt);
  }

  /** Tells every connection the server is going away (`server_shutdown`) and closes it. */
  closeAll(): void {
    for (const session of [...this.registry.values()]) session.close('shutdown');
  }

  stop(): void {
    for (const stop of this.#stopSweepers) stop();
    this.#deps.authDeadlines.stop();
    this.#deps.expiries.stop();
  }
}
