import { createClient } from 'redis';
import type { Logger } from '../observability/logger.js';
import { catchForgottenCommands, trackDuplicates } from './redis-client-patches.js';

export type RedisClient = ReturnType<typeof createClient>;

/** Longest pause between reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 2000;
/**
 * A Redis that stops answering without closing the connection (a frozen host, a network black hole) must count as
 * unreachable: commands ping it every second, and a connection silent for this long is dropped and retried. The
 * adapter's connections block on reads for up to 5 s by design, so theirs is longer.
 */
const PING_INTERVAL_MS = 1000;
const COMMANDS_SOCKET_TIMEOUT_MS = 3000;
const ADAPTER_SOCKET_TIMEOUT_MS = 10_000;
/** How long a closing client may take to answer before it is destroyed instead. */
const CLOSE_PROBE_MS = 1000;

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
    // Named, so that an operator (or a fault test) can tell the connections apart in CLIENT LIST.
    this.commands = createClient({
      url,
      name: 'instantchat-commands',
      disableOfflineQueue: true,
      pingInterval: PING_INTERVAL_MS,
      socket: { reconnectStrategy, socketTimeout: COMMANDS_SOCKET_TIMEOUT_MS },
    });
    this.adapter = createClient({ url, name: 'instantchat-adapter', socket: { reconnectStrategy, socketTimeout: ADAPTER_SOCKET_TIMEOUT_MS } });
    trackDuplicates(this.adapter, { onCopy: (copy) => this.#copies.add(copy), end, logger });
    catchForgottenCommands(this.adapter, logger);
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
}

/**
 * Closes a client, waiting for its pending commands only while Redis answers: during an outage, or when Redis is
 * frozen, they can never complete, and a stop must not hang on them (nor reject them: not every caller catches).
 * Whether it answers is asked first, because a client cannot be destroyed once its close has begun.
 */
async function end(client: RedisClient): Promise<void> {
  if (!client.isOpen) return;
  let timer: NodeJS.Timeout | undefined;
  const answers =
    client.isReady &&
    (await Promise.race([
      client.ping().then(
        () => true,
        () => false,
      ),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), CLOSE_PROBE_MS))),
    ]));
  clearTimeout(timer);
  // Something else may have ended it while we asked.
  if (!client.isOpen) return;
  if (answers) await client.close();
  else client.destroy();
}
