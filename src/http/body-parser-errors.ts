/** Errors of Express's body parsers carry a `type` (`entity.too.large`, ...) and an HTTP `status`. */
export function isBodyParserError(err: unknown): err is { type: string; status: number } {
  return typeof err === 'object' && err !== null && typeof (err as { type?: unknown }).type === 'string' &&
    typeof (err as { status?: unknown }).status === 'number';
}
