import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey, type RemoteJWKSet } from 'jose';
import { AuthError } from '../protocol/errors.js';

/**
 * Tokens verified against an identity provider's JWKS endpoint (`JWT_JWKS_URL`), with `jose`: its
 * `createRemoteJWKSet` fetches the set, caches it and picks the key by the token's `kid` (and `alg`, `use`,
 * `key_ops`); `jwtVerify` checks the signature and `exp`/`nbf`/`iss`/`aud`. jose (one dependency-free package, by
 * the author of the OpenID-certified node-oidc-provider) rather than `jwks-rsa`, which itself wraps jose and adds a
 * memoizer, a rate limiter and a logger around it.
 *
 * When the set is fetched is decided here, not by jose (its own cache age and cooldown are turned off): once on the
 * first token; again when a token names a `kid` the cached set lacks (the provider rotated its keys), at most
 * `FETCHES_PER_MINUTE` times in any minute, so that tokens with made-up `kid`s cannot make this server hammer the
 * provider; and in the background when the set is older than `REFRESH_AFTER_MS`, so that a key the provider
 * withdrew stops verifying even if no new `kid` ever shows up. A failed fetch keeps the cached set.
 */

/** SPEC: at most 10 fetches a minute. */
const FETCHES_PER_MINUTE = 10;
const MINUTE_MS = 60_000;
const REFRESH_AFTER_MS = 10 * MINUTE_MS;
/** jose's default: a handshake waits at most this long for the provider. */
const FETCH_TIMEOUT_MS = 5_000;
/** Never HS256 (a JWKS of `oct` keys would turn the provider's public data into our secret), never `none`. */
const ALGORITHMS = ['RS256', 'ES256'];

/** The endpoint became unreachable (a fetch failed) or reachable again: for the logs, once per change. */
export type JwksEndpointEvent = { readonly reachable: false; readonly error: string } | { readonly reachable: true };

export interface JwksOptions {
  readonly issuer?: string;
  readonly audience?: string;
  readonly onEndpoint?: (event: JwksEndpointEvent) => void;
}

/** Verifies one token against the JWKS at `url`; resolves with its payload or rejects with an AuthError. */
export function createJwksVerification(url: string, options: JwksOptions = {}): (token: string) => Promise<unknown> {
  const keys = new JwksKeys(url, options.onEndpoint);
  const checks = {
    algorithms: ALGORITHMS,
    ...(options.issuer !== undefined && { issuer: options.issuer }),
    ...(options.audience !== undefined && { audience: options.audience }),
  };
  return async (token) => {
    try {
      return (await jwtVerify(token, keys.resolve, checks)).payload;
    } catch (err) {
      if (err instanceof AuthError) throw err;
      // jose checks `exp` only once the signature verified: the provider did sign this one.
      if (err instanceof errors.JWTExpired && err.claim === 'exp') throw new AuthError('token_expired');
      throw new AuthError('invalid_token');
    }
  };
}

class JwksKeys {
  readonly #set: RemoteJWKSet;
  /** Start times of the fetches of the last minute, oldest first. */
  readonly #fetches: number[] = [];
  /** When the cached set was fetched; undefined until a fetch succeeded. */
  #fetchedAt: number | undefined;
  /** Whether the last fetch succeeded: when the budget is spent, an unknown `kid` is then simply not in the set. */
  #reachable = false;
  /** What `onEndpoint` was last told, so that it hears of each change once. */
  #toldDown = false;

  constructor(
    url: string,
    private readonly onEndpoint: ((event: JwksEndpointEvent) => void) | undefined,
  ) {
    this.#set = createRemoteJWKSet(new URL(url), {
      cooldownDuration: Number.POSITIVE_INFINITY,
      cacheMaxAge: Number.POSITIVE_INFINITY,
      timeoutDuration: FETCH_TIMEOUT_MS,
    });
  }

  /** jose's key resolver: the cached key of the token's `kid`, fetching the set again when it has none. */
  readonly resolve: JWTVerifyGetKey = async (header, token) => {
    if (this.#fetchedAt === undefined) {
      await this.#fetch();
    } else if (Date.now() - this.#fetchedAt > REFRESH_AFTER_MS && !this.#set.reloading) {
      this.#fetch().catch(() => undefined);
    }
    try {
      return await this.#set(header, token);
    } catch (err) {
      // Several keys fit a token without `kid`, or the set has no usable key of that kind: nothing to fetch.
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw new AuthError('invalid_token');
    }
    // An unknown `kid`: the provider may have rotated its keys since the set was fetched.
    await this.#fetch();
    try {
      return await this.#set(header, token);
    } catch {
      throw new AuthError('invalid_token');
    }
  };

  /**
   * Fetches the set (or joins the fetch in flight). Rejects with `unavailable` when it fails, or when the budget is
   * spent while the provider was last unreachable; resolves without fetching when the budget is spent and the set
   * in hand is current.
   */
  async #fetch(): Promise<void> {
    if (!this.#set.reloading && !this.#takeBudget()) {
      if (this.#reachable) return;
      throw new AuthError('unavailable');
    }
    try {
      await this.#set.reload();
    } catch (err) {
      if (!this.#toldDown) this.onEndpoint?.({ reachable: false, error: err instanceof Error ? err.message : String(err) });
      this.#toldDown = true;
      this.#reachable = false;
      throw new AuthError('unavailable');
    }
    if (this.#toldDown) this.onEndpoint?.({ reachable: true });
    this.#toldDown = false;
    this.#reachable = true;
    this.#fetchedAt = Date.now();
  }

  /** Counts one fetch against the per-minute budget, if it allows one now. */
  #takeBudget(): boolean {
    const now = Date.now();
    while (this.#fetches.length > 0 && (this.#fetches[0] as number) <= now - MINUTE_MS) this.#fetches.shift();
    if (this.#fetches.length >= FETCHES_PER_MINUTE) return false;
    this.#fetches.push(now);
    return true;
  }
}
