import { createClient } from 'redis';
import type { Logger } from '../observability/logger.js';

export type RedisClient = ReturnType<typeof createClient>;

/** Longest pause between reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 2000;

/**
 * The Redis connections of cluster mode. `commands` serves dedupe and history and fails fast while Redis is away
 * (no offline queue: a webhook then gets a 5xx and Meta retries, instead of hanging). `adapter` is handed to the
 * Socket.IO streams adapter, which duplicates it for its blocking reads and its subscriptions; it keeps the offline
 * queue so that those reads wait for the reconnection instead of spinning.
 */
export class RedisConnection {
  readonly commands: RedisClient;
  readonly adapter: RedisClient;
  /** The adapter's duplicates: this instance receives the cluster's broadcasts only while they are connected. */
  readonly #copies = new Set<RedisClient>();
  #wasReady = false;
  #reachable = false;

  constructor(
    url: string,
    private readonly logger: Logger,
  ) {
    const reconnectStrategy = (retries: number) => Math.min(50 * 2 ** retries, MAX_RECONNECT_DELAY_MS);
    this.commands = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy } });
    this.adapter = createClient({ url, socket: { reconnectStrategy } });
    this.#trackCopies(this.adapter);
    for (const [name, client] of [
      ['commands', this.commands],
      ['adapter', this.adapter],
    ] as const) {
      // Without an 'error' listener a lost connection would crash the process; readiness reports it instead.
      client.on('error', (err: Error) => logger.debug({ err: err.message, client: name }, 'redis error'));
    }
    // 'reconnecting' comes once per attempt: say it once per outage.
    this.commands.on('ready', () => {
      if (this.#wasReady && !this.#reachable) logger.info('redis reachable again');
      this.#wasReady = true;
      this.#reachable = true;
    });
    this.commands.on('end', () => logger.info('redis connection closed'));
    this.commands.on('reconnecting', () => {
      if (this.#reachable) logger.warn('redis unreachable: reconnecting');
      this.#reachable = false;
    });
  }

  /** Connects every client (the adapter's duplicates too); rejects if Redis cannot be reached at start-up. */
  async connect(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis not reachable within ${timeoutMs} ms`)), timeoutMs);
    });
    // The adapter connects its duplicates itself, as soon as it is created: wait for them (through their errors).
    const copiesReady = [...this.#copies].map((copy) =>
      copy.isReady ? undefined : new Promise<void>((resolve) => copy.once('ready', () => resolve())),
    );
    try {
      await Promise.race([Promise.all([this.commands.connect(), this.adapter.connect(), ...copiesReady]), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** True while every connection is up: shared state is reachable and this instance receives the cluster's traffic. */
  get isReady(): boolean {
    return this.commands.isReady && this.adapter.isReady && [...this.#copies].every((copy) => copy.isReady);
  }

  /**
   * Closes every client. Call it after the Socket.IO server closed (which stops the adapter's reads). The adapter's
   * blocking read holds its connection until it returns (up to 5 s; during an outage, never): cut it, the adapter
   * catches that read's failure.
   */
  async close(): Promise<void> {
    const closing = [this.commands, this.adapter].map(end);
    for (const copy of this.#copies) if (copy.isOpen) copy.destroy();
    await Promise.allSettled(closing);
    this.logger.debug('redis clients closed');
  }

  /**
   * Records the duplicates the streams adapter makes of `client`. The adapter ends each with `disconnect()`, which
   * throws once the client is closed and rejects its pending commands, some of which the adapter never catches (an
   * unhandled rejection): end them as `close` ends the others.
   */
  #trackCopies(client: RedisClient): void {
    const duplicate = client.duplicate.bind(client);
    client.duplicate = ((...args: Parameters<typeof duplicate>) => {
      const copy = duplicate(...args);
      copy.disconnect = async () => {
        await end(copy as RedisClient);
      };
      copy.on('error', (err: Error) => this.logger.debug({ err: err.message, client: 'adapter copy' }, 'redis error'));
      this.#copies.add(copy as RedisClient);
      return copy;
    }) as typeof client.duplicate;
  }
}

/**
 * Closes a client, waiting for its pending commands only while Redis is reachable: during an outage they can never
 * complete, and a stop must not hang on them (nor reject them: not every caller catches). It then stops reconnecting.
 */
function end(client: RedisClient): Promise<void> | undefined {
  if (!client.isOpen) return undefined;
  const reachable = client.isReady;
  const closed = client.close();
  return reachable ? closed : undefined;
}
