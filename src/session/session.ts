import { RateLimiterRes, type RateLimiterMemory } from 'rate-limiter-flexible';
import type { z } from 'zod';
import { entitlementToList, type VerifiedToken } from '../auth/claims.js';
import { AUTH_FAILURE, AuthError, type AuthFailureMessage, type TokenVerifier } from '../auth/token-verifier.js';
import type { HistoryStore } from '../notifications/history.js';
import type { Logger } from '../observability/logger.js';
import type { AuthFailureReason, Metrics } from '../observability/metrics.js';
import { handleEvent } from './client-events.js';
import { authenticatePayload, describeIssue, isPlainPayload } from './payloads.js';
import type { Answer, ServerMessages, SessionErrorCode } from './protocol.js';
import type { SessionRegistry } from './registry.js';
import { NO_ROOMS, roomPlan, roomsOnlyIn, type RoomPlan } from './rooms.js';
import { isAuthenticated, rescope, type SessionState } from './state.js';
import type { CloseReason, SessionTransport } from './transport.js';

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
  /** Client events per second per connection. */
  readonly eventLimiter: RateLimiterMemory;
  /** Rejected events per connection over a longer window; exhausting it is sustained abuse. */
  readonly abuseLimiter: RateLimiterMemory;
}

export type Ack = (payload: unknown) => void;

export const AUTH_FAILURE_LABEL: Record<AuthFailureMessage, AuthFailureReason> = {
  [AUTH_FAILURE.invalidToken]: 'invalid_token',
  [AUTH_FAILURE.tokenExpired]: 'token_expired',
  [AUTH_FAILURE.userMismatch]: 'user_mismatch',
  [AUTH_FAILURE.timeout]: 'auth_timeout',
  [AUTH_FAILURE.tooManyConnections]: 'too_many_connections',
};

/** Longest delay setTimeout honours; a later expiry is re-armed when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Room joins and leaves applied per event-loop turn. A change of scope can move up to 24 000 rooms (12 000 out, 12 000
 * in, about 15 ms of adapter work): in slices, no turn holds the loop for more than about a millisecond.
 */
const ROOM_SLICE = 1000;
/**
 * Room changes that cost one client event of the rate budget: a connection changing its whole scope at the allowed
 * event rate would otherwise keep a core busy. At 500, a full scope change costs about a second of the budget.
 */
const ROOM_CHANGES_PER_EVENT = 500;

/** Sentences of the `error` event that announces a disconnect the server decided. */
const DISCONNECT_NOTICE: Partial<Record<CloseReason, [code: SessionErrorCode, message: string]>> = {
  heartbeat_timeout: ['heartbeat_timeout', 'No event within the heartbeat timeout; disconnecting'],
  slow_consumer: ['slow_consumer', 'Too much unsent data: the client is not reading; disconnecting'],
  rate_limited: ['rate_limited', 'Sustained flooding; disconnecting'],
};

/** One client connection's protocol, whatever its transport. */
export class Session {
  readonly id: string;
  readonly transport: SessionTransport['kind'];
  #authTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #rateLimitedNotice = 0;
  /** Set once the server decided to end the connection (its last words are still sent). */
  #closing = false;
  #closed = false;
  /** The rooms the transport holds, or will once the pending change is applied. */
  #rooms: RoomPlan = NO_ROOMS;
  /** Room changes, applied one after the other. */
  #roomWork: Promise<void> = Promise.resolve();

  constructor(
    readonly state: SessionState,
    readonly link: SessionTransport,
    readonly deps: SessionDeps,
  ) {
    this.id = link.id;
    this.transport = link.kind;
  }

