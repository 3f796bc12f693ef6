import type { Socket } from 'socket.io-client';
import type { WebSocket } from 'ws';
import { Wire, type ServerMessage as Message, type Transport } from '../../test/helpers/protocol-connection.js';

export type { Message, Transport };

export interface Delivered {
  id: string;
  eventType: string;
  accountId: string;
}

/** Answers kept for `waitFor` that arrived before anyone waited for them; older ones are dropped (bounded memory). */
const KEPT_ANSWERS = 32;

/**
 * One soak client connection over either transport, on the test helpers' wire. Unlike their `ProtocolConnection` it
 * keeps no log of what it received (a soak opens tens of thousands): notifications go to `onNotification`, other
 * answers to a small bounded buffer that `waitFor` reads.
 */
export class SoakConnection {
  closedReason: string | undefined;
  readonly #answers: Message[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #wire: Wire;

  private constructor(
    url: string,
    readonly transport: Transport,
    options: { handshakeToken?: string; reconnecting?: boolean },
    private readonly onNotification: (n: Delivered) => void,
  ) {
    this.#wire = new Wire(url, transport, {
      ...(options.handshakeToken !== undefined && { handshakeToken: options.handshakeToken }),
      ...(options.reconnecting === true && { reconnection: { delayMs: 100, maxDelayMs: 500 } }),
      onMessage: (message) => this.#record(message),
      onEnd: (reason) => this.#end(reason),
    });
  }

  get socket(): Socket | undefined {
    return this.#wire.socket;
  }

  get ws(): WebSocket | undefined {
    return this.#wire.ws;
  }

  /**
   * Opens a connection; Socket.IO with `handshakeToken` in its `auth` when given, and automatic reconnection (as a
   * browser has it, which recovery needs) when `reconnecting`.
   */
  static async open(
    url: string,
    transport: Transport,
    options: { handshakeToken?: string; reconnecting?: boolean; onNotification?: (n: Delivered) => void } = {},
  ): Promise<SoakConnection> {
    const conn = new SoakConnection(url, transport, options, options.onNotification ?? (() => undefined));
    try {
      await withTimeout(conn.#wire.opened, 20_000, 'connect');
    } catch (err) {
      conn.close();
      throw err;
    }
    return conn;
  }

  send(event: string, payload: Record<string, unknown> = {}): void {
    this.#wire.send(event, payload);
  }

  /** Resolves with the first answer (kept or to come) that `predicate` accepts, and removes it; rejects on timeout or close. */
  waitFor(predicate: (m: Message) => boolean, timeoutMs: number, what: string, ignoreClose = false): Promise<Message> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const index = this.#answers.findIndex(predicate);
        if (index !== -1) {
          done();
          resolve(this.#answers.splice(index, 1)[0] as Message);
        } else if (!ignoreClose && this.closedReason !== undefined) {
          done();
          reject(new Error(`closed (${this.closedReason}) while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Resolves with the close reason once the connection ended; rejects after `timeoutMs`. */
  ended(timeoutMs: number): Promise<string> {
    if (this.closedReason !== undefined) return Promise.resolve(this.closedReason);
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.closedReason === undefined) return;
        done();
        resolve(this.closedReason);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`not closed within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
    });
  }

  close(): void {
    this.#wire.close();
  }

  #record(message: Message): void {
    if (message.type === 'webhook_event') {
      this.onNotification(message.payload as Delivered);
      return;
    }
    this.#answers.push(message);
    if (this.#answers.length > KEPT_ANSWERS) this.#answers.shift();
    this.#wake();
  }

  #end(reason: string): void {
    this.closedReason ??= reason;
    this.#wake();
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
