import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { PoolReply, PoolRequest } from './client-protocol.js';

type Body<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface ConnectResult {
  ok: number;
  failed: number;
  errors: string[];
  /** Wall time until the last worker had opened its share. */
  ms: number;
}

export interface Received {
  received: number;
  latencies: number[];
  /** Sockets closed by the server (or the network) since they connected. */
  dropped: number;
}

/**
 * The bench's client processes (bench/client-worker.ts), one per core by default: the sockets live there so that the
 * main process (sender, prober, orchestrator) and the servers keep their cores.
 */
export class ClientPool {
  readonly #workers: ChildProcess[];
  #nextId = 0;
  readonly #pending = new Map<number, (reply: PoolReply) => void>();
  #nextUser = 0;

  constructor(size = Math.max(1, Math.min(4, availableParallelism()))) {
    this.#workers = Array.from({ length: size }, () => {
      const child = fork(new URL('./client-worker.ts', import.meta.url), [], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.on('message', (reply: PoolReply) => {
        const done = this.#pending.get(reply.id);
        this.#pending.delete(reply.id);
        done?.(reply);
      });
      return child;
    });
  }

  get size(): number {
    return this.#workers.length;
  }

  #ask(worker: ChildProcess, request: Body<PoolRequest>, timeoutMs = 120_000): Promise<PoolReply> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`client process did not answer ${request.type} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      worker.send({ ...request, id } as PoolRequest);
    });
  }

  #all(request: Body<PoolRequest>): Promise<PoolReply[]> {
    return Promise.all(this.#workers.map((w) => this.#ask(w, request)));
  }

  /**
   * Opens `count` authenticated sockets (users never reused), split over the workers, each entitled to one of
   * `accounts` (round robin) and subscribed to `eventTypes`.
   */
  async connect(options: { url: string; secret: string; count: number; accounts: string[]; eventTypes: string[]; concurrency?: number }): Promise<ConnectResult> {
    const n = this.#workers.length;
    const shares = this.#workers.map((_, i) => Math.floor(options.count / n) + (i < options.count % n ? 1 : 0));
    const concurrency = Math.max(1, Math.ceil((options.concurrency ?? 200) / n));
    const replies = await Promise.all(
      this.#workers.map((worker, i) => {
        const firstUser = this.#nextUser;
        this.#nextUser += shares[i] as number;
        // Keep round robin over accounts global: worker i's socket j is the (offset + j)-th overall.
        const offset = shares.slice(0, i).reduce((a, b) => a + b, 0);
        const accounts = options.accounts.map((_, k) => options.accounts[(offset + k) % options.accounts.length] as string);
        return this.#ask(worker, {
          type: 'connect',
          url: options.url,
          secret: options.secret,
          firstUser,
          count: shares[i] as number,
          accounts,
          eventTypes: options.eventTypes,
          concurrency,
        }, 300_000);
      }),
    );
    const result: ConnectResult = { ok: 0, failed: 0, errors: [], ms: 0 };
    for (const r of replies) {
      if (!('ok' in r)) continue;
      result.ok += r.ok;
      result.failed += r.failed;
      result.errors.push(...r.errors);
      result.ms = Math.max(result.ms, r.ms);
    }
    return result;
  }

  /** From now on, count the notifications whose id starts with `prefix` (and forget earlier counts). */
  async count(prefix: string): Promise<void> {
    await this.#all({ type: 'count', prefix });
  }

  async report(withLatencies = true): Promise<Received> {
    const out: Received = { received: 0, latencies: [], dropped: 0 };
    for (const r of await this.#all({ type: 'report', withLatencies })) {
      if (!('received' in r)) continue;
      out.received += r.received;
      for (const l of r.latencies) out.latencies.push(l);
      out.dropped += r.dropped;
    }
    return out;
  }

  /** Waits until `expected` notifications arrived or `timeoutMs` passed; answers what arrived. */
  async awaitReceived(expected: number, timeoutMs: number): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    let last = await this.report(false);
    while (last.received < expected && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      last = await this.report(false);
    }
    return this.report(true);
  }

  async closeSockets(): Promise<void> {
    await this.#all({ type: 'close' });
  }

  stop(): void {
    for (const w of this.#workers) if (w.connected) w.disconnect();
  }
}
