import { RateLimiterRes, type RateLimiterMemory } from 'rate-limiter-flexible';
import type { VerifiedToken } from '../auth/claims.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { RoomMembership } from '../delivery/room-membership.js';
import { roomChangeCount } from '../delivery/rooms.js';
import { entitlementToList } from '../notifications/entitlement.js';
import type { HistoryStore } from '../notifications/history.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { describeIssue, isPlainPayload } from '../protocol/client-payloads.js';
import {
  AUTH_FAILURES,
  DISCONNECTS,
  SHUTDOWN_SENTENCE,
  SOCKET_ERRORS,
  type AuthFailure,
  type ServerDisconnect,
  type SocketErrorCode,
} from '../protocol/codes.js';
import { AuthError, ProtocolError } from '../protocol/errors.js';
import { CLIENT_EVENTS, isClientEvent, type ClientEvent } from '../protocol/events.js';
import type { ServerMessageName, ServerMessages } from '../protocol/server-messages.js';
import { HANDLERS, type HandlerContext } from './handlers.js';
import type { SessionRegistry } from './registry.js';
import { isAuthenticated, rescope, roomPlan, supersedes, type AuthenticatedState, type SessionState } from './state.js';
import type { SessionTransport } from './transport.js';

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
  /** Client events per second per connection (SOCKET_EVENT_RATE_LIMIT), and their limiter. */
  readonly eventsPerSecond: number;
  readonly eventLimiter: RateLimiterMemory;
  /** Rejected events per connection over a longer window; exhausting it is sustained abuse. */
  readonly abuseLimiter: RateLimiterMemory;
  /** Room joins and leaves per connection over a window (subscription and entitlement changes). */
  readonly roomLimiter: RateLimiterMemory;
  /**
   * Whether a revocation this instance knows of covers a token of `userId` issued at `issuedAt`: asked (in memory)
   * right before a token takes effect, so that a revocation announced while the token was being verified still wins.
   */
  readonly isRevoked?: (userId: string, issuedAt: number | undefined) => boolean;
}

export type Ack = (payload: unknown) => void;

export interface OpenOptions {
  /** A token the transport verified at connect: the session starts authenticated. */
  readonly handshake?: VerifiedToken;
  /** Socket.IO restored the session (state, rooms, missed packets). */
  readonly recovered?: boolean;
  /** The token a recovered client reconnected with: verified and applied before anything else. */
  readonly recoveryToken?: unknown;
}

/** Longest delay setTimeout honours; a later expiry is re-armed when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const ROOMS_OVER_BUDGET = 'Too many subscription changes; retry in a few seconds';
/**
 * Events of one connection waiting for an answer (a slow backend holds the queue), at least: past a second's worth of
 * the rate budget or this, more are refused rather than kept, so that a client's memory on the server stays bounded
 * whatever the backend does, and a burst within the budget is never refused.
 */
const MIN_PENDING_EVENTS = 32;

/** One client connection's protocol, whatever its transport. */
export class Session {
  readonly id: string;
  readonly transport: SessionTransport['kind'];
  readonly #rooms: RoomMembership;
  #authTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #rateLimitedNotice = 0;
  /** Events accepted and not yet answered, and the chain that handles them in order. */
  #pending = 0;
  #queue: Promise<void> = Promise.resolve();
  /** Sustained flooding was seen: the connection is closing once what it sent before is answered. */
  #abusive = false;
  /** Why the server ended the connection, once it decided to (its last words are still sent). */
  #closing: ServerDisconnect | undefined;
  #closed = false;

  constructor(
    readonly state: SessionState,
    private readonly link: SessionTransport,
    private readonly deps: SessionDeps,
  ) {
    this.id = link.id;
    this.transport = link.kind;
    this.#rooms = new RoomMembership(link);
  }

