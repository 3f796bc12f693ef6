import { createClient } from 'redis';
import type { Logger } from '../observability/logger.js';

export type RedisClient = ReturnType<typeof createClient>;

/** Longest pause between reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 2000;

/**
 * The Redis connections of cluster mode. `commands` serves dedupe and history and fails fast while Redis is away
 * (no offline queue: a webhook then gets a 5xx and Meta retries, instead of hanging). `adapter` is handed to the
 * Socket.IO streams adapter, which duplicates it for its blocking reads; it keeps the offline queue so that those
 * reads wait for the reconnection instead of spinning.
 */
export class RedisConnection {
  readonly commands: RedisClient;
  readonly adapter: RedisClient;
  #wasReady = false;

  constructor(
    url: string,
    private readonly logger: Logger,
  ) {
    const reconnectStrategy = (retries: number) => Math.min(50 * 2 ** retries, MAX_RECONNECT_DELAY_MS);
    this.commands = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy } });
    this.adapter = createClient({ url, socket: { reconnectStrategy } });
    for (const [name, client] of [
      ['commands', this.commands],
      ['adapter', this.adapter],
    ] as const) {
      // Without an 'error' listener a lost connection would crash the process; readiness reports it instead.
      client.on('error', (err: Error) => logger.debug({ err: err.message, client: name }, 'redis error'));
    }
    this.commands.on('ready', () => {
      if (this.#wasReady) logger.info('redis reachable again');
      this.#wasReady = true;
    });
    this.commands.on('end', () => logger.info('redis connection closed'));
    this.commands.on('reconnecting', () => {
      if (this.#wasReady) logger.warn('redis unreachable: reconnecting');
    });
  }

  /** Connects both clients; rejects if Redis cannot be reached at start-up. */
  async connect(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis not reachable within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all([this.commands.connect(), this.adapter.connect()]), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  get isReady(): boolean {
    return this.commands.isReady;
  }

  async close(): Promise<void> {
    await Promise.allSettled(
      [this.commands, this.adapter].map((client) => (client.isOpen ? client.close() : Promise.resolve())),
    );
    this.logger.debug('redis clients closed');
  }
}
