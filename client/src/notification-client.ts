import { Backoff } from './backoff.js';
import { CatchUp } from './catch-up.js';
import { Delivery } from './delivery.js';
import { Emitter } from './emitter.js';
import { Heartbeat, heartbeatInterval } from './heartbeat.js';
import {
  resolveOptions,
  type ClientErrorCode,
  type ClientEvents,
  type ClientOptions,
  type ClientState,
  type NotificationClient,
  type ResolvedOptions,
} from './options.js';
import type { AuthSuccessPayload, EventType, HistoryPayload, HistoryRequest, Notification } from './protocol.js';
import { afterClose, isPermanentSubscribeError } from './reconnect-policy.js';
import { decodeToken, type DecodedToken } from './token.js';
import { TokenSchedule } from './token-schedule.js';
import { SocketIoTransport } from './transports/socketio-transport.js';
import type { Credentials, RequestEvent, ServerMessage, Transport, TransportHandlers } from './transports/transport.js';
import { WebSocketTransport } from './transports/websocket-transport.js';

/** `clientId` of the SDK's heartbeats. */
const CLIENT_ID = 'instantchat-sdk';
/** Answers worth asking again for on the same connection, after a pause. */
const RETRYABLE_CODES: ReadonlySet<string> = new Set(['rate_limited', 'unavailable']);
const MAX_PAGE_TRIES = 5;

/** An `error` answer to a request. */
export class AnswerError extends Error {
  override readonly name = 'AnswerError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Connects to the notification server and keeps the application's half of the protocol: heartbeats, token refresh,
 * reconnects with backoff, resubscription and catch-up, so that `notification` fires once for each notification,
 * in order, or `gap` says that some could not be recovered.
 */
export function createNotificationClient(options: ClientOptions): NotificationClient {
  return new InstantChatClient(resolveOptions(options));
}

class InstantChatClient implements NotificationClient {
  readonly #opts: ResolvedOptions;
  readonly #events = new Emitter<ClientEvents>();
  readonly #transport: Transport;
  readonly #backoff: Backoff;
  readonly #heartbeat: Heartbeat;
  readonly #refresh: TokenSchedule;
  readonly #delivery: Delivery;
  readonly #catchUp: CatchUp;
  #state: ClientState = 'connecting';
  #eventTypes: EventType[];
  #credentials: { token: string; decoded: DecodedToken | undefined } | undefined;
  #auth: AuthSuccessPayload | undefined;
  /** Increases with every connection attempt: work begun for an older one stops. */
  #connection = 0;
  /** The current connection is open and authenticated. */
  #live = false;
  #connectedOnce = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #readyTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #pauses = new Set<() => void>();
  /** Why the server refused or ended this connection's authentication, if it said so. */
  #authFailure: string | undefined;
  /** A fresh session's catch-up has not completed yet (a recovered session then still needs it). */
  #catchUpPending = false;
  #gapReported = false;

