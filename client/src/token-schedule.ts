/** Refresh at most this long before `exp` (and earlier for short-lived tokens, see `refreshDelay`). */
export const MAX_REFRESH_LEAD_MS = 60_000;
/** Share of the remaining lifetime kept as lead when that is less than `MAX_REFRESH_LEAD_MS`. */
const LEAD_SHARE = 0.3;
/** Longest delay `setTimeout` honours; longer ones are re-armed when they fire. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * How long to wait before fetching a fresh token for one that expires at `expiresAt`: a minute before `exp`, or 30%
 * of what remains when that is shorter (a 2 s token is refreshed after 1.4 s). The lead also absorbs clock skew
 * between this device and the server, which is the one that enforces `exp`.
 */
export function refreshDelay(expiresAt: number, now: number): number {
  const remaining = expiresAt - now;
  if (remaining <= 0) return 0;
  return remaining - Math.min(MAX_REFRESH_LEAD_MS, remaining * LEAD_SHARE);
}

/** After a failed refresh: try again soon, but well before `exp` when that is near. Undefined once expired. */
export function retryDelay(expiresAt: number, now: number): number | undefined {
  const remaining = expiresAt - now;
  if (remaining <= 0) return undefined;
  return Math.max(100, Math.min(5_000, remaining / 2));
}

/** One pending refresh at a time: `onDue` runs when the current token should be replaced. */
export class TokenSchedule {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #dueAt = 0;

  constructor(private readonly onDue: () => void) {}

  /** Plans the refresh of a token expiring at `expiresAt` (nothing for a token without `exp`). */
  schedule(expiresAt: number | undefined, now = Date.now()): void {
    this.cancel();
    if (expiresAt !== undefined) this.#arm(now + refreshDelay(expiresAt, now));
  }

  /** Plans another try after a failed refresh; false when the token has already expired. */
  retry(expiresAt: number | undefined, now = Date.now()): boolean {
    this.cancel();
    if (expiresAt === undefined) return false;
    const delay = retryDelay(expiresAt, now);
    if (delay === undefined) return false;
    this.#arm(now + delay);
    return true;
  }

  get pending(): boolean {
    return this.#timer !== undefined;
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(dueAt: number): void {
    this.#dueAt = dueAt;
    const delay = Math.max(0, dueAt - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (Date.now() < this.#dueAt) this.#arm(this.#dueAt);
      else this.onDue();
    }, Math.min(delay, MAX_TIMER_MS));
  }
}
