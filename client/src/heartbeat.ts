/** Used when the server does not say its `heartbeatTimeoutMs`: a quarter of the server's default (60 s), to be safe. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 15_000;
const MIN_HEARTBEAT_INTERVAL_MS = 50;
/** Heartbeats sent in a row without any answer from the server before the connection is deemed dead. */
const MAX_UNANSWERED = 2;

/**
 * How often to send `heartbeat`: three per server timeout, so that one lost or late beat never gets the connection
 * closed (the server disconnects a socket silent for longer than the timeout, checked every sweep).
 */
export function heartbeatInterval(serverTimeoutMs: number | undefined, override?: number): number {
  if (override !== undefined) return Math.max(MIN_HEARTBEAT_INTERVAL_MS, override);
  if (serverTimeoutMs === undefined || !Number.isFinite(serverTimeoutMs) || serverTimeoutMs <= 0) {
    return DEFAULT_HEARTBEAT_INTERVAL_MS;
  }
  return Math.max(MIN_HEARTBEAT_INTERVAL_MS, Math.floor(serverTimeoutMs / 3));
}

/**
 * Sends application heartbeats while a connection is up, and notices when the server stopped answering: a raw
 * WebSocket has no ping of its own that a browser can see, so a half-open connection would otherwise look alive.
 */
export class Heartbeat {
  #timer: ReturnType<typeof setInterval> | undefined;
  #unanswered = 0;

  constructor(
    private readonly send: () => void,
    private readonly onUnanswered: () => void,
  ) {}

  /** Starts beating now and every `intervalMs` (restarts when already running). */
  start(intervalMs: number): void {
    this.stop();
    this.#unanswered = 0;
    this.#timer = setInterval(() => this.#beat(), intervalMs);
    this.#beat();
  }

  /** Anything heard from the server proves the connection alive. */
  answered(): void {
    this.#unanswered = 0;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #beat(): void {
    if (this.#unanswered >= MAX_UNANSWERED) {
      this.stop();
      this.onUnanswered();
      return;
    }
    this.#unanswered++;
    this.send();
  }
}
