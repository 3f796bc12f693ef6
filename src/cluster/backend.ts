import { createAdapter } from '@socket.io/redis-streams-adapter';
import type { Config } from '../config/config.js';
import { MemoryDedupeStore, type DedupeStore } from '../notifications/dedupe.js';
import { MemoryHistoryStore, type HistoryStore } from '../notifications/history.js';
import type { Logger } from '../observability/logger.js';
import { withFaultHandling } from './adapter-faults.js';
import { RedisConnection } from './redis-connection.js';
import { RedisDedupeStore } from './redis-dedupe-store.js';
import { RedisHistoryStore } from './redis-history-store.js';
import { RedisRevocationStore } from './redis-revocation-store.js';

/** Every Redis key of this server starts with it, so that one Redis can hold other data too. */
export const KEY_PREFIX = 'instantchat:';

/**
 * Entries kept in the Socket.IO stream. Recovery replays from it, so it must hold at least a recovery window's
 * worth of broadcasts (100 000 ≈ 13 notifications a second for 2 minutes, plus greetings); Redis trims beyond it.
 */
const STREAM_MAX_LEN = 100_000;
/** How long start-up waits for Redis before listening anyway (not ready until it comes). */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * Where shared state lives, chosen once from config: in this process (single instance), or in Redis (`REDIS_URL`:
 * several instances behind a load balancer share dedupe, history and Socket.IO broadcasts).
 */
export interface Backend {
  readonly dedupe: DedupeStore;
  readonly history: HistoryStore;
  /** Where revocations (admin API) are shared in cluster mode; undefined: this process's memory only. */
  readonly revocationStore: RedisRevocationStore | undefined;
  /** The Socket.IO adapter of cluster mode; undefined for Socket.IO's in-memory one. */
  readonly adapter: ReturnType<typeof createAdapter> | undefined;
  readonly clustered: boolean;
  /** Why the backend cannot serve now, if it cannot. */
  notReadyReason(): string | undefined;
  connect(): Promise<void>;
  close(): Promise<void>;
}

export function createBackend(config: Config, logger: Logger): Backend {
  if (config.REDIS_URL === undefined) {
    return {
      dedupe: new MemoryDedupeStore({ ttlMs: config.DEDUPE_TTL_MS, maxEntries: config.DEDUPE_MAX_ENTRIES }),
      history: new MemoryHistoryStore({ size: config.HISTORY_SIZE, maxAccounts: config.HISTORY_MAX_ACCOUNTS }),
      revocationStore: undefined,
      adapter: undefined,
      clustered: false,
      notReadyReason: () => undefined,
      connect: async () => undefined,
      close: async () => undefined,
    };
  }
  const redis = new RedisConnection(config.REDIS_URL, logger);
  return {
    dedupe: new RedisDedupeStore(redis.commands, { ttlMs: config.DEDUPE_TTL_MS, prefix: KEY_PREFIX }),
    history: new RedisHistoryStore(redis.commands, {
      size: config.HISTORY_SIZE,
      maxAccounts: config.HISTORY_MAX_ACCOUNTS,
      prefix: KEY_PREFIX,
    }),
    revocationStore: new RedisRevocationStore(redis.commands, { ttlMs: config.REVOCATION_TTL_MS, prefix: KEY_PREFIX }),
    adapter: withFaultHandling(
      createAdapter(redis.adapter, {
        streamName: `${KEY_PREFIX}socket.io`,
        channelPrefix: `${KEY_PREFIX}socket.io`,
        sessionKeyPrefix: `${KEY_PREFIX}sio:session:`,
        maxLen: STREAM_MAX_LEN,
        onlyPlaintext: true,
      }),
      logger,
    ),
    clustered: true,
    notReadyReason: () => (redis.isReady ? undefined : 'redis_unreachable'),
    connect: () => redis.connect(CONNECT_TIMEOUT_MS),
    close: () => redis.close(),
  };
}
