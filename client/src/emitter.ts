type Listener<T> = (payload: T) => void;

/**
 * A small typed event emitter. Listeners run synchronously, in the order they were added; one that throws does not
 * stop the others nor the client's own bookkeeping (its error is reported asynchronously, as an uncaught error).
 */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();

  on<E extends keyof Events>(event: E, listener: Listener<Events[E]>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  off<E extends keyof Events>(event: E, listener: Listener<Events[E]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  has(event: keyof Events): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  emit<E extends keyof Events>(event: E, payload: Events[E]): void {
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[E]>)(payload);
      } catch (err) {
        reportListenerError(err);
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}

/** Browsers report it to the page (`window.onerror`) without stopping anything; elsewhere it is an uncaught error. */
function reportListenerError(err: unknown): void {
  const report = (globalThis as { reportError?: (err: unknown) => void }).reportError;
  if (typeof report === 'function') report(err);
  else
    setTimeout(() => {
      throw err;
    }, 0);
}
