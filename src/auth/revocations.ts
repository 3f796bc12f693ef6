import { LRUCache } from 'lru-cache';
import { AuthError } from '../protocol/errors.js';
import type { VerifiedToken } from './claims.js';
import type { TokenVerifier } from './token-verifier.js';

/** Where revocations are shared between instances and restarts (Redis in cluster mode). */
export interface RevocationStore {
  /** Remembers that `userId`'s tokens issued until `at` (epoch ms) are refused, for the store's TTL. */
  revoke(userId: string, at: number): Promise<void>;
  /** The latest revocation of `userId` still remembered, in epoch ms. */
  revokedAt(userId: string): Promise<number | undefined>;
}

/**
 * Revocations in memory are bounded in number (the oldest forgotten first): the admin API is the only way in, and a
 * day's worth of revoked users is far below this. Cluster mode keeps every one in Redis, with its TTL.
 */
const MAX_LOCAL_REVOCATIONS = 100_000;

/**
 * Whether a token's `iat` falls under a revocation: issued at or before it. `iat` has second resolution, so a token
 * issued in the same second as the revocation is refused too (it cannot be told apart); no `iat` counts as before.
 */
export const isCoveredBy = (revokedAt: number | undefined, issuedAt: number | undefined): boolean =>
  revokedAt !== undefined && (issuedAt === undefined || issuedAt <= revokedAt);

/**
 * The revocations this instance knows of (`POST /api/admin/users/:userId/revoke`): in memory, and in the shared
 * store in cluster mode. The memory also holds what other instances announced (so that a token verified just before
 * an announcement is still refused when it is applied) and what was read from the store.
 */
export class Revocations {
  readonly #local: LRUCache<string, number>;

  constructor(
    private readonly options: { ttlMs: number; shared?: RevocationStore | undefined },
  ) {
    this.#local = new LRUCache({ max: MAX_LOCAL_REVOCATIONS });
  }

  get ttlMs(): number {
    return this.options.ttlMs;
  }

  /** Revokes `userId`'s tokens issued until `at`: in the shared store first (it may fail: nothing is then claimed). */
  async revoke(userId: string, at: number): Promise<void> {
    await this.options.shared?.revoke(userId, at);
    this.remember(userId, at);
  }

  /** Records a revocation made elsewhere (another instance, the shared store) in this instance's memory. */
  remember(userId: string, at: number): void {
    const ttl = at + this.options.ttlMs - Date.now();
    const known = this.#local.get(userId);
    if (ttl > 0 && (known === undefined || at > known)) this.#local.set(userId, at, { ttl });
  }

  /** Whether this instance's memory revokes a token of `userId` issued at `issuedAt` (synchronous: no store asked). */
  revokesLocally(userId: string, issuedAt: number | undefined): boolean {
    return isCoveredBy(this.#local.get(userId), issuedAt);
  }

  /**
   * Whether a token of `userId` issued at `issuedAt` is revoked, asking the shared store when memory does not say so.
   * A store that cannot answer is `Authentication unavailable`: a revoked user must not get in while Redis is away.
   */
  async revokes(userId: string, issuedAt: number | undefined): Promise<boolean> {
    if (this.revokesLocally(userId, issuedAt)) return true;
    if (this.options.shared === undefined) return false;
    let at: number | undefined;
    try {
      at = await this.options.shared.revokedAt(userId);
    } catch {
      throw new AuthError('unavailable');
    }
    if (at !== undefined) this.remember(userId, at);
    return isCoveredBy(at, issuedAt);
  }
}

/** A verifier that also refuses the tokens a revocation covers (`Session revoked`). */
export function refusingRevoked(verifier: TokenVerifier, revocations: Revocations): TokenVerifier {
  return {
    async verify(raw): Promise<VerifiedToken> {
      const token = await verifier.verify(raw);
      if (await revocations.revokes(token.userId, token.issuedAt)) throw new AuthError('session_revoked');
      return token;
    },
  };
}
