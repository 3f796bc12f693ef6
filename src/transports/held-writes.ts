/** A TCP socket, as far as holding its writes goes. */
export interface Corkable {
  cork(): void;
  uncork(): void;
  readonly destroyed?: boolean;
}

/**
 * Sockets whose held writes are released per turn: about 500 × 12 µs of `writev` (the system call that dominates a
 * fan-out), some 6 ms.
 */
const RELEASE_SLICE = 500;

/**
 * The writes of broadcasts, held and released in slices. A broadcast to 5 000 sockets writes to each of them, and
 * those system calls are two thirds of its cost: done within the broadcast they hold the event loop for about 100 ms
 * (health checks, webhook answers, heartbeats wait). Here each socket's TCP socket is corked as a broadcast reaches it
 * (frames are queued in order, nothing is copied) and uncorked 500 sockets at a time, in the order they were reached:
 * the first ones once the code that broadcast returns, the next a turn each; every frame of the turn to one socket
 * leaves in one `writev`. A socket closed meanwhile drops its held frames as it would its unsent ones (`end()`, a
 * close handshake, sends them first). Deliveries wait while more than a turn's worth is held (`backlogged`), so that
 * what is held never outgrows what the next turns release.
 *
 * Both transports hold their fan-outs. The raw WebSocket transport checks a connection's backlog once its writes
 * have left (`afterRelease`), not right after each send, where held bytes would count as the client's.
 */
export class HeldWrites {
  /** Held sockets, in the order reached, each with what to do once its writes have left. */
  readonly #held = new Map<Corkable, (() => void) | undefined>();
  #releasing = false;

  /** Whether more sockets' writes are held than the next turn releases. */
  get backlogged(): boolean {
    return this.#held.size > RELEASE_SLICE;
  }

  /**
   * Holds what is written to this TCP socket until its slice is released; `afterRelease` (the first one given while
   * it is held) runs once its writes have been handed to the kernel: what is still buffered then is the client's.
   */
  hold(tcp: Corkable, afterRelease?: () => void): void {
    if (tcp.destroyed === true || this.#held.has(tcp)) return;
    tcp.cork();
    this.#held.set(tcp, afterRelease);
    if (!this.#releasing) {
      this.#releasing = true;
      // The first slice as soon as the code that broadcast returns, the next ones a turn each.
      process.nextTick(this.#releaseSlice);
    }
  }

  readonly #releaseSlice = (): void => {
    let released = 0;
    for (const tcp of this.#held.keys()) {
      const afterRelease = this.#held.get(tcp);
      this.#held.delete(tcp);
      try {
        tcp.uncork();
        afterRelease?.();
      } catch {
        // A socket that fails its write is being destroyed (the error reaches its own listeners): the others go on,
        // and deliveries never wait on a release that stopped.
      }
      if (++released === RELEASE_SLICE) break;
    }
    if (this.#held.size > 0) setImmediate(this.#releaseSlice);
    else this.#releasing = false;
  };
}
