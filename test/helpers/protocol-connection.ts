import type { Socket as NetSocket } from 'node:net';
import { io, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';

export type Transport = 'socketio' | 'websocket';
export const TRANSPORTS: readonly Transport[] = ['socketio', 'websocket'];

/** A server message as the raw WebSocket endpoint writes it: `{type, ...payload}`, a notification as `{type, payload}`. */
export interface ServerMessage {
  type: string;
  [field: string]: unknown;
}

export interface WaitOptions {
  /** Only messages at or after this index of `received` count (see `mark()`). */
  from?: number;
  timeoutMs?: number;
}

export interface WireOptions {
  /** Socket.IO: the handshake `auth.token`. */
  handshakeToken?: string;
  /** Socket.IO: automatic reconnection with these delays (as a browser has it); none by default. */
  reconnection?: { delayMs: number; maxDelayMs: number };
  /** Raw WebSocket: headers of the upgrade request. */
  headers?: Record<string, string>;
  /** Every server message, in one shape for both transports. */
  onMessage(message: ServerMessage): void;
  /**
   * The connection ended (`disconnect` reason, `close <code> <reason>`, `connect_error <message>`). A reconnecting
   * Socket.IO socket's drop is not its end (told apart by `active`, socket.io-client 4).
   */
  onEnd(reason: string): void;
}

/**
 * The wire of one client connection of SPEC's protocol over either transport: opens it, turns what the server sends
 * into `ServerMessage`s, reports the end, and sends. What is kept of the messages is up to its owner: the tests'
 * `ProtocolConnection` keeps them all, `WsTestClient` queues them, the soak's connection keeps almost nothing.
 */
export class Wire {
  readonly socket: Socket | undefined;
  readonly ws: WebSocket | undefined;
  /** Resolves once connected; rejects if the connection is refused (already handled: await it or not). */
  readonly opened: Promise<void>;

  constructor(
    url: string,
    readonly transport: Transport,
    options: WireOptions,
  ) {
    if (transport === 'socketio') {
      const socket = io(url, {
        transports: ['websocket'],
        forceNew: true,
        ...(options.reconnection === undefined
          ? { reconnection: false }
          : { reconnection: true, reconnectionDelay: options.reconnection.delayMs, reconnectionDelayMax: options.reconnection.maxDelayMs }),
        ...(options.handshakeToken !== undefined && { auth: { token: options.handshakeToken } }),
      });
      this.socket = socket;
      socket.onAny((event: string, payload: unknown) => {
        // As the raw endpoint writes it: a notification under `payload`, any other answer's fields inline.
        const fields = event === 'webhook_event' || !isRecord(payload) ? { payload } : payload;
        options.onMessage({ ...fields, type: event });
      });
      socket.on('disconnect', (reason) => {
        if (options.reconnection === undefined || !socket.active) options.onEnd(reason);
      });
      this.opened = new Promise((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', (err) => {
          options.onEnd(`connect_error ${err.message}`);
          reject(err);
        });
      });
    } else {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws/notifications`, { headers: options.headers ?? {} });
      this.ws = ws;
      ws.on('message', (data) => {
        let message: ServerMessage;
        try {
          message = JSON.parse(data.toString()) as ServerMessage;
        } catch {
          message = { type: '(not JSON)' };
        }
        options.onMessage(message);
      });
      ws.on('close', (code, reason) => options.onEnd(`close ${code} ${reason.toString()}`));
      ws.on('error', () => undefined);
      this.opened = new Promise((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
        ws.once('error', reject);
      });
    }
    this.opened.catch(() => undefined);
  }

  /** Sends a client event: Socket.IO `emit(event, payload)`; raw WebSocket `{type: event, ...payload}` (while open). */
  send(event: string, payload?: Record<string, unknown>): void {
    if (this.socket !== undefined) {
      (this.socket.emit as unknown as (e: string, ...a: unknown[]) => void)(event, ...(payload === undefined ? [] : [payload]));
    } else if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: event, ...payload }));
    }
  }

  /**
   * Writes bytes as they are: a raw WebSocket frame (text for a string), or a Socket.IO packet without Engine.IO's
   * `4` prefix (e.g. `2["subscribe",{...}]`): for what socket.io-client cannot encode (it recurses on deep objects).
   */
  sendRaw(data: string | Buffer): void {
    if (this.socket !== undefined) {
      if (typeof data !== 'string') throw new Error('Socket.IO raw packets are text');
      this.socket.io.engine.write(data);
    } else {
      this.ws?.send(data, { binary: typeof data !== 'string' });
    }
  }

  /** The TCP socket under the connection (to pause reading). */
  tcp(): NetSocket {
    if (this.socket !== undefined) {
      return (this.socket.io.engine.transport as unknown as { ws: { _socket: NetSocket } }).ws._socket;
    }
    return (this.ws as unknown as { _socket: NetSocket })._socket;
  }

  close(): void {
    this.socket?.disconnect();
    this.ws?.terminate();
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const DEFAULT_TIMEOUT_MS = 5000;

/**
 * One client connection of SPEC's protocol over either transport, recording every server message in one shape, so
 * that a test can run the same steps on Socket.IO and on the raw WebSocket endpoint. Sends are fire-and-forget (no
 * acks): SPEC emits every answer as an event too.
 */
export class ProtocolConnection {
  readonly received: ServerMessage[] = [];
  #closed: string | undefined;
  readonly #wakers = new Set<() => void>();
  readonly #wire: Wire;

  private constructor(url: string, readonly transport: Transport, handshakeToken: string | undefined) {
    this.#wire = new Wire(url, transport, {
      handshakeToken,
      onMessage: (message) => this.#record(message),
      onEnd: (reason) => this.#end(reason),
    });
  }

  /**
   * Connects. With `token` (and its `userId`), authenticates (Socket.IO: in the handshake; raw WebSocket: with the
   * `authenticate` message) and resolves once `auth_success` arrived.
   */
  static async open(url: string, transport: Transport, auth?: { token: string; userId: string }): Promise<ProtocolConnection> {
    const conn = new ProtocolConnection(url, transport, transport === 'socketio' ? auth?.token : undefined);
    open.add(conn);
    await conn.#wire.opened;
    if (auth !== undefined) {
      if (transport === 'websocket') conn.send('authenticate', { token: auth.token, userId: auth.userId, timestamp: Date.now() });
      await conn.waitFor((m) => m.type === 'auth_success', { timeoutMs: 10_000 });
    }
    return conn;
  }

  /** Sends a client event: Socket.IO `emit(event, payload)`; raw WebSocket `{type: event, ...payload}`. */
  send(event: string, payload?: Record<string, unknown>): void {
    this.#wire.send(event, payload);
  }

  /** Socket.IO: emits any arguments (Buffers go as binary attachments). */
  emit(event: string, ...args: unknown[]): void {
    const socket = this.#wire.socket;
    if (socket === undefined) throw new Error('emit is for Socket.IO connections');
    (socket.emit as unknown as (e: string, ...a: unknown[]) => void)(event, ...args);
  }

  /** Writes bytes as they are (see `Wire.sendRaw`). */
  sendRaw(data: string | Buffer): void {
    this.#wire.sendRaw(data);
  }

  /** Index of the next message: a mark for `from`. */
  mark(): number {
    return this.received.length;
  }

  /** Why the connection ended (`disconnect` reason or close code), or undefined while open. */
  get closed(): string | undefined {
    return this.#closed;
  }

  /** Resolves with the first message from `from` on that satisfies `predicate`; rejects on timeout or close. */
  waitFor(predicate: (m: ServerMessage) => boolean, options: WaitOptions = {}): Promise<ServerMessage> {
    const { from = 0, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
    return this.#wait(
      () => this.received.slice(from).find(predicate),
      timeoutMs,
      () => `a matching message; received since #${from}: ${this.#summary(from)}`,
    );
  }

  /** Resolves once `count` messages from `from` on satisfy `predicate`. */
  async waitForCount(predicate: (m: ServerMessage) => boolean, count: number, options: WaitOptions = {}): Promise<void> {
    const { from = 0, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
    await this.#wait(
      () => (this.received.slice(from).filter(predicate).length >= count ? true : undefined),
      timeoutMs,
      () => `${count} matching messages; received since #${from}: ${this.#summary(from)}`,
    );
  }

  /** Resolves once `condition()` holds, checked at every message; rejects on timeout or close. */
  async until(condition: () => boolean, what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    await this.#wait(() => (condition() ? true : undefined), timeoutMs, () => `${what}; received: ${this.#summary(0)}`);
  }

  /** Resolves with the close reason once the connection ended. */
  async ended(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
    await this.#wait(() => this.#closed, timeoutMs, () => 'the connection to end', true);
    return this.#closed as string;
  }

  /** Notification ids received, in order. */
  deliveredIds(from = 0): string[] {
    return this.received
      .slice(from)
      .filter((m) => m.type === 'webhook_event')
      .map((m) => (m.payload as { id: string }).id);
  }

  /** The TCP socket under the connection (to pause reading). */
  tcp(): NetSocket {
    return this.#wire.tcp();
  }

  close(): void {
    this.#wire.close();
  }

  #record(message: ServerMessage): void {
    this.received.push(message);
    for (const wake of [...this.#wakers]) wake();
  }

  #end(reason: string): void {
    this.#closed ??= reason;
    for (const wake of [...this.#wakers]) wake();
  }

  #wait<T>(found: () => T | undefined, timeoutMs: number, what: () => string, ignoreClose = false): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = found();
        if (value !== undefined) {
          done();
          resolve(value);
        } else if (!ignoreClose && this.#closed !== undefined) {
          done();
          reject(new Error(`connection ended (${this.#closed}) while waiting for ${what()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#wakers.delete(check);
      };
      this.#wakers.add(check);
      check();
    });
  }

  #summary(from: number): string {
    const counts = new Map<string, number>();
    for (const m of this.received.slice(from)) counts.set(m.type, (counts.get(m.type) ?? 0) + 1);
    return JSON.stringify(Object.fromEntries(counts));
  }
}

const open = new Set<ProtocolConnection>();

/** Closes every connection opened through `ProtocolConnection.open` (afterEach/afterAll). */
export function closeProtocolConnections(): void {
  for (const conn of open) conn.close();
  open.clear();
}
