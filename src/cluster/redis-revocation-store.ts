import type { RedisClient } from './redis-connection.js';

/**
 * The shared store of auth/revocations.ts (its `RevocationStore`) in cluster mode: revocations shared by every instance and kept across restarts: one key per user holding the time of the user's
 * latest revocation (epoch ms), expiring after `REVOCATION_TTL_MS`. A later revocation overwrites it and restarts
 * the TTL.
 */
export class RedisRevocationStore {
  constructor(
    private readonly client: RedisClient,
    private readonly options: { ttlMs: number; prefix: string },
  ) {}

  async revoke(userId: string, at: number): Promise<void> {
    await this.client.set(this.#key(userId), String(at), { expiration: { type: 'PX', value: this.options.ttlMs } });
  }

  async revokedAt(userId: string): Promise<number | undefined> {
    const value = await this.client.get(this.#key(userId));
    const at = value === null ? Number.NaN : Number(value);
    return Number.isFinite(at) ? at : undefined;
  }

  #key(userId: string): string {
    return `${this.options.prefix}revoked:${userId}`;
  }
}
