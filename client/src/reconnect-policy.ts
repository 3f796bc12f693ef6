/** SPEC's `auth_failed` reason for a revoked user: the only server decision the SDK does not undo by reconnecting. */
export const SESSION_REVOKED = 'Session revoked';

/** Answers to `subscribe` that no retry can change: the SDK reports them and closes. */
const PERMANENT_SUBSCRIBE_ERRORS: ReadonlySet<string> = new Set(['invalid_event_type', 'forbidden_account', 'invalid_payload']);

export interface CloseCause {
  /** `close()` was called. */
  readonly byClient: boolean;
  /** The last `auth_failed` reason, or the reason the server refused the handshake with. */
  readonly authFailure?: string | undefined;
}

/**
 * What to do once a connection is gone. Everything else (network loss, `server_shutdown`, `heartbeat_timeout`,
 * `slow_consumer`, `rate_limited`, `io server disconnect`, `Token expired` and other auth failures, for which
 * `getToken` is asked again) is retried with backoff: a frontend outlives a deploy, a restart, a flaky network.
 */
export function afterClose(cause: CloseCause): 'stop' | 'reconnect' {
  if (cause.byClient) return 'stop';
  if (cause.authFailure === SESSION_REVOKED) return 'stop';
  return 'reconnect';
}

/** Whether an `error` code answering `subscribe` means the options themselves are refused. */
export const isPermanentSubscribeError = (code: string): boolean => PERMANENT_SUBSCRIBE_ERRORS.has(code);
