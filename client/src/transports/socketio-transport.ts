import { io, type Socket } from 'socket.io-client';
import {
  ANSWERS,
  TransportError,
  type Credentials,
  type RequestEvent,
  type ServerMessage,
  type Transport,
  type TransportHandlers,
} from './transport.js';

export interface SocketIoTransportOptions {
  readonly url: string;
  /** Socket.IO path; default `/socket.io`. */
  readonly path?: string | undefined;
  /** Engine.IO transports, in the order to try; default socket.io-client's (long-polling, then upgrade to WebSocket). */
  readonly transports?: readonly ('polling' | 'websocket' | 'webtransport')[] | undefined;
  readonly credentials: () => Promise<Credentials>;
  readonly handlers: TransportHandlers;
}

/** Engine.IO packet type codes, to show packets as they travel (`4` + the Socket.IO packet for messages). */
const ENGINE_CODES: Record<string, string> = { open: '0', close: '1', ping: '2', pong: '3', message: '4', upgrade: '5', noop: '6' };
type EnginePacket = { type: string; data?: unknown };
type EngineLike = { on(event: 'packet' | 'packetCreate', listener: (packet: EnginePacket) => void): void };

/**
 * Socket.IO (socket.io-client) as a transport. One `Socket` object for the client's whole life, reconnected by the
 * SDK itself (socket.io-client's own reconnection is off): a `Socket` keeps its session id and last offset across
 * `connect()` calls, which is what connection state recovery needs, and the SDK also comes back after the
 * disconnects socket.io-client would not retry (`io server disconnect`, a refused handshake).
 *
 * The handshake `auth` is a function: socket.io-client calls it on every connection, so every reconnect carries a
 * freshly fetched token.
 */
export class SocketIoTransport implements Transport {
  readonly kind = 'socketio';
  readonly #socket: Socket;
  readonly #handlers: TransportHandlers;
  readonly #credentials: () => Promise<Credentials>;
  /** Increases with each `connect()`: callbacks of an older attempt are ignored. */
  #attempt = 0;
  /** Whether the current attempt has not reported `closed` yet. */
  #open = false;
  /** A fresh session waits for `auth_success` before it is ready. */
  #awaitingAuth = false;
  #dropReason: string | undefined;

  constructor(options: SocketIoTransportOptions) {
    this.#handlers = options.handlers;
    this.#credentials = options.credentials;
    this.#socket = io(options.url, {
      path: options.path ?? '/socket.io',
      autoConnect: false,
      reconnection: false,
      forceNew: true,
      ...(options.transports !== undefined && { transports: [...options.transports] }),
      auth: (cb) => this.#handshakeAuth(cb),
    });
    this.#listen();
  }

  connect(): void {
    this.#attempt++;
    this.#open = true;
    this.#awaitingAuth = false;
    this.#dropReason = undefined;
    this.#socket.connect();
  }

  async request(event: RequestEvent, payload: object, timeoutMs: number): Promise<ServerMessage> {
    // socket.io-client would buffer it and send it on the next connection, stale by then.
    if (!this.#socket.connected) throw new TransportError(`${event}: not connected`);
    let answer: unknown;
    try {
      answer = await this.#socket.timeout(timeoutMs).emitWithAck(event, payload);
    } catch (err) {
      throw new TransportError(`${event}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return classifyAnswer(event, answer);
  }

  send(event: RequestEvent, payload: object): void {
    if (this.#socket.connected) this.#socket.emit(event, payload);
  }

  drop(reason: string): void {
    if (!this.#open) return;
    this.#dropReason = reason;
    // Tells the server the client left (no session is kept for recovery) and stops the Manager's engine.
    this.#socket.disconnect();
    this.#closed({ reason });
  }

  async close(): Promise<void> {
    this.drop('closed by the client');
    this.#socket.disconnect();
    this.#socket.offAny();
    this.#socket.removeAllListeners();
    this.#socket.io.removeAllListeners();
  }

  #handshakeAuth(cb: (data: object) => void): void {
    const attempt = this.#attempt;
    this.#credentials().then(
      ({ token }) => {
        if (attempt === this.#attempt && this.#open) cb({ token });
      },
      () => {
        // The client has already reported why; this attempt cannot authenticate.
        if (attempt === this.#attempt) this.drop('no token');
      },
    );
  }

  #listen(): void {
    const socket = this.#socket;
    socket.on('connect', () => {
      if (!this.#open) return;
      if (socket.recovered) this.#handlers.ready({ recovered: true });
      else this.#awaitingAuth = true;
    });
    socket.on('connect_error', (err: Error & { data?: { reason?: unknown } }) => {
      // A refusal by the server's middleware carries the reason in `data` (SPEC: the `connect_error` message);
      // network and transport failures do not.
      const reason = err.data?.reason;
      this.#closed({ reason: err.message, ...(typeof reason === 'string' && { refusal: reason }) });
    });
    socket.on('disconnect', (reason) => this.#closed({ reason: this.#dropReason ?? reason }));
    socket.onAny((event: string, payload: unknown) => {
      if (!this.#open) return;
      const message = { event, payload } as ServerMessage;
      this.#handlers.message(message);
      if (event === 'auth_success' && this.#awaitingAuth) {
        this.#awaitingAuth = false;
        this.#handlers.ready({ recovered: false });
      }
    });
    socket.io.on('open', () => {
      const engine = (socket.io as unknown as { engine?: EngineLike }).engine;
      if (engine === undefined || this.#handlers.frame === undefined) return;
      engine.on('packet', (packet) => this.#frame('in', packet));
      engine.on('packetCreate', (packet) => this.#frame('out', packet));
    });
  }

  #frame(direction: 'in' | 'out', packet: EnginePacket): void {
    const data = typeof packet.data === 'string' ? packet.data : '';
    this.#handlers.frame?.(direction, `${ENGINE_CODES[packet.type] ?? packet.type}${data}`);
  }

  #closed(info: { reason: string; refusal?: string }): void {
    if (!this.#open) return;
    this.#open = false;
    this.#awaitingAuth = false;
    this.#handlers.closed(info);
  }
}

/** An acknowledgement's payload as the server message it stands for. */
export function classifyAnswer(event: RequestEvent, answer: unknown): ServerMessage {
  const record = (typeof answer === 'object' && answer !== null ? answer : {}) as Record<string, unknown>;
  let name: ServerMessage['event'] = ANSWERS[event];
  if (event === 'authenticate' && typeof record.reason === 'string') name = 'auth_failed';
  else if (typeof record.code === 'string' && typeof record.message === 'string') name = 'error';
  return { event: name, payload: record } as unknown as ServerMessage;
}
