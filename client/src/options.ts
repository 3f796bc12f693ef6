import type { AuthSuccessPayload, EventType, HistoryPayload, HistoryRequest, Notification, SessionErrorCode } from './protocol.js';
import type { TransportKind } from './transports/transport.js';
import type { WebSocketConstructor } from './transports/websocket-transport.js';

export interface ClientOptions {
  /**
   * Base URL of the notification server, e.g. `https://notifications.example.com`.
   * @default the page's origin (browsers only)
   */
  url?: string;
  /**
   * Returns a JWT for this user (from your backend). Called for every connection, before the token's `exp` (to
   * re-authenticate the live connection) and after `Token expired`; return a fresh token each time.
   */
  getToken: () => string | Promise<string>;
  /** Event types to receive (SPEC's known types); may be changed later with `setEventTypes`. */
  eventTypes: readonly EventType[];
  /** A narrower account scope than the token's `accountIds` (subscribe's `accountIds`). */
  accountIds?: readonly string[] | undefined;
  /**
   * `socketio` (Socket.IO, with connection state recovery) or `websocket` (the raw endpoint `/ws/notifications`).
   * @default 'socketio'
   */
  transport?: TransportKind;
  /** Id of the last notification this application has (kept from an earlier page load): missed ones are fetched first. */
  lastSeenId?: string | undefined;
  /**
   * `userId` sent with `authenticate`.
   * @default the token's `userId` claim, else `sub`
   */
  userId?: string | undefined;
  /** A WebSocket implementation for `transport: 'websocket'` (default: the global one, else the `ws` package). */
  webSocket?: WebSocketConstructor | undefined;
  /**
   * Socket.IO path.
   * @default '/socket.io'
   */
  socketioPath?: string | undefined;
  /**
   * Engine.IO transports for `transport: 'socketio'`, in the order to try.
   * @default socket.io-client's: long-polling, upgraded to WebSocket
   */
  socketioTransports?: readonly ('polling' | 'websocket' | 'webtransport')[] | undefined;
  /**
   * Raw WebSocket path.
   * @default '/ws/notifications'
   */
  websocketPath?: string | undefined;
  /**
   * Interval of application heartbeats.
   * @default a third of the server's `heartbeatTimeoutMs` (from `auth_success`), else 15 000
   */
  heartbeatIntervalMs?: number | undefined;
  /**
   * Ceiling of the first reconnect delay; it doubles with each failed attempt (the delay is drawn from the upper
   * half of the ceiling).
   * @default 500
   */
  reconnectDelayMs?: number | undefined;
  /**
   * Largest reconnect delay ceiling.
   * @default 30000
   */
  reconnectDelayMaxMs?: number | undefined;
  /**
   * Longest wait for an answer (`subscribe`, `get_history`, `authenticate`).
   * @default 10000
   */
  requestTimeoutMs?: number | undefined;
  /**
   * Longest wait for a connection to be open and authenticated before it is retried.
   * @default 20000
   */
  connectTimeoutMs?: number | undefined;
  /**
   * Notifications remembered to drop duplicates (least recently seen forgotten first). It must cover what one
   * catch-up can repeat: a few pages of history.
   * @default 10000
   */
  dedupeMemory?: number | undefined;
}

export type ClientState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/**
 * Codes of `error` events: the server's `error` codes, `auth_failed` (the message is the server's reason),
 * `server_shutdown` (the server is going away; the client reconnects), and `token_unavailable` (`getToken` failed
 * or returned no token).
 */
export type ClientErrorCode =
  | SessionErrorCode
  | 'heartbeat_timeout'
  | 'slow_consumer'
  | 'unavailable'
  | 'auth_failed'
  | 'server_shutdown'
  | 'token_unavailable';

export interface ClientError {
  code: ClientErrorCode;
  message: string;
}

export interface GapInfo {
  /** The id the catch-up started from (undefined when the client had none). */
  since: string | undefined;
}

/** A frame as it went over the wire (debugging: the demo page's frame log). */
export interface Frame {
  direction: 'in' | 'out';
  data: string;
}

export interface ClientEvents {
  /** Each notification once, in arrival order, across drops, reconnects and server restarts. */
  notification: Notification;
  /** Some notifications could not be recovered (at most once per reconnect): reload from your own store. */
  gap: GapInfo;
  state: ClientState;
  /** Server errors and auth failures. */
  error: ClientError;
  /** Every `auth_success` (at connect and after each token refresh): the user and their accounts. */
  authenticated: AuthSuccessPayload;
  /** Wire traffic, for debugging. */
  frame: Frame;
}

