import { createPublicKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Config } from '../config/config.js';
import { claimsSchema, toVerifiedToken, type VerifiedToken } from './claims.js';

/** The sentences SPEC fixes for `auth_failed.reason` and `connect_error.message`. */
export const AUTH_FAILURE = {
  invalidToken: 'Invalid token',
  tokenExpired: 'Token expired',
  userMismatch: 'User ID mismatch',
  timeout: 'Authentication timeout',
  tooManyConnections: 'Too many connections',
} as const;

export type AuthFailureMessage = (typeof AUTH_FAILURE)[keyof typeof AUTH_FAILURE];

export class AuthError extends Error {
  override readonly name = 'AuthError';
  constructor(readonly reason: AuthFailureMessage) {
    super(reason);
  }
}

export interface TokenVerifier {
  /** Verifies signature, algorithm, exp, iss, aud and the claims' types; throws AuthError. */
  verify(token: unknown): VerifiedToken;
}

const MAX_TOKEN_LENGTH = 16_384;

export function createTokenVerifier(jwtConfig: Config['jwt']): TokenVerifier {
  const { key, algorithm } = resolveKey(jwtConfig);
  const options: jwt.VerifyOptions = {
    // Pinned: never `none`, never HS256 with a public key as the secret (algorithm confusion).
    algorithms: [algorithm],
    ...(jwtConfig.issuer !== undefined && { issuer: jwtConfig.issuer }),
    ...(jwtConfig.audience !== undefined && { audience: jwtConfig.audience }),
  };
  return {
    verify(token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
        throw new AuthError(AUTH_FAILURE.invalidToken);
      }
      let payload: unknown;
      try {
        payload = jwt.verify(token, key, options);
      } catch (err) {
        throw new AuthError(err instanceof jwt.TokenExpiredError ? AUTH_FAILURE.tokenExpired : AUTH_FAILURE.invalidToken);
      }
      const claims = claimsSchema.safeParse(payload);
      const verified = claims.success ? toVerifiedToken(claims.data) : undefined;
      if (verified === undefined) throw new AuthError(AUTH_FAILURE.invalidToken);
      return verified;
    },
  };
}

function resolveKey(jwtConfig: Config['jwt']): { key: jwt.Secret; algorithm: jwt.Algorithm } {
  if (jwtConfig.publicKey === undefined) return { key: jwtConfig.secret, algorithm: 'HS256' };
  const key = createPublicKey(jwtConfig.publicKey);
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return { key: jwtConfig.publicKey, algorithm: 'RS256' };
  if (type === 'ec') return { key: jwtConfig.publicKey, algorithm: 'ES256' };
  throw new Error(`JWT_PUBLIC_KEY: unsupported key type ${String(type)} (expected RSA or EC P-256)`);
}
