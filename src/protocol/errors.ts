import { AUTH_FAILURES, HTTP_ERRORS, SOCKET_ERRORS, type AuthFailure, type HttpErrorCode, type SocketErrorCode } from './codes.js';

/**
 * An operational HTTP error: expected, answered `{"error": code, "message"}` with its code's status by the one error
 * handler, logged without a stack. Unknown errors become `internal_error` there.
 */
export class AppError extends Error {
  override readonly name = 'AppError';
  readonly status: number;

  constructor(
    readonly code: HttpErrorCode,
    message: string = HTTP_ERRORS[code].message,
  ) {
    super(message);
    this.status = HTTP_ERRORS[code].status;
  }
}

/** A client event refused: answered `error {code, message}`; the connection stays. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';

  constructor(
    readonly code: SocketErrorCode,
    message: string = SOCKET_ERRORS[code],
  ) {
    super(message);
  }
}

/** Authentication refused: `auth_failed {reason}` (or `connect_error`) with the reason's sentence, then disconnect. */
export class AuthError extends Error {
  override readonly name = 'AuthError';

  constructor(readonly reason: AuthFailure) {
    super(AUTH_FAILURES[reason]);
  }
}

/** Errors of Express's body parsers (http-errors): a `type` (`entity.too.large`, ...) and an HTTP `status`. */
export function isBodyParserError(err: unknown): err is { type: string; status: number } {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { type?: unknown }).type === 'string' &&
    typeof (err as { status?: unknown }).status === 'number'
  );
}

/** The operational error an error stands for: itself, a body parser's refusal, or `internal_error`. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isBodyParserError(err)) {
    if (err.status === 413) return new AppError('payload_too_large');
    if (err.status >= 400 && err.status < 500) return new AppError('invalid_body');
  }
  return new AppError('internal_error');
}
