/**
 * Every code the server speaks, written once (SPEC: HTTP errors, socket `error` codes, `auth_failed` reasons,
 * disconnect reasons, webhook results). HTTP replies, socket `error` events, `auth_failed`, `connect_error`, raw
 * WebSocket close frames and metric labels are all produced from these tables; nothing else spells a code.
 */

/** HTTP error codes: the status each answers with and the sentence used when the thrower gives none. */
export const HTTP_ERRORS = {
  invalid_body: { status: 400, message: 'The request body could not be read' },
  invalid_signature: { status: 401, message: 'Missing or invalid X-Hub-Signature-256' },
  unauthorized: { status: 401, message: 'A valid bearer token is required' },
  forbidden: { status: 403, message: 'Forbidden' },
  not_found: { status: 404, message: 'Not found' },
  request_timeout: { status: 408, message: 'The request did not arrive in time' },
  payload_too_large: { status: 413, message: 'The request body is too large' },
  too_many_requests: { status: 429, message: 'Too many requests; retry later' },
  internal_error: { status: 500, message: 'Something went wrong on our side' },
  not_ready: { status: 503, message: 'Not ready; retry later' },
} as const satisfies Record<string, { status: number; message: string }>;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;

/**
 * Codes of the socket `error` event `{code, message, timestamp}` (the label of
 * `instantchat_client_events_rejected_total` too). The last two only ever announce a disconnect.
 */
export const SOCKET_ERRORS = {
  not_authenticated: 'Authenticate first',
  invalid_payload: 'Invalid payload',
  invalid_event_type: 'Unknown event type',
  forbidden_account: 'Not entitled to that account',
  rate_limited: 'Too many events; slow down',
  unavailable: 'A backend could not answer; retry later',
  heartbeat_timeout: 'No event within the heartbeat timeout; disconnecting',
  slow_consumer: 'Too much unsent data: the client is not reading; disconnecting',
} as const satisfies Record<string, string>;

export type SocketErrorCode = keyof typeof SOCKET_ERRORS;

/**
 * Why authentication failed: the metric label (`instantchat_auth_failures_total{reason}`) and the sentence SPEC fixes
 * for `auth_failed.reason` and the handshake's `connect_error.message`.
 */
export const AUTH_FAILURES = {
  invalid_token: 'Invalid token',
  token_expired: 'Token expired',
  user_mismatch: 'User ID mismatch',
  auth_timeout: 'Authentication timeout',
  too_many_connections: 'Too many connections',
  session_revoked: 'Session revoked',
  unavailable: 'Authentication unavailable',
} as const satisfies Record<string, string>;

export type AuthFailure = keyof typeof AUTH_FAILURES;
export type AuthFailureSentence = (typeof AUTH_FAILURES)[AuthFailure];

/**
 * Why a connection ended (`instantchat_disconnects_total{reason}`): how a disconnect the server decides is announced
 * (an `error` code; `auth_failed` and `server_shutdown` are sent by their own paths) and the raw WebSocket close
 * frame it ends with. `client` is the client leaving or its transport dropping: nothing is sent.
 */
export const DISCONNECTS = {
  client: { notice: undefined, close: undefined },
  heartbeat_timeout: {
    notice: { code: 'heartbeat_timeout', message: SOCKET_ERRORS.heartbeat_timeout },
    close: [1000, 'Heartbeat timeout'],
  },
  auth_failed: { notice: undefined, close: [1008, 'Authentication failed'] },
  revoked: { notice: undefined, close: [1008, 'Session revoked'] },
  slow_consumer: { notice: { code: 'slow_consumer', message: SOCKET_ERRORS.slow_consumer }, close: [1013, 'Slow consumer'] },
  abuse: { notice: { code: 'rate_limited', message: 'Sustained flooding; disconnecting' }, close: [1008, 'Rate limit exceeded'] },
  shutdown: { notice: undefined, close: [1001, 'Server shutting down'] },
} as const satisfies Record<
  string,
  { notice: { code: SocketErrorCode; message: string } | undefined; close: readonly [number, string] | undefined }
>;

export type DisconnectReason = keyof typeof DISCONNECTS;
/** A disconnect the server decides (every reason but the client's own). */
export type ServerDisconnect = Exclude<DisconnectReason, 'client'>;

/** `instantchat_webhooks_total{result}`: what became of a webhook POST. */
export const WEBHOOK_RESULTS = ['accepted', 'invalid_signature', 'invalid_body', 'duplicate'] as const;
export type WebhookResult = (typeof WEBHOOK_RESULTS)[number];

/** `server_shutdown.reason`. */
export const SHUTDOWN_SENTENCE = 'Server shutting down';

export const TRANSPORTS = ['socketio', 'websocket'] as const;
export type Transport = (typeof TRANSPORTS)[number];

const keys = <T extends object>(table: T) => Object.keys(table) as Array<keyof T & string>;
export const SOCKET_ERROR_CODES = keys(SOCKET_ERRORS);
export const AUTH_FAILURE_LABELS = keys(AUTH_FAILURES);
export const DISCONNECT_REASONS = keys(DISCONNECTS);
