import type { VerifiedToken } from '../auth/claims.js';
import { RoomMembership } from '../delivery/room-membership.js';
import { roomChangeCount } from '../delivery/rooms.js';
import { isPlainPayload } from '../protocol/client-payloads.js';
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
import { answerEvent, type HandlerContext } from './handlers.js';
import { EventQueue, type Ack } from './event-queue.js';
import { adopt, authSuccess, recoveryOutcome, withToken } from './credentials.js';
import { isAuthenticated, roomPlan, type AuthenticatedState, type SessionState } from './state.js';
import type { OpenOptions, SessionDeps } from './session-deps.js';
import type { SessionTransport } from './transport.js';

export type { Ack, OpenOptions, SessionDeps };

const ROOMS_OVER_BUDGET = 'Too many subscription changes; retry in a few seconds';

/** One client connection's protocol, whatever its transport. */
export class Session {
  readonly id: string;
  readonly transport: SessionTransport['kind'];
  readonly #rooms: RoomMembership;
  readonly #events: EventQueue;
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
    this.#events = new EventQueue(this, deps.limits);
  }

  // The event queue's owner (QueueOwner): methods rather than a closure each per connection.

  /** Answers `error {code: "rate_limited"}` (to the ack too, when there is one). */
  refuse(message: string, ack?: Ack): void {
    this.error('rate_limited', message, ack);
  }

  countSilentRefusal(): void {
    this.deps.metrics.clientEventsRejected.inc({ code: 'rate_limited' });
  }

  endForAbuse(): void {
    this.close('abuse');
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
      void this.#events.run(() => this.#accept(handshake));
    } else if (options.recoveryToken !== undefined && isAuthenticated(this.state)) {
      const { recoveryToken } = options;
      void this.#events.run(() => this.#recoverWith(recoveryToken));
    } else if (isAuthenticated(this.state)) {
      this.#resume();
    } else {
      // From the first connect, not this one: a recovered session must not restart its deadline.
      this.deps.authDeadlines.schedule(this, this.state.connectedAt + this.deps.authTimeoutMs, () => {
        if (!isAuthenticated(this.state)) this.fail('auth_timeout');
      });
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

  /** A recovered client's handshake token (see `recoveryOutcome`), before any of its events. */
  async #recoverWith(raw: unknown): Promise<void> {
    const verified = await this.deps.verifier.verify(raw).catch((err: unknown) => (err instanceof AuthError ? err : undefined));
    if (this.#closed) return;
    const outcome = recoveryOutcome(verified ?? new AuthError('invalid_token'), this.state as AuthenticatedState, Date.now());
    if (outcome.kind === 'fail') return this.fail(outcome.reason);
    if (outcome.kind === 'apply') return this.#accept(outcome.token, undefined, { greet: false });
    this.#resume();
  }

  /**
   * Handles one client event. Events of a connection are handled one after the other, in arrival order (an event sent
   * right after `authenticate` sees its result, whatever the token verification waits for); the rate limit applies on
   * arrival. Never throws: bad input gets an `error` answer.
   */
  async handle(event: string, payload: unknown, ack?: Ack): Promise<void> {
    if (this.#closed || this.#events.abusive) return;
    this.state.lastActivityAt = Date.now();
    if (!(await this.#events.admit(ack))) return;
    return this.#events.run(() => this.#process(event, payload, ack));
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
    if (this.#closed || this.#events.abusive) return;
    this.state.lastActivityAt = Date.now();
    if (!(await this.#events.admit())) return;
    // In the queue, so that its answer comes in order with the others'.
    return this.#events.run(() => this.error('invalid_payload', message));
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
    this.deps.authDeadlines.cancel(this);
    this.deps.expiries.cancel(this);
    this.#rooms.stop();
    this.deps.registry.remove(this);
    this.deps.limits.forget(this.id);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** What every log line about this connection says: which connection, on which transport, from where. */
  #logFields() {
    return { sessionId: this.id, transport: this.transport, clientAddress: this.link.clientAddress };
  }

  /** Runs the event's handler (protocol table: schema, handler, answer) and sends its answer. */
  async #dispatch(event: Exclude<ClientEvent, 'authenticate'>, payload: unknown, ack?: Ack): Promise<void> {
    const answer = await answerEvent(event, payload, this.#context());
    if (!this.#closed) this.reply(answer.event, answer.payload, ack);
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
  #chargeRooms(next: SessionState): Promise<boolean> {
    return this.deps.limits.chargeRooms(this.id, roomChangeCount(this.#rooms.plan, roomPlan(next)));
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
    const next = withToken(this.state, token);
    // A refresh that moves many rooms (a token of other accounts) is charged like a subscription change.
    if (!(await this.#chargeRooms(next))) return this.error('rate_limited', ROOMS_OVER_BUDGET, ack);
    if (this.#closed) return;
    if (this.deps.isRevoked?.(token.userId, token.issuedAt) === true) return this.fail('session_revoked', ack);
    adopt(this.state, next);
    this.deps.authDeadlines.cancel(this);
    registry.bindUser(this, token.userId);
    this.#armExpiry();
    // A narrower entitlement leaves its rooms before the client is told it is in effect.
    await this.#syncRooms();
    if (this.#closed) return;
    this.deps.logger.info({ ...this.#logFields(), userId: token.userId, refresh }, 'authenticated');
    if (options.greet) this.reply('auth_success', authSuccess(token, this.deps.heartbeatTimeoutMs), ack);
  }

  /** `auth_failed {reason: "Token expired"}` at the token's `exp`, unless a fresh token came first. */
  #armExpiry(): void {
    const { expiresAt } = this.state;
    if (expiresAt === undefined) this.deps.expiries.cancel(this);
    else this.deps.expiries.schedule(this, expiresAt, () => this.fail('token_expired'));
  }
}
