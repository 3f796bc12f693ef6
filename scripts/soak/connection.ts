import { io, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';

export type Transport = 'socketio' | 'websocket';

/** A server message in one shape for both transports: `{type, ...fields}`, a notification under `payload`. */
export interface Message {
  type: string;
  [field: string]: unknown;
}

export interface Delivered {
  id: string;
  eventType: string;
  accountId: string;
}

/** Answers kept for `waitFor` that arrived before anyone waited for them; older ones are dropped (bounded memory). */
const KEPT_ANSWERS = 32;

/**
 * One soak client connection over either transport. Unlike the test helpers' `ProtocolConnection` it keeps no log of
 * what it received (a soak opens tens of thousands): notifications go to `onNotification`, other answers to a small
 * bounded buffer that `waitFor` reads.
 */
export class SoakConnection {
  closedReason: string | undefined;
  readonly #answers: Message[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #opened: Promise<void>;

  private constructor(
    readonly transport: Transport,
    readonly socket: Socket | undefined,
    readonly ws: WebSocket | undefined,
    private readonly onNotification: (n: Delivered) => void,
  ) {
    this.#opened = this.#listen();
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
    const onNotification = options.onNotification ?? (() => undefined);
    const conn =
      transport === 'socketio'
        ? new SoakConnection(
            transport,
            io(url, {
              transports: ['websocket'],
              forceNew: true,
              ...(options.reconnecting === true
                ? { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500 }
                : { reconnection: false }),
              ...(options.handshakeToken !== undefined && { auth: { token: options.handshakeToken } }),
            }),
            undefined,
            onNotification,
          )
        : new SoakConnection(transport, undefined, new WebSocket(`${url.replace(/^http/, 'ws')}/ws/notifications`), onNotification);
    try {
      await withTimeout(conn.#opened, 20_000, 'connect');
    } catch (err) {
      conn.close();
      throw err;
    }
    return conn;
  }

  send(event: string, payload: Record<string, unknown> = {}): void {
    if (this.socket !== undefined) (this.socket.emit as (e: string, p: unknown) => void)(event, payload);
    else if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: event, ...payload }));
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
    this.socket?.disconnect();
    this.ws?.terminate();
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

  #listen(): Promise<void> {
    if (this.socket !== undefined) {
      const socket = this.socket;
      socket.onAny((event: string, payload: unknown) => {
        const fields = event === 'webhook_event' || !isRecord(payload) ? { payload } : payload;
        this.#record({ ...fields, type: event });
      });
      // A reconnecting socket's drop is not its end: it is told apart by `active` (socket.io-client 4).
      socket.on('disconnect', (reason) => {
        if (!socket.active) this.#end(reason);
      });
      return new Promise((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', (err) => {
          this.#end(`connect_error ${err.message}`);
          reject(err);
        });
      });
    }
    const ws = this.ws as WebSocket;
    ws.on('message', (data) => {
      let message: Message;
      try {
        message = JSON.parse(data.toString()) as Message;
      } catch {
        message = { type: '(not JSON)' };
      }
      this.#record(message);
    });
    ws.on('close', (code, reason) => this.#end(`close ${code} ${reason.toString()}`));
    ws.on('error', () => undefined);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