  /**
   * Starts the session. With `handshake` (a token already verified at connect), it is authenticated at once; a
   * `recovered` session (Socket.IO state recovery) keeps its state and is not greeted again.
   */
  open(options: { handshake?: VerifiedToken; recovered?: boolean } = {}): void {
    this.deps.registry.add(this);
    if (options.handshake !== undefined) {
      void this.#accept(options.handshake);
      return;
    }
    if (isAuthenticated(this.state)) {
      const userId = this.state.userId as string;
      if (this.state.expiresAt !== undefined && this.state.expiresAt <= Date.now()) {
        this.fail(AUTH_FAILURE.tokenExpired);
        return;
      }
      // A recovered session skipped the handshake checks: the user may have opened others meanwhile.
      if (this.deps.registry.countForUser(userId, this.id) >= this.deps.maxConnectionsPerUser) {
        this.fail(AUTH_FAILURE.tooManyConnections);
        return;
      }
      this.deps.registry.bindUser(this, userId);
      this.#armExpiry();
      // Socket.IO restores a recovered session's rooms itself.
      if (options.recovered) this.#rooms = roomPlan(this.state);
      else void this.syncRooms();
      return;
    }
    // From the first connect, not this one: a recovered session must not restart its deadline.
    const deadline = Math.max(0, this.state.connectedAt + this.deps.authTimeoutMs - Date.now());
    this.#authTimer = setTimeout(() => {
      if (!isAuthenticated(this.state)) this.fail(AUTH_FAILURE.timeout);
    }, deadline);
    this.#authTimer.unref();
  }

  /** Handles one client event. Never throws: bad input gets an `error` answer. */
  async handle(event: string, payload: unknown, ack?: Ack): Promise<void> {
    if (this.#closed) return;
    this.state.lastActivityAt = Date.now();
    if (!(await this.#withinRateLimit(ack))) return;
    if (this.#closed) return;
    if (event === 'authenticate') {
      await this.#authenticate(payload, ack);
      return;
    }
    if (event !== 'heartbeat' && !isAuthenticated(this.state)) {
      this.error('not_authenticated', 'Authenticate first', ack);
      return;
    }
    if (!isPlainPayload(payload)) {
      this.error('invalid_payload', 'Invalid payload: expected a JSON object', ack);
      return;
    }
    try {
      await handleEvent(this, event, payload, ack);
    } catch (err) {
      this.deps.logger.error({ err, sessionId: this.id, event: event.slice(0, 64) }, 'session handler failed');
      this.error('invalid_payload', 'The event could not be processed', ack);
    }
  }

  /** A message the transport could not even decode (raw WebSocket: not JSON, unknown type): counted and answered. */
  async handleUndecodable(message: string): Promise<void> {
    if (this.#closed) return;
    this.state.lastActivityAt = Date.now();
    if (!(await this.#withinRateLimit())) return;
    this.error('invalid_payload', message);
  }

  reply(answer: Answer, ack?: Ack): void {
    this.send(answer.event, answer.payload);
    ack?.(answer.payload);
  }

  /** Sends one message; a client that has stopped reading is disconnected once its backlog passes the bound. */
  send<E extends keyof ServerMessages>(event: E, payload: ServerMessages[E]): void {
    if (this.#closed) return;
    this.link.send(event, payload);
    if (!this.#closing) this.checkBacklog();
  }

  /** Closes the connection as a slow consumer when its unsent data passes `maxClientBufferBytes`. */
  checkBacklog(): void {
    if (this.link.backlogBytes() > this.deps.maxClientBufferBytes) this.close('slow_consumer');
  }

  error(code: SessionErrorCode, message: string, ack?: Ack): void {
    this.reply({ event: 'error', payload: { code, message, timestamp: Date.now() } }, ack);
  }

  invalidPayload(error: z.ZodError, ack?: Ack): void {
    this.error('invalid_payload', describeIssue(error), ack);
  }

  /**
   * Brings the delivery rooms in line with the state after a change of subscriptions, scope or entitlement. Changes
   * apply in order, in slices; resolves once this one is applied. Their cost is charged to the event budget.
   */
  syncRooms(): Promise<void> {
    const from = this.#rooms;
    const to = roomPlan(this.state);
    this.#rooms = to;
    this.#roomWork = this.#roomWork.then(() => this.#applyRooms(from, to));
    return this.#roomWork;
  }

  async #applyRooms(from: RoomPlan, to: RoomPlan): Promise<void> {
    let changes = 0;
    const steps = [
      [roomsOnlyIn(from, to), (rooms: string[]) => this.link.leaveRooms(rooms)],
      [roomsOnlyIn(to, from), (rooms: string[]) => this.link.joinRooms(rooms)],
    ] as const;
    for (const [rooms, apply] of steps) {
      for (;;) {
        if (this.#closed) return;
        const slice: string[] = [];
        for (let next = rooms.next(); !next.done; next = rooms.next()) {
          slice.push(next.value);
          if (slice.length === ROOM_SLICE) break;
        }
        if (slice.length > 0) apply(slice);
        changes += slice.length;
        if (slice.length < ROOM_SLICE) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    const cost = Math.floor(changes / ROOM_CHANGES_PER_EVENT);
    if (cost > 0) await this.deps.eventLimiter.penalty(this.id, cost);
  }

  /** `auth_failed {reason}`, counted, then disconnect. */
  fail(reason: AuthFailureMessage, ack?: Ack): void {
    if (this.#closed) return;
    this.deps.metrics.authFailures.inc({ reason: AUTH_FAILURE_LABEL[reason] });
    this.deps.logger.info({ sessionId: this.id, transport: this.transport, reason }, 'authentication failed');
    this.reply({ event: 'auth_failed', payload: { reason, timestamp: Date.now() } }, ack);
    this.close('auth_failed');
  }

  /** Ends the connection; a disconnect the server decides is announced first (SPEC). */
  close(reason: CloseReason): void {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    const notice = DISCONNECT_NOTICE[reason];
    if (notice !== undefined) {
      const { logger } = this.deps;
      const fields = { sessionId: this.id, transport: this.transport, userId: this.state.userId, reason };
      if (reason === 'heartbeat_timeout') logger.info(fields, 'disconnecting a client');
      else logger.warn(fields, 'disconnecting a client');
      this.error(...notice);
    }
    this.link.close(reason);
    this.dispose();
  }

  /** Frees everything the session holds; called once the connection is gone, whoever closed it. */
  dispose(): void {
    this.#closed = true;
    clearTimeout(this.#authTimer);
    clearTimeout(this.#expiryTimer);
    this.#authTimer = this.#expiryTimer = undefined;
    this.deps.registry.remove(this);
    void this.deps.eventLimiter.delete(this.id);
    void this.deps.abuseLimiter.delete(this.id);
  }

  get closed(): boolean {
    return this.#closed;
  }

  #authenticate(payload: unknown, ack?: Ack): Promise<void> | void {
    const parsed = authenticatePayload.safeParse(payload);
    if (!parsed.success) {
      this.fail(AUTH_FAILURE.invalidToken, ack);
      return;
    }
    let token: VerifiedToken;
    try {
      token = this.deps.verifier.verify(parsed.data.token);
    } catch (err) {
      this.fail(err instanceof AuthError ? err.reason : AUTH_FAILURE.invalidToken, ack);
      return;
    }
    const sameUser = this.state.userId === undefined || this.state.userId === token.userId;
    if (token.userId !== parsed.data.userId || !sameUser) {
      this.fail(AUTH_FAILURE.userMismatch, ack);
      return;
    }
    return this.#accept(token, ack);
  }

  /** Makes the session authenticated as `token` says (first time, or a refresh with a fresh token). */
  async #accept(token: VerifiedToken, ack?: Ack): Promise<void> {
    const { registry, maxConnectionsPerUser } = this.deps;
    if (registry.countForUser(token.userId, this.id) >= maxConnectionsPerUser) {
      this.fail(AUTH_FAILURE.tooManyConnections, ack);
      return;
    }
    const refresh = isAuthenticated(this.state);
    this.state.userId = token.userId;
    this.state.entitlement = token.entitlement === '*' ? '*' : [...token.entitlement];
    const scope = rescope(this.state.scope, token.entitlement);
    if (scope === undefined) delete this.state.scope;
    else this.state.scope = scope;
    if (token.expiresAt === undefined) delete this.state.expiresAt;
    else this.state.expiresAt = token.expiresAt;
    clearTimeout(this.#authTimer);
    this.#authTimer = undefined;
    registry.bindUser(this, token.userId);
    this.#armExpiry();
    // A narrower entitlement leaves its rooms before the client is told it is in effect.
    await this.syncRooms();
    if (this.#closed) return;
    this.deps.logger.info({ sessionId: this.id, transport: this.transport, userId: token.userId, refresh }, 'authenticated');
    this.reply(
      {
        event: 'auth_success',
        payload: {
          message: 'Authentication successful',
          userId: token.userId,
          accountIds: entitlementToList(token.entitlement),
          heartbeatTimeoutMs: this.deps.heartbeatTimeoutMs,
          timestamp: Date.now(),
        },
      },
      ack,
    );
  }

  #armExpiry(): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    const expiresAt = this.state.expiresAt;
    if (expiresAt === undefined) return;
    const delay = Math.max(0, expiresAt - Date.now());
    this.#expiryTimer = setTimeout(() => {
      if (this.state.expiresAt !== undefined && this.state.expiresAt <= Date.now()) this.fail(AUTH_FAILURE.tokenExpired);
      else this.#armExpiry();
    }, Math.min(delay, MAX_TIMER_MS));
    this.#expiryTimer.unref();
  }

  /** Per-connection event budget; sustained excess disconnects. */
  async #withinRateLimit(ack?: Ack): Promise<boolean> {
    try {
      await this.deps.eventLimiter.consume(this.id);
      return true;
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
    }
    try {
      await this.deps.abuseLimiter.consume(this.id);
    } catch {
      this.close('rate_limited');
      return false;
    }
    // One `rate_limited` event per second is enough to tell the client; acks always get their answer.
    const now = Date.now();
    if (ack !== undefined || now - this.#rateLimitedNotice >= 1000) {
      if (ack === undefined) this.#rateLimitedNotice = now;
      this.error('rate_limited', 'Too many events; slow down', ack);
    }
    return false;
  }
}
