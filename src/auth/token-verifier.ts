import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Config } from '../config/config.js';
import { AuthError } from '../protocol/errors.js';
import { createJwksVerification, type JwksEndpointEvent } from './jwks.js';
import { claimsSchema, toVerifiedToken, type VerifiedToken } from './claims.js';

export interface TokenVerifier {
  /** Verifies signature, algorithm, exp, iss, aud and the claims' types; rejects with an AuthError. */
  verify(token: unknown): Promise<VerifiedToken>;
}

const MAX_TOKEN_LENGTH = 16_384;

/** A key that may have signed a token, with the one algorithm it verifies (never `none`, never a confusion). */
interface VerificationKey {
  /**
   * A KeyObject made once at start-up: given a string, jsonwebtoken makes one on every verification (and, for an HS256
   * secret, first fails to parse it as a public key): most of the CPU of an authentication.
   */
  readonly key: KeyObject;
  readonly algorithm: jwt.Algorithm;
}

/**
 * Verifies tokens with the configured keys: the HS256 secrets of `JWT_SECRET`, the PEM keys of `JWT_PUBLIC_KEY`
 * (RS256 for RSA, ES256 for EC P-256), or the identity provider's JWKS (`JWT_JWKS_URL`, see jwks.ts). Several keys
 * are for rotation: a token verified by any of them is accepted.
 */
export function createTokenVerifier(
  config: Pick<Config, 'JWT_SECRET' | 'JWT_PUBLIC_KEY' | 'JWT_JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE'>,
  options: { onJwksEndpoint?: (event: JwksEndpointEvent) => void } = {},
): TokenVerifier {
  if (config.JWT_JWKS_URL !== undefined) {
    const verifyByJwks = createJwksVerification(config.JWT_JWKS_URL, {
      ...(config.JWT_ISSUER !== undefined && { issuer: config.JWT_ISSUER }),
      ...(config.JWT_AUDIENCE !== undefined && { audience: config.JWT_AUDIENCE }),
      ...(options.onJwksEndpoint !== undefined && { onEndpoint: options.onJwksEndpoint }),
    });
    return { verify: async (token) => toToken(await verifyByJwks(check(token))) };
  }
  const keys: VerificationKey[] =
    config.JWT_PUBLIC_KEY === undefined
      ? config.JWT_SECRET.map((secret) => ({ key: createSecretKey(Buffer.from(secret, 'utf8')), algorithm: 'HS256' }))
      : config.JWT_PUBLIC_KEY.map(publicKey);
  const checks: jwt.VerifyOptions = {
    ...(config.JWT_ISSUER !== undefined && { issuer: config.JWT_ISSUER }),
    ...(config.JWT_AUDIENCE !== undefined && { audience: config.JWT_AUDIENCE }),
  };
  return { verify: async (token) => toToken(verifyWithAny(check(token), keys, checks)) };
}

/** A token as sent, before any parsing: a string of a sensible length, else an invalid token. */
function check(token: unknown): string {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw new AuthError('invalid_token');
  return token;
}

/** The payload of a token verified by one of `keys`, tried in order; an expired token is told apart. */
export function verifyWithAny(token: string, keys: readonly VerificationKey[], checks: jwt.VerifyOptions): unknown {
  let expired = false;
  for (const { key, algorithm } of keys) {
    try {
      return jwt.verify(token, key, { ...checks, algorithms: [algorithm] });
    } catch (err) {
      // Expiry is checked after the signature: this key signed it.
      if (err instanceof jwt.TokenExpiredError) expired = true;
    }
  }
  throw new AuthError(expired ? 'token_expired' : 'invalid_token');
}

/** The claims we rely on, typed; anything missing or mistyped is an invalid token. */
export function toToken(payload: unknown): VerifiedToken {
  const claims = claimsSchema.safeParse(payload);
  const verified = claims.success ? toVerifiedToken(claims.data) : undefined;
  if (verified === undefined) throw new AuthError('invalid_token');
  return verified;
}

function publicKey(pem: string): VerificationKey {
  const key = createPublicKey(pem);
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return { key, algorithm: 'RS256' };
  if (type === 'ec') return { key, algorithm: 'ES256' };
  throw new Error(`JWT_PUBLIC_KEY: unsupported key type ${String(type)} (expected RSA or EC P-256)`);
}
