import jwt from 'jsonwebtoken';
/**
 * The JWT secret test servers verify with. Kept here, not in server.ts, so that minting a token does not load the
 * whole server (about a second of imports for the fake-timer session tests).
 */
export const TEST_JWT_SECRET = 'test-jwt-secret-0123456789abcdef';

export interface TokenClaims {
  userId?: string;
  sub?: string;
  accountIds?: unknown;
  [claim: string]: unknown;
}

/** An HS256 token signed with the test secret; `expiresIn` in seconds (negative: already expired). */
export function mintToken(claims: TokenClaims, options: { expiresIn?: number; secret?: string } = {}): string {
  const payload = { ...claims };
  if (options.expiresIn !== undefined) payload.exp = Math.floor(Date.now() / 1000) + options.expiresIn;
  return jwt.sign(payload, options.secret ?? TEST_JWT_SECRET, { algorithm: 'HS256' });
}

/** A token with `alg: none` (unsigned), which must never be accepted. */
export function unsignedToken(claims: TokenClaims): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`;
}
