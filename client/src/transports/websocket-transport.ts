import {
  ANSWERS,
  TransportError,
  type Credentials,
  type RequestEvent,
  type ServerMessage,
  type Transport,
  type TransportHandlers,
} from './transport.js';

/** The part of the WebSocket API the SDK uses: the browser's `WebSocket` and the `ws` package both have it. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the DOM's and ws's listener types differ
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: any) => void): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface WebSocketTransportOptions {
  readonly url: string;
  /** Path of the raw endpoint; default `/ws/notifications`. */
  readonly path?: string | undefined;
  /** A WebSocket implementation; default the global `WebSocket`, else the `ws` package (Node 20 has no global one). */
  readonly webSocket?: WebSocketConstructor | undefined;
  readonly credentials: () => Promise<Credentials>;
  readonly handlers: TransportHandlers;
}

const OPEN = 1;
/** How long `close()` waits for the closing handshake before giving up on it. */
const CLOSE_WAIT_MS = 1_000;

interface Pending {
  readonly answer: string;
  readonly resolve: (message: ServerMessage) => void;
  readonly reject: (err: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * The raw WebSocket endpoint (`/ws/notifications`, JSON text frames `{"type": ...}`) as a transport. There are no
 * acknowledgements on this protocol: a request is answered by the first frame of its answer type (or `error`),
 * which holds because the SDK never has two requests of one kind in flight.
 */
export class WebSocketTransport implements Transport {
  readonly kind = 'websocket';
  readonly #url: string;
  readonly #options: WebSocketTransportOptions;
  #ws: WebSocketLike | undefined;
  #attempt = 0;
  #open = false;
  #awaitingAuth = false;
  #pending: Pending[] = [];
  #closedWaiters: (() => void)[] = [];

  constructor(options: WebSocketTransportOptions) {
    this.#options = options;
    this.#url = webSocketUrl(options.url, options.path ?? '/ws/notifications');
  }

  connect(): void {
    const attempt = ++this.#attempt;
    this.#open = true;
    this.#awaitingAuth = false;
    void this.#start(attempt);
  }

  request(event: RequestEvent, payload: object, timeoutMs: number): Promise<ServerMessage> {
    const ws = this.#ws;
    if (!this.#open || ws === undefined || ws.readyState !== OPEN) {
      return Promise.reject(new TransportError(`${event}: not connected`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending = this.#pending.filter((p) => p !== pending);
        reject(new TransportError(`${event}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const pending: Pending = { answer: ANSWERS[event], resolve, reject, timer };
      this.#pending.push(pending);
      this.#write({ type: event, ...payload });
    });
  }

  send(event: RequestEvent, payload: object): void {
    if (this.#open && this.#ws?.readyState === OPEN) this.#write({ type: event, ...payload });
  }

  drop(reason: string): void {
    if (!this.#open) return;
    const ws = this.#ws;
    this.#closed({ reason });
    if (ws !== undefined) closeQuietly(ws, 1000, reason);
  }

  async close(): Promise<void> {
    const ws = this.#ws;
    this.drop('closed by the client');
    if (ws === undefined || ws.readyState === 3) return;
    // Let the closing handshake finish (the server then counts a clean client disconnect), within a bound.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        (ws as { terminate?: () => void }).terminate?.();
        resolve();
      }, CLOSE_WAIT_MS);
      this.#closedWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async #start(attempt: number): Promise<void> {
    let Impl: WebSocketConstructor;
    let ws: WebSocketLike;
    try {
      Impl = await resolveWebSocket(this.#options.webSocket);
      if (attempt !== this.#attempt || !this.#open) return;
      ws = new Impl(this.#url);
    } catch (err) {
      if (attempt === this.#attempt) this.#closed({ reason: `cannot open a WebSocket: ${errorMessage(err)}` });
      return;
    }
    this.#ws = ws;
    const current = () => attempt === this.#attempt && this.#open;
    ws.addEventListener('open', () => {
      if (current()) void this.#authenticate(attempt);
    });
    ws.addEventListener('message', (event: { data: unknown }) => {
      if (current()) this.#receive(event.data);
    });
    ws.addEventListener('close', (event: { code?: number; reason?: string }) => {
      for (const wake of this.#closedWaiters.splice(0)) wake();
      if (current()) this.#closed({ reason: `closed ${event.code ?? ''} ${event.reason ?? ''}`.trim() });
    });
    // An error is always followed by `close`, which carries what can be said.
    ws.addEventListener('error', () => {});
  }

  async #authenticate(attempt: number): Promise<void> {
    let credentials: Credentials;
    try {
      credentials = await this.#options.credentials();
    } catch {
      if (attempt === this.#attempt) this.drop('no token');
      return;
    }
    if (attempt !== this.#attempt || !this.#open) return;
    this.#awaitingAuth = true;
    this.#write({ type: 'authenticate', token: credentials.token, userId: credentials.userId, timestamp: Date.now() });
  }

  #receive(data: unknown): void {
    if (typeof data !== 'string') return; // the server sends text frames only
    this.#options.handlers.frame?.('in', data);
    let frame: unknown;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof frame !== 'object' || frame === null || typeof (frame as { type?: unknown }).type !== 'string') return;
    const { type, ...rest } = frame as { type: string; payload?: unknown };
    const message = { event: type, payload: type === 'webhook_event' ? rest.payload : rest } as ServerMessage;
    const index = this.#pending.findIndex(
      (p) => p.answer === type || type === 'error' || (type === 'auth_failed' && p.answer === 'auth_success'),
    );
    if (index !== -1) {
      const [pending] = this.#pending.splice(index, 1);
      clearTimeout(pending?.timer);
      pending?.resolve(message);
    }
    this.#options.handlers.message(message);
    if (type === 'auth_success' && this.#awaitingAuth) {
      this.#awaitingAuth = false;
      this.#options.handlers.ready({ recovered: false });
    }
  }

  #write(frame: object): void {
    const text = JSON.stringify(frame);
    this.#options.handlers.frame?.('out', text);
    this.#ws?.send(text);
  }

  #closed(info: { reason: string }): void {
    if (!this.#open) return;
    this.#open = false;
    this.#awaitingAuth = false;
    for (const pending of this.#pending.splice(0)) {
      clearTimeout(pending.timer);
      pending.reject(new TransportError(`connection closed: ${info.reason}`));
    }
    this.#options.handlers.closed(info);
  }
}

/** `http(s)://host/...` to `ws(s)://host<path>`. */
export function webSocketUrl(base: string, path: string): string {
  const url = new URL(path, base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  return url.toString();
}

/**
 * The injected constructor, else the platform's, else the `ws` package. The specifier is a variable so that
 * bundlers building for browsers (which have a global `WebSocket`) do not try to include `ws`.
 */
async function resolveWebSocket(injected: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  if (injected !== undefined) return injected;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof global === 'function') return global;
  const specifier = 'ws';
  const module = (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as {
    WebSocket?: WebSocketConstructor;
    default?: WebSocketConstructor;
  };
  const Impl = module.WebSocket ?? module.default;
  if (typeof Impl !== 'function') throw new Error('the ws package has no WebSocket export');
  return Impl;
}

function closeQuietly(ws: WebSocketLike, code: number, reason: string): void {
  try {
    // A close reason is limited to 123 bytes.
    ws.close(code, reason.slice(0, 100));
  } catch {
    // already closing
  }
}

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
