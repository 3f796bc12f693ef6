/** Reconnect delays: exponential, capped, with jitter. */
export interface BackoffOptions {
  /** Ceiling of the first delay, in ms. */
  readonly initialMs: number;
  /** Largest ceiling, in ms. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/**
 * The delay before reconnect attempt `attempt` (0-based): the ceiling doubles from `initialMs` up to `maxMs`, and the
 * delay is drawn uniformly from its upper half ("equal jitter"). Half of the ceiling is kept so that a fleet of
 * clients dropped at once (a deploy, a restart) never comes back in one burst, nor with a zero delay; the random
 * half spreads them out.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Counts consecutive failed attempts; reset once a connection is fully established. */
export class Backoff {
  #attempt = 0;

  constructor(
    readonly options: BackoffOptions = DEFAULT_BACKOFF,
    readonly random: () => number = Math.random,
  ) {}

  get attempt(): number {
    return this.#attempt;
  }

  next(): number {
    return backoffDelay(this.#attempt++, this.options, this.random);
  }

  reset(): void {
    this.#attempt = 0;
  }
}
