import { createPublicKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Config } from '../config/config.js';
import { AuthError } from '../protocol/errors.js';
import { claimsSchema, toVerifiedToken, type VerifiedToken } from './claims.js';

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
        throw new AuthError('invalid_token');
      }
      let payload: unknown;
      try {
        payload = jwt.verify(token, key, options);
      } catch (err) {
        throw new AuthError(err instanceof jwt.TokenExpiredError ? 'token_expired' : 'invalid_token');
      }
      const claims = claimsSchema.safeParse(payload);
      const verified = claims.success ? toVerifiedToken(claims.data) : undefined;
      if (verified === undefined) throw new AuthError('invalid_token');
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