  /**
   * Starts the session. With `handshake` (a token already verified at connect), it is authenticated at once. A
   * `recovered` session (Socket.IO state recovery) keeps its state and rooms and is not greeted again; the token it
   * reconnected with (`recoveryToken`) is verified first and, when it is a refresh of the session's, applied.
   */
  open(options: OpenOptions = {}): void {
    this.deps.registry.add(this);
    if (options.recovered === true) this.#rooms.assume(roomPlan(this.state));
    if (options.handshake !== undefined) {
      const { handshake } = options;
      void this.#enqueue(() => this.#accept(handshake));
    } else if (options.recoveryToken !== undefined && isAuthenticated(this.state)) {
      const { recoveryToken } = options;
      void this.#enqueue(() => this.#recoverWith(recoveryToken));
    } else if (isAuthenticated(this.state)) {
      this.#resume();
    } else {
      // From the first connect, not this one: a recovered session must not restart its deadline.
      const deadline = Math.max(0, this.state.connectedAt + this.deps.authTimeoutMs - Date.now());
      this.#authTimer = setTimeout(() => {
        if (!isAuthenticated(this.state)) this.fail('auth_timeout');
      }, deadline);
      this.#authTimer.unref();
    }
  }

  /** Carries on an authenticated session Socket.IO restored, as its stored token allows. */
  #resume(): void {
    const state = this.state as AuthenticatedState;
    if (state.expiresAt !== undefined && state.expiresAt <= Date.now()) return this.fail('token_expired');
    if (this.deps.isRevoked?.(state.userId, state.issuedAt) === true) return this.fail('session_revoked');
    // A recovered session skipped the handshake checks: the user may have opened others meanwhile.
    if (this.deps.registry.countForUser(state.userId, this.id) >= this.deps.maxConnectionsPerUser) {
      return this.fail('too_many_connections');
    }
    this.deps.registry.bindUser(this, state.userId);
    this.#armExpiry();
  }

  /**
   * A recovered client's handshake token: another user's is `User ID mismatch`; a refresh (valid, same user, expiring
   * no earlier) is applied; anything else (the stale token the client first connected with, say, while it refreshed
   * the session with `authenticate` since) leaves the session as it was stored, which must still be valid itself.
   */
  async #recoverWith(raw: unknown): Promise<void> {
    const state = this.state as AuthenticatedState;
    const token = await this.deps.verifier.verify(raw).catch((err: unknown) => (err instanceof AuthError ? err : undefined));
    if (this.#closed) return;
    if (token !== undefined && !(token instanceof AuthError)) {
      if (token.userId !== state.userId) return this.fail('user_mismatch');
      if (supersedes(token, state)) return this.#accept(token, undefined, { greet: false });
    } else if (state.expiresAt !== undefined && state.expiresAt <= Date.now()) {
      return this.fail(token?.reason ?? 'token_expired');
    }
    this.#resume();
  }

  /**
   * Handles one client event. Events of a connection are handled one after the other, in arrival order (an event sent
   * right after `authenticate` sees its result, whatever the token verification waits for); the rate limit applies on
   * arrival. Never throws: bad input gets an `error` answer.
   */
  async handle(event: string, payload: unknown, ack?: Ack): Promise<void> {
    if (this.#closed || this.#abusive) return;
    this.state.lastActivityAt = Date.now();
    if (!(await this.#withinRateLimit(ack))) return;
    if (this.#pending >= Math.max(MIN_PENDING_EVENTS, this.deps.eventsPerSecond)) {
      return this.error('rate_limited', 'Too many events waiting for an answer', ack);
    }
    return this.#enqueue(() => this.#process(event, payload, ack));
  }

  #enqueue(work: () => Promise<void> | void): Promise<void> {
    this.#pending++;
    const done = this.#queue.then(work).finally(() => this.#pending--);
    this.#queue = done;
    return done;
  }

  async #process(event: string, payload: unknown, ack?: Ack): Promise<void> {
    if (this.#closed || this.#closing !== undefined) return;
    const known = isClientEvent(event) ? event : undefined;
    if (known === 'authenticate') return this.#authenticate(payload, ack);
    if (!(known !== undefined && CLIENT_EVENTS[known].beforeAuth) && !isAuthenticated(this.state)) {
      return this.error('not_authenticated', SOCKET_ERRORS.not_authenticated, ack);
    }
    if (known === undefined) return this.error('invalid_payload', 'Unknown event', ack);
    try {
      await this.#dispatch(known, payload, ack);
    } catch (err) {
      if (err instanceof ProtocolError) return this.error(err.code, err.message, ack);
      // A backend (Redis) that could not answer: the request was fine, the client may retry.
      this.deps.logger.error({ err, sessionId: this.id, event }, 'client event failed');
      this.error('unavailable', SOCKET_ERRORS.unavailable, ack);
    }
  }

  /** A message the transport could not even decode (raw WebSocket: not JSON, unknown type): counted and answered. */
  async handleUndecodable(message: string): Promise<void> {
    if (this.#closed || this.#abusive) return;
    this.state.lastActivityAt = Date.now();
    if (!(await this.#withinRateLimit())) return;
    // In the queue, so that its answer comes in order with the others'.
    return this.#enqueue(() => this.error('invalid_payload', message));
  }

  /** Sends an answer as its event and to the client's acknowledgement, if it passed one. */
  reply<E extends ServerMessageName>(event: E, payload: ServerMessages[E], ack?: Ack): void {
    this.send(event, payload);
    ack?.(payload);
  }

  /** Sends one message; a client that has stopped reading is disconnected once its backlog passes the bound. */
  send<E extends ServerMessageName>(event: E, payload: ServerMessages[E]): void {
    if (this.#closed) return;
    this.link.send(event, payload);
    if (this.#closing === undefined) this.checkBacklog();
  }

  error(code: SocketErrorCode, message: string, ack?: Ack): void {
    this.deps.metrics.clientEventsRejected.inc({ code });
    this.reply('error', { code, message, timestamp: Date.now() }, ack);
  }

  /** Closes the connection as a slow consumer when its unsent data passes `maxClientBufferBytes`. */
  checkBacklog(): void {
    if (this.link.backlogBytes() > this.deps.maxClientBufferBytes) this.close('slow_consumer');
  }

  /** `auth_failed {reason}`, counted, then disconnect. */
  fail(reason: AuthFailure, ack?: Ack): void {
    if (this.#closed || this.#closing !== undefined) return;
    this.deps.metrics.authFailures.inc({ reason });
    this.deps.logger.info({ ...this.#logFields(), reason }, 'authentication failed');
    this.reply('auth_failed', { reason: AUTH_FAILURES[reason], timestamp: Date.now() }, ack);
    this.close(reason === 'session_revoked' ? 'revoked' : 'auth_failed');
  }

  /** Ends the connection. A disconnect the server decides is announced first (SPEC), then logged and counted. */
  close(reason: ServerDisconnect): void {
    if (this.#closed || this.#closing !== undefined) return;
    this.#closing = reason;
    const notice = DISCONNECTS[reason].notice;
    if (notice !== undefined) {
      const { logger } = this.deps;
      const fields = { ...this.#logFields(), userId: this.state.userId, reason };
      if (reason === 'heartbeat_timeout') logger.info(fields, 'disconnecting a client');
      else logger.warn(fields, 'disconnecting a client');
      this.error(notice.code, notice.message);
    } else if (reason === 'shutdown') {
      this.send('server_shutdown', { reason: SHUTDOWN_SENTENCE, timestamp: Date.now() });
    }
    this.link.close(reason);
    this.dispose();
  }

  /** Frees everything the session holds; called once the connection is gone, whoever closed it. */
  dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.deps.metrics.disconnects.inc({ transport: this.transport, reason: this.#closing ?? 'client' });
    clearTimeout(this.#authTimer);
    clearTimeout(this.#expiryTimer);
    this.#authTimer = this.#expiryTimer = undefined;
    this.#rooms.stop();
    this.deps.registry.remove(this);
    void this.deps.eventLimiter.delete(this.id);
    void this.deps.abuseLimiter.delete(this.id);
    void this.deps.roomLimiter.delete(this.id);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** What every log line about this connection says: which connection, on which transport, from where. */
  #logFields() {
    return { sessionId: this.id, transport: this.transport, clientAddress: this.link.clientAddress };
  }

  /** Validates the payload against the protocol table, runs the event's handler, answers with the table's event. */
  async #dispatch(event: Exclude<ClientEvent, 'authenticate'>, payload: unknown, ack?: Ack): Promise<void> {
    if (!isPlainPayload(payload)) throw new ProtocolError('invalid_payload', 'Invalid payload: expected a JSON object');
    const spec = CLIENT_EVENTS[event];
    const parsed = spec.payload.safeParse(payload);
    if (!parsed.success) throw new ProtocolError('invalid_payload', describeIssue(parsed.error));
    const handler = HANDLERS[event] as (ctx: HandlerContext, payload: unknown) => object | Promise<object>;
    const answer = await handler(this.#context(), parsed.data);
    if (this.#closed) return;
    this.reply(spec.answer, { ...answer, timestamp: Date.now() } as ServerMessages[typeof spec.answer], ack);
  }

  #context(): HandlerContext {
    return {
      connectionId: this.id,
      state: this.state as AuthenticatedState,
      history: this.deps.history,
      resubscribe: async ({ subscriptions, scope }) => {
        const next: SessionState = { ...this.state, subscriptions };
        if (scope === undefined) delete next.scope;
        else next.scope = scope;
        if (!(await this.#chargeRooms(next))) throw new ProtocolError('rate_limited', ROOMS_OVER_BUDGET);
        this.state.subscriptions = subscriptions;
        if (scope === undefined) delete this.state.scope;
        else this.state.scope = scope;
        await this.#syncRooms();
      },
    };
  }

  /** Brings the delivery rooms in line with the state. */
  async #syncRooms(): Promise<void> {
    await this.#rooms.change(roomPlan(this.state));
  }

  /**
   * Charges the room joins and leaves that moving to `next` takes to the connection's room budget, before any is made:
   * false (and nothing to change) when the budget cannot cover them now.
   */
  async #chargeRooms(next: SessionState): Promise<boolean> {
    const changes = roomChangeCount(this.#rooms.plan, roomPlan(next));
    if (changes === 0) return true;
    try {
      await this.deps.roomLimiter.consume(this.id, changes);
      return true;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return false;
      throw rejection;
    }
  }

  async #authenticate(payload: unknown, ack?: Ack): Promise<void> {
    const parsed = isPlainPayload(payload) ? CLIENT_EVENTS.authenticate.payload.safeParse(payload) : undefined;
    if (parsed?.success !== true) return this.fail('invalid_token', ack);
    return this.#authenticateWith(parsed.data.token, parsed.data.userId, ack);
  }

  /** Verifies `raw` and, when it is `userId`'s (and the session's user's, once there is one), applies it. */
  async #authenticateWith(raw: unknown, userId: string, ack?: Ack): Promise<void> {
    let token: VerifiedToken;
    try {
      token = await this.deps.verifier.verify(raw);
    } catch (err) {
      return this.fail(err instanceof AuthError ? err.reason : 'invalid_token', ack);
    }
    if (this.#closed) return;
    const sameUser = this.state.userId === undefined || this.state.userId === token.userId;
    if (token.userId !== userId || !sameUser) return this.fail('user_mismatch', ack);
    return this.#accept(token, ack);
  }

  /**
   * Makes the session authenticated as `token` says (first time, or a refresh with a fresh token) and says so with
   * `auth_success`, unless told not to (a recovered session applying the token it reconnected with).
   */
  async #accept(token: VerifiedToken, ack?: Ack, options: { greet: boolean } = { greet: true }): Promise<void> {
    const { registry, maxConnectionsPerUser } = this.deps;
    if (registry.countForUser(token.userId, this.id) >= maxConnectionsPerUser) return this.fail('too_many_connections', ack);
    const refresh = isAuthenticated(this.state);
    const entitlement = token.entitlement === '*' ? '*' : [...token.entitlement];
    const scope = rescope(this.state.scope, token.entitlement);
    // A refresh that moves many rooms (a token of other accounts) is charged like a subscription change.
    const next: SessionState = { ...this.state, userId: token.userId, entitlement };
    if (scope === undefined) delete next.scope;
    else next.scope = scope;
    if (!(await this.#chargeRooms(next))) return this.error('rate_limited', ROOMS_OVER_BUDGET, ack);
    if (this.#closed) return;
    if (this.deps.isRevoked?.(token.userId, token.issuedAt) === true) return this.fail('session_revoked', ack);
    this.state.userId = token.userId;
    this.state.entitlement = entitlement;
    if (scope === undefined) delete this.state.scope;
    else this.state.scope = scope;
    if (token.expiresAt === undefined) delete this.state.expiresAt;
    else this.state.expiresAt = token.expiresAt;
    if (token.issuedAt === undefined) delete this.state.issuedAt;
    else this.state.issuedAt = token.issuedAt;
    clearTimeout(this.#authTimer);
    this.#authTimer = undefined;
    registry.bindUser(this, token.userId);
    this.#armExpiry();
    // A narrower entitlement leaves its rooms before the client is told it is in effect.
    await this.#syncRooms();
    if (this.#closed) return;
    this.deps.logger.info({ ...this.#logFields(), userId: token.userId, refresh }, 'authenticated');
    if (!options.greet) return;
    this.reply(
      'auth_success',
      {
        message: 'Authentication successful',
        userId: token.userId,
        accountIds: entitlementToList(token.entitlement),
        heartbeatTimeoutMs: this.deps.heartbeatTimeoutMs,
        timestamp: Date.now(),
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
      if (this.state.expiresAt !== undefined && this.state.expiresAt <= Date.now()) this.fail('token_expired');
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
      // Sustained flooding: what was accepted before is still answered, then the connection ends; nothing more is taken.
      if (!this.#abusive) void this.#enqueue(() => this.close('abuse'));
      this.#abusive = true;
      return false;
    }
    // One `rate_limited` event per second is enough to tell the client; acks always get their answer. Every refusal
    // is counted, told or not.
    const now = Date.now();
    if (ack !== undefined || now - this.#rateLimitedNotice >= 1000) {
      if (ack === undefined) this.#rateLimitedNotice = now;
      this.error('rate_limited', SOCKET_ERRORS.rate_limited, ack);
    } else {
      this.deps.metrics.clientEventsRejected.inc({ code: 'rate_limited' });
    }
    return false;
  }
}
