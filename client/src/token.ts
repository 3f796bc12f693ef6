/** What the SDK reads from a JWT, without verifying it (the server does that): who, and until when. */
export interface DecodedToken {
  /** The `userId` claim, else `sub`. */
  readonly userId: string | undefined;
  /** `exp` in milliseconds since the epoch, when the token has one. */
  readonly expiresAt: number | undefined;
  /** `iat` in milliseconds since the epoch, when the token has one. */
  readonly issuedAt: number | undefined;
  /** The `accountIds` claim as given (the server decides what it means). */
  readonly accountIds: unknown;
  /** Every claim of the payload. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * Decodes a JWT's payload (base64url JSON) without checking its signature. Undefined when it is not a JWT: the SDK
 * then cannot schedule a refresh, and the server will say what is wrong with it.
 */
export function decodeToken(token: string): DecodedToken | undefined {
  const part = token.split('.')[1];
  if (part === undefined || part === '' || part.length > 65_536) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(base64UrlToText(part));
  } catch {
    return undefined;
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return undefined;
  const record = claims as Record<string, unknown>;
  const userId = typeof record.userId === 'string' ? record.userId : typeof record.sub === 'string' ? record.sub : undefined;
  return {
    userId,
    expiresAt: secondsToMs(record.exp),
    issuedAt: secondsToMs(record.iat),
    accountIds: record.accountIds,
    claims: record,
  };
}

const secondsToMs = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value * 1000 : undefined;

/** base64url to UTF-8 text with what browsers and Node 20 both have (`atob`, `TextDecoder`). */
function base64UrlToText(part: string): string {
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
  const binary = atob(base64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}
