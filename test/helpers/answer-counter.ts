import type { WsTestClient } from './ws-client.js';

/** What a Socket.IO socket exposes for counting (socket.io-client's `Socket`, untyped for any event). */
interface CountableSocket {
  onAny(listener: (event: string, ...args: unknown[]) => void): unknown;
  on(event: 'disconnect', listener: (reason: string) => void): unknown;
}

/**
 * Counts what one connection receives, by event name (Socket.IO) or frame `type` (raw WebSocket), so that a test can
 * await "n answers" without caring which of the allowed answers each one was.
 */
export class AnswerCounter {
  readonly #counts = new Map<string, number>();
  readonly #wakers = new Set<() => void>();
  /** Names in arrival order (bounded by what the test sends). */
  readonly names: string[] = [];
  #closed: string | undefined;

  static forSocketIo(socket: CountableSocket): AnswerCounter {
    const counter = new AnswerCounter();
    socket.onAny((event) => counter.#record(event));
    socket.on('disconnect', (reason) => counter.#close(`disconnected (${reason})`));
    return counter;
  }

  static forWs(client: WsTestClient): AnswerCounter {
    const counter = new AnswerCounter();
    // WsTestClient's own listener was added first, so the parsed frame is already the last one queued.
    client.ws.on('message', () => counter.#record(client.frames.at(-1)?.type ?? '?'));
    client.ws.on('close', (code) => counter.#close(`closed (${code})`));
    return counter;
  }

  /** How many of these names arrived so far. */
  count(names: Iterable<string>): number {
    let total = 0;
    for (const name of names) total += this.#counts.get(name) ?? 0;
    return total;
  }

  get closed(): string | undefined {
    return this.#closed;
  }

  /** Resolves once `count` messages named in `names` arrived; rejects after `timeoutMs` or when the connection ends first. */
  reach(names: readonly string[], count: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const seen = this.count(names);
        if (seen >= count) {
          done();
          resolve();
        } else if (this.#closed !== undefined) {
          done();
          reject(new Error(`${this.#closed} after ${seen} of ${count} answers (${names.join('/')}); received ${this.#summary()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms with ${this.count(names)} of ${count} answers; received ${this.#summary()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#wakers.delete(check);
      };
      this.#wakers.add(check);
      check();
    });
  }

  #record(name: string): void {
    this.names.push(name);
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + 1);
    for (const wake of [...this.#wakers]) wake();
  }

  #close(why: string): void {
    this.#closed ??= why;
    for (const wake of [...this.#wakers]) wake();
  }

  #summary(): string {
    return JSON.stringify(Object.fromEntries(this.#counts));
  }
}