  constructor(options: ResolvedOptions) {
    this.#opts = options;
    this.#eventTypes = [...options.eventTypes];
    this.#backoff = new Backoff({ initialMs: options.reconnectDelayMs, maxMs: options.reconnectDelayMaxMs });
    this.#delivery = new Delivery((n) => this.#events.emit('notification', n), {
      memory: options.dedupeMemory,
      lastSeenId: options.lastSeenId,
    });
    this.#catchUp = new CatchUp(this.#delivery);
    this.#heartbeat = new Heartbeat(
      () => this.#transport.send('heartbeat', { timestamp: Date.now(), clientId: CLIENT_ID }),
      () => this.#transport.drop('heartbeat unanswered'),
    );
    this.#refresh = new TokenSchedule(() => void this.#refreshToken());
    const handlers: TransportHandlers = {
      ready: (info) => void this.#onReady(info.recovered),
      message: (message) => this.#onMessage(message),
      closed: (info) => this.#onClosed(info),
      frame: (direction, data) => {
        if (this.#events.has('frame')) this.#events.emit('frame', { direction, data });
      },
    };
    const credentials = () => this.#fetchCredentials();
    this.#transport =
      options.transport === 'websocket'
        ? new WebSocketTransport({
            url: options.url,
            path: options.websocketPath,
            webSocket: options.webSocket,
            credentials,
            handlers,
          })
        : new SocketIoTransport({
            url: options.url,
            path: options.socketioPath,
            transports: options.socketioTransports,
            credentials,
            handlers,
          });
    // After the caller's synchronous `on(...)` calls, so that they see the first `state`.
    queueMicrotask(() => {
      if (this.#closed) return;
      this.#events.emit('state', this.#state);
      this.#connect();
    });
  }

  get state(): ClientState {
    return this.#state;
  }

  get lastSeenId(): string | undefined {
    return this.#delivery.lastSeenId;
  }

  get transport(): Transport['kind'] {
    return this.#transport.kind;
  }

  on<E extends keyof ClientEvents>(event: E, listener: (payload: ClientEvents[E]) => void): () => void {
    return this.#events.on(event, listener);
  }

  off<E extends keyof ClientEvents>(event: E, listener: (payload: ClientEvents[E]) => void): void {
    this.#events.off(event, listener);
  }

  async setEventTypes(eventTypes: readonly EventType[]): Promise<void> {
    if (!Array.isArray(eventTypes) || eventTypes.some((t) => typeof t !== 'string' || t === '')) {
      throw new TypeError('setEventTypes: expected an array of event type names');
    }
    const before = this.#eventTypes;
    const next = [...new Set(eventTypes)];
    this.#eventTypes = next;
    if (!this.#live) return;
    const gen = this.#connection;
    const removed = before.filter((t) => !next.includes(t));
    const added = next.filter((t) => !before.includes(t));
    if (removed.length > 0) {
      this.#expectAnswer(await this.#request(gen, 'unsubscribe', { eventTypes: removed, timestamp: Date.now() }), 'subscription_confirmed');
    }
    if (added.length > 0) await this.#subscribe(gen, added);
  }

  async getHistory(query: HistoryRequest = {}): Promise<HistoryPayload> {
    const answer = await this.#request(this.#connection, 'get_history', query);
    return this.#expectAnswer(answer, 'history').payload;
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#live = false;
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#readyTimer);
    this.#heartbeat.stop();
    this.#refresh.cancel();
    for (const wake of this.#pauses) wake();
    this.#setState('closed');
    this.#closing = this.#transport.close();
    return this.#closing;
  }

  // ---- connection lifecycle ------------------------------------------------------------------------------------

  #connect(): void {
    if (this.#closed) return;
    this.#connection++;
    this.#authFailure = undefined;
    this.#gapReported = false;
    this.#setState(this.#connectedOnce || this.#backoff.attempt > 0 ? 'reconnecting' : 'connecting');
    // Until this connection has caught up, live notifications wait, so that they come after what was missed.
    this.#delivery.hold();
    this.#readyTimer = setTimeout(() => this.#transport.drop('connect timeout'), this.#opts.connectTimeoutMs);
    this.#transport.connect();
  }

  async #onReady(recovered: boolean): Promise<void> {
    if (this.#closed) return;
    const gen = this.#connection;
    clearTimeout(this.#readyTimer);
    this.#live = true;
    this.#heartbeat.start(heartbeatInterval(this.#auth?.heartbeatTimeoutMs, this.#opts.heartbeatIntervalMs));
    this.#refresh.schedule(this.#credentials?.decoded?.expiresAt);
    if (!recovered) {
      // A fresh session: history is the authority for everything before it.
      this.#delivery.discardHeld();
      this.#catchUpPending = true;
    }
    try {
      // Also after a recovery (which keeps subscriptions): cheap, and the set may have changed meanwhile.
      await this.#subscribe(gen, this.#eventTypes);
      if (this.#catchUpPending) {
        await this.#catchUp.run(
          { eventTypes: [...this.#eventTypes], accountIds: this.#opts.accountIds },
          { fetchPage: (query) => this.#fetchPage(gen, query), onGap: () => this.#reportGap() },
        );
        this.#catchUpPending = false;
      }
    } catch (err) {
      if (!this.#isCurrent(gen)) return;
      if (err instanceof AnswerError && isPermanentSubscribeError(err.code)) {
        // Already reported as an `error` event: these options cannot work, retrying would loop.
        void this.close();
        return;
      }
      this.#transport.drop(`could not resume: ${errorMessage(err)}`);
      return;
    }
    if (!this.#isCurrent(gen)) return;
    this.#delivery.release();
    this.#connectedOnce = true;
    this.#backoff.reset();
    this.#setState('connected');
  }

  #onMessage(message: ServerMessage): void {
    if (this.#closed) return;
    this.#heartbeat.answered();
    switch (message.event) {
      case 'webhook_event':
        if (isNotification(message.payload)) this.#delivery.live(message.payload);
        return;
      case 'auth_success':
        this.#auth = message.payload;
        this.#events.emit('authenticated', message.payload);
        return;
      case 'auth_failed':
        this.#authFailure = message.payload.reason;
        this.#error('auth_failed', message.payload.reason);
        return;
      case 'error':
        this.#error(message.payload.code, message.payload.message);
        return;
      case 'server_shutdown':
        this.#error('server_shutdown', message.payload.reason);
        return;
      default:
        return;
    }
  }

  #onClosed(info: { reason: string; refusal?: string }): void {
    clearTimeout(this.#readyTimer);
    this.#live = false;
    this.#heartbeat.stop();
    this.#refresh.cancel();
    if (this.#closed) return;
    if (info.refusal !== undefined) {
      this.#authFailure = info.refusal;
      this.#error('auth_failed', info.refusal);
    }
    if (afterClose({ byClient: false, authFailure: this.#authFailure }) === 'stop') {
      void this.close();
      return;
    }
    this.#setState('reconnecting');
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => this.#connect(), this.#backoff.next());
  }

  // ---- subscribe, catch-up, token refresh ----------------------------------------------------------------------

  async #subscribe(gen: number, eventTypes: readonly EventType[]): Promise<void> {
    if (eventTypes.length === 0) return;
    const accountIds = this.#opts.accountIds;
    const answer = await this.#request(gen, 'subscribe', {
      eventTypes: [...eventTypes],
      ...(accountIds !== undefined && { accountIds: [...accountIds] }),
      timestamp: Date.now(),
    });
    this.#expectAnswer(answer, 'subscription_confirmed');
  }

  /** `gap`, at most once per connection. */
  #reportGap(): void {
    if (this.#gapReported) return;
    this.#gapReported = true;
    this.#events.emit('gap', { since: this.#catchUp.resumePoint });
  }

  async #fetchPage(gen: number, query: HistoryRequest): Promise<HistoryPayload> {
    for (let tries = 1; ; tries++) {
      const answer = await this.#request(gen, 'get_history', query);
      if (answer.event === 'error' && RETRYABLE_CODES.has(answer.payload.code) && tries < MAX_PAGE_TRIES) {
        await this.#pause(1_000 * tries);
        continue;
      }
      return this.#expectAnswer(answer, 'history').payload;
    }
  }

  async #refreshToken(): Promise<void> {
    const gen = this.#connection;
    if (!this.#isCurrent(gen)) return;
    const expiring = this.#credentials?.decoded?.expiresAt;
    let credentials: Credentials;
    try {
      credentials = await this.#fetchCredentials();
    } catch {
      // Reported as `token_unavailable`; try again while the current token lasts (the server ends it at `exp`).
      if (this.#isCurrent(gen)) this.#refresh.retry(expiring);
      return;
    }
    if (!this.#isCurrent(gen)) return;
    let answer: ServerMessage;
    try {
      answer = await this.#request(gen, 'authenticate', { ...credentials, timestamp: Date.now() });
    } catch {
      return; // the connection is gone; the next one authenticates with a token fetched then
    }
    if (!this.#isCurrent(gen)) return;
    // `auth_failed` is followed by the server's disconnect: the reconnect fetches a token again.
    if (answer.event === 'auth_success') this.#refresh.schedule(this.#credentials?.decoded?.expiresAt);
    else if (answer.event === 'error') this.#refresh.retry(this.#credentials?.decoded?.expiresAt);
  }

  /** Asks `getToken` for this connection (each connection and each refresh asks again). */
  async #fetchCredentials(): Promise<Credentials> {
    let token: unknown;
    try {
      token = await this.#opts.getToken();
    } catch (err) {
      if (!this.#closed) this.#error('token_unavailable', `getToken failed: ${errorMessage(err)}`);
      throw err;
    }
    if (this.#closed) throw new Error('closed');
    if (typeof token !== 'string' || token === '') {
      this.#error('token_unavailable', 'getToken returned no token');
      throw new Error('getToken returned no token');
    }
    const decoded = decodeToken(token);
    this.#credentials = { token, decoded };
    return { token, userId: this.#opts.userId ?? decoded?.userId };
  }

  // ---- helpers -------------------------------------------------------------------------------------------------

  async #request(gen: number, event: RequestEvent, payload: object): Promise<ServerMessage> {
    if (!this.#isCurrent(gen)) throw new Error(`${event}: not connected`);
    return this.#transport.request(event, payload, this.#opts.requestTimeoutMs);
  }

  #expectAnswer<E extends ServerMessage['event']>(answer: ServerMessage, event: E): Extract<ServerMessage, { event: E }> {
    if (answer.event === event) return answer as Extract<ServerMessage, { event: E }>;
    if (answer.event === 'error') throw new AnswerError(answer.payload.code, answer.payload.message);
    throw new Error(`expected ${event}, got ${answer.event}`);
  }

  #isCurrent(gen: number): boolean {
    return !this.#closed && this.#live && gen === this.#connection;
  }

  /** A wait that `close()` cuts short. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#pauses.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#pauses.add(wake);
    });
  }

  #setState(state: ClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#events.emit('state', state);
  }

  #error(code: string, message: string): void {
    this.#events.emit('error', { code: code as ClientErrorCode, message });
  }
}

function isNotification(value: unknown): value is Notification {
  const n = value as Partial<Notification> | null;
  return typeof n === 'object' && n !== null && typeof n.id === 'string' && typeof n.accountId === 'string' && typeof n.eventType === 'string';
}

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
