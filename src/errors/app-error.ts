/** Stable error codes of SPEC: HTTP error bodies, socket `error` events and `auth_failed` reasons come from these. */
export const HTTP_ERROR_STATUS = {
  invalid_body: 400,
  invalid_signature: 401,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  request_timeout: 408,
  payload_too_large: 413,
  too_many_requests: 429,
  not_ready: 503,
  internal_error: 500,
} as const;

export type HttpErrorCode = keyof typeof HTTP_ERROR_STATUS;

/** An operational HTTP error: expected, answered with its code and status, logged without a stack. */
export class AppError extends Error {
  override readonly name = 'AppError';
  readonly status: number;

  constructor(
    readonly code: HttpErrorCode,
    message: string,
  ) {
    super(message);
    this.status = HTTP_ERROR_STATUS[code];
  }
}