export interface NotificationClient {
  readonly state: ClientState;
  /** Id of the last notification delivered (keep it to resume after a page load). */
  readonly lastSeenId: string | undefined;
  readonly transport: TransportKind;
  /** Adds a listener; returns a function that removes it. */
  on<E extends keyof ClientEvents>(event: E, listener: (payload: ClientEvents[E]) => void): () => void;
  off<E extends keyof ClientEvents>(event: E, listener: (payload: ClientEvents[E]) => void): void;
  /** Replaces the event types received (subscribes and unsubscribes on the live connection, and after reconnects). */
  setEventTypes(eventTypes: readonly EventType[]): Promise<void>;
  /** One `get_history` page, as the server answers it (the client's own catch-up does not need this). */
  getHistory(query?: HistoryRequest): Promise<HistoryPayload>;
  /** Closes the connection and stops reconnecting, for good; resolves once nothing is left open. */
  close(): Promise<void>;
}

export interface ResolvedOptions {
  readonly url: string;
  readonly getToken: () => string | Promise<string>;
  readonly eventTypes: readonly EventType[];
  readonly accountIds: readonly string[] | undefined;
  readonly transport: TransportKind;
  readonly lastSeenId: string | undefined;
  readonly userId: string | undefined;
  readonly webSocket: WebSocketConstructor | undefined;
  readonly socketioPath: string | undefined;
  readonly socketioTransports: readonly ('polling' | 'websocket' | 'webtransport')[] | undefined;
  readonly websocketPath: string | undefined;
  readonly heartbeatIntervalMs: number | undefined;
  readonly reconnectDelayMs: number;
  readonly reconnectDelayMaxMs: number;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly dedupeMemory: number;
}

/** Checks the options once, with errors that name the option. */
export function resolveOptions(options: ClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('createNotificationClient: options are required');
  if (typeof options.getToken !== 'function') throw new TypeError('createNotificationClient: getToken must be a function');
  if (!Array.isArray(options.eventTypes) || options.eventTypes.some((t) => typeof t !== 'string' || t === '')) {
    throw new TypeError('createNotificationClient: eventTypes must be an array of event type names');
  }
  if (options.accountIds !== undefined && (!Array.isArray(options.accountIds) || options.accountIds.length === 0)) {
    throw new TypeError('createNotificationClient: accountIds, when given, must be a non-empty array of account ids');
  }
  const transport = options.transport ?? 'socketio';
  if (transport !== 'socketio' && transport !== 'websocket') {
    throw new TypeError("createNotificationClient: transport must be 'socketio' or 'websocket'");
  }
  return {
    url: resolveUrl(options.url),
    getToken: options.getToken,
    eventTypes: [...new Set(options.eventTypes)],
    accountIds: options.accountIds === undefined ? undefined : [...options.accountIds],
    transport,
    lastSeenId: options.lastSeenId === '' ? undefined : options.lastSeenId,
    userId: options.userId,
    webSocket: options.webSocket,
    socketioPath: options.socketioPath,
    socketioTransports: options.socketioTransports,
    websocketPath: options.websocketPath,
    heartbeatIntervalMs: positive('heartbeatIntervalMs', options.heartbeatIntervalMs),
    reconnectDelayMs: positive('reconnectDelayMs', options.reconnectDelayMs) ?? 500,
    reconnectDelayMaxMs: positive('reconnectDelayMaxMs', options.reconnectDelayMaxMs) ?? 30_000,
    requestTimeoutMs: positive('requestTimeoutMs', options.requestTimeoutMs) ?? 10_000,
    connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs) ?? 20_000,
    dedupeMemory: Math.floor(positive('dedupeMemory', options.dedupeMemory) ?? 10_000),
  };
}

function resolveUrl(url: string | undefined): string {
  if (url !== undefined) {
    try {
      return new URL(url).toString();
    } catch {
      throw new TypeError(`createNotificationClient: url is not a valid URL: ${String(url).slice(0, 100)}`);
    }
  }
  const origin = (globalThis as { location?: { origin?: string } }).location?.origin;
  if (typeof origin === 'string' && origin !== 'null') return origin;
  throw new TypeError('createNotificationClient: url is required outside a browser page');
}

function positive(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`createNotificationClient: ${name} must be a positive number`);
  }
  return value;
}
