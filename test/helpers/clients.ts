import { io, type Socket } from 'socket.io-client';
import { expect } from 'vitest';
import type { ClientToServerEvents, ServerToClientEvents } from '../../src/protocol/events.js';
import type { ServerMessages } from '../../src/protocol/server-messages.js';
import { mintToken, type TokenClaims } from './tokens.js';
import { flatEvent, postFlat } from './webhooks.js';

/** Instagram account ids used across the gateway tests (strings: Meta's ids overflow JSON numbers). */
export const ACCOUNT_A = '17841400000000001';
export const ACCOUNT_B = '17841400000000002';
export const ACCOUNT_C = '17841400000000003';

const DEFAULT_TIMEOUT_MS = 3000;

export type TestSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** What a client can observe: the server's events plus socket.io-client's own lifecycle events. */
export type Observed = ServerMessages & { connect: undefined; connect_error: Error; disconnect: string };
type ObservedEvent = keyof Observed;

interface WaitOptions<E extends ObservedEvent> {
  /** Only events recorded at or after this index (see `Inbox.size`) count. */
  from?: number;
  where?: (payload: Observed[E]) => boolean;
  /** Reject as soon as one of these arrives instead of waiting out the timeout. */
  failOn?: ObservedEvent[];
  timeoutMs?: number;
}

/**
 * Everything a socket receives, in order, recorded from its creation. Waiting looks at what already arrived first,
 * so a test never races an event that came before it started listening.
 */
export class Inbox {
  readonly #events: { event: ObservedEvent; payload: unknown }[] = [];
  readonly #listeners = new Set<() => void>();

  constructor(socket: TestSocket) {
    socket.onAny((event: string, payload: unknown) => this.#record(event as ObservedEvent, payload));
    socket.on('connect', () => this.#record('connect', undefined));
    socket.on('connect_error', (err) => this.#record('connect_error', err));
    socket.on('disconnect', (reason) => this.#record('disconnect', reason));
  }

  /** Number of events recorded so far: a mark for `from`. */
  get size(): number {
    return this.#events.length;
  }

  all<E extends ObservedEvent>(event: E, from = 0): Observed[E][] {
    return this.#events.slice(from).filter((e) => e.event === event).map((e) => e.payload as Observed[E]);
  }

  names(from = 0): ObservedEvent[] {
    return this.#events.slice(from).map((e) => e.event);
  }

  find<E extends ObservedEvent>(event: E, options: Pick<WaitOptions<E>, 'from' | 'where'> = {}): Observed[E] | undefined {
    return this.all(event, options.from).find((payload) => options.where?.(payload) ?? true);
  }

  waitFor<E extends ObservedEvent>(event: E, options: WaitOptions<E> = {}): Promise<Observed[E]> {
    const { from = 0, failOn = [], timeoutMs = DEFAULT_TIMEOUT_MS } = options;
    return new Promise((resolve, reject) => {
      const check = () => {
        for (const { event: name, payload } of this.#events.slice(from)) {
          if (name === event && (options.where?.(payload as Observed[E]) ?? true)) {
            done();
            resolve(payload as Observed[E]);
            return;
          }
          if (failOn.includes(name)) {
            done();
            reject(new Error(`expected ${event} but got ${name}: ${show(payload)}`));
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${event}; received: ${this.names(from).join(', ')}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }

  /** Resolves once `count` events of this name were recorded (from `from` on). */
  async waitForCount(event: ObservedEvent, count: number, options: Pick<WaitOptions<ObservedEvent>, 'from' | 'timeoutMs'> = {}) {
    const from = options.from ?? 0;
    await this.waitFor(event, { ...options, where: () => this.all(event, from).length >= count });
  }

  #record(event: ObservedEvent, payload: unknown): void {
    this.#events.push({ event, payload });
    for (const listener of [...this.#listeners]) listener();
  }
}

const show = (payload: unknown): string => (payload instanceof Error ? payload.message : JSON.stringify(payload));

/** A socket.io-client socket and everything it received: the one way tests drive Socket.IO (see `openClient`). */
export class TestClient {
  readonly inbox: Inbox;

  constructor(readonly socket: TestSocket) {
    this.inbox = new Inbox(socket);
  }

  get id(): string {
    return this.socket.id ?? '';
  }

  /** Emits any event name with any arguments, bypassing the typed event map (for bad input). */
  emitRaw(event: string, ...args: unknown[]): void {
    (this.socket.emit as unknown as (e: string, ...a: unknown[]) => void)(event, ...args);
  }

  /** Emits with an acknowledgement and resolves with what the ack callback received. */
  request(event: string, payload: unknown, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Record<string, unknown>> {
    const timed = this.socket.timeout(timeoutMs) as unknown as { emitWithAck(e: string, p: unknown): Promise<unknown> };
    return timed.emitWithAck(event, payload) as Promise<Record<string, unknown>>;
  }

  /** The next `event` recorded from now on (an event that came before this call does not count). */
  next<E extends ObservedEvent>(event: E, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Observed[E]> {
    return this.inbox.waitFor(event, { from: this.inbox.size, timeoutMs });
  }

  /** Resolves once connected (at once if it is); rejects on the next `connect_error`. */
  async connected(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    if (this.socket.connected) return;
    await this.inbox.waitFor('connect', { from: this.inbox.size, failOn: ['connect_error'], timeoutMs });
  }

  /**
   * Emits `event` with an ack and checks SPEC's rule that the ack receives the same payload as the answer event,
   * which is emitted too (before the ack, so it is already recorded once the ack resolves). Returns that payload.
   */
  async ask<E extends keyof ServerMessages>(event: string, payload: unknown, answer: E): Promise<ServerMessages[E]> {
    const from = this.inbox.size;
    const ack = await this.request(event, payload);
    const emitted = this.inbox.find(answer, { from });
    if (emitted === undefined) {
      throw new Error(`${event}: expected a ${answer} event; the ack received ${show(ack)}`);
    }
    expect(ack).toEqual(emitted);
    return emitted;
  }

  /** `ask` for an `error` answer, checking its code. */
  async askError(event: string, payload: unknown, code: ServerMessages['error']['code']) {
    const error = await this.ask(event, payload, 'error');
    expect(error).toMatchObject({ code, message: expect.any(String), timestamp: expect.any(Number) });
    return error;
  }

  /**
   * A round trip on this socket. The server queues a notification to a socket synchronously, before the webhook
   * request is answered, so once a later ack came back every notification published before it has arrived: what
   * has not arrived by then was not sent.
   */
  async settle(): Promise<void> {
    await this.request('heartbeat', { timestamp: Date.now(), clientId: 'settle' });
  }

  waitForDelivery(id: string, timeoutMs = DEFAULT_TIMEOUT_MS) {
    return this.inbox.waitFor('webhook_event', { where: (n) => n.id === id, timeoutMs });
  }

  /** Every notification received, in order. */
  deliveries(): ServerMessages['webhook_event'][] {
    return this.inbox.all('webhook_event');
  }

  deliveredIds(): string[] {
    return this.deliveries().map((n) => n.id);
  }

  /**
   * Resolves with the reason the current (or last) connection ended: already recorded or coming. For the end of a
   * connection not yet made again (a reconnection under way), `next('disconnect')`.
   */
  disconnected(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
    return this.inbox.waitFor('disconnect', { from: this.inbox.names().lastIndexOf('connect') + 1, timeoutMs });
  }

  close(): void {
    this.socket.disconnect();
  }
}

export interface OpenOptions {
  token?: string;
  /** The whole handshake `auth` object (wins over `token`). */
  auth?: Record<string, unknown>;
  extraHeaders?: Record<string, string>;
  /** False: not connecting until `socket.connect()`. */
  autoConnect?: boolean;
  /** As a browser has it: automatic reconnection on (50 ms, no jitter), which connection state recovery needs. */
  reconnecting?: boolean;
}

const open = new Set<TestClient>();

/** A client over the websocket transport, connecting at once unless told otherwise, not reconnecting on its own unless `reconnecting`. */
export function openClient(url: string, options: OpenOptions = {}): TestClient {
  const auth = options.auth ?? (options.token !== undefined ? { token: options.token } : undefined);
  const socket: TestSocket = io(url, {
    transports: ['websocket'],
    forceNew: true,
    ...(options.reconnecting === true
      ? { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50, randomizationFactor: 0 }
      : { reconnection: false }),
    autoConnect: options.autoConnect ?? true,
    ...(auth !== undefined && { auth }),
    ...(options.extraHeaders !== undefined && { extraHeaders: options.extraHeaders }),
  });
  const client = new TestClient(socket);
  open.add(client);
  return client;
}

/** A connected client that has not authenticated. */
export async function unauthenticatedClient(url: string, options: Omit<OpenOptions, 'token' | 'auth'> = {}) {
  const client = openClient(url, options);
  await client.connected();
  return client;
}

export interface AuthedOptions {
  /** Token lifetime in seconds. */
  expiresIn?: number;
  subscribe?: string[];
  accountIds?: string[];
}

/** Connects with a handshake token, waits for `auth_success` and, when asked, subscribes. */
export async function authedClient(url: string, claims: TokenClaims, options: AuthedOptions = {}): Promise<TestClient> {
  const client = openClient(url, { token: mintToken(claims, { expiresIn: options.expiresIn ?? 3600 }) });
  await client.inbox.waitFor('auth_success', { failOn: ['connect_error', 'auth_failed', 'disconnect'] });
  if (options.subscribe !== undefined) {
    await client.ask(
      'subscribe',
      { eventTypes: options.subscribe, ...(options.accountIds !== undefined && { accountIds: options.accountIds }) },
      'subscription_confirmed',
    );
  }
  return client;
}

/** Closes every client `openClient` opened (afterEach/afterAll). */
export function closeClients(): void {
  for (const client of open) client.close();
  open.clear();
}

export interface PublishedEvent {
  id: string;
  eventType: string;
  accountId: string;
  [field: string]: unknown;
}

/** Posts one signed flat-shape webhook and checks it was accepted; resolves once it was handed to delivery. */
export async function publish(url: string, overrides: Record<string, unknown> = {}): Promise<PublishedEvent> {
  const event = flatEvent(overrides) as PublishedEvent;
  const res = await postFlat(url, event);
  expect(res.status, res.text).toBe(200);
  return event;
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function bounded<T>(promise: Promise<T>, what: string, ms = DEFAULT_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls a condition of server state that no event announces (registry sizes), bounded in time. */
export async function eventually(check: () => boolean, timeoutMs = DEFAULT_TIMEOUT_MS, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A `timestamp` of a server answer: the server's own `Date.now()` in ms, taken after `before`. */
export function expectServerTimestamp(timestamp: unknown, before: number): void {
  expect(typeof timestamp).toBe('number');
  expect(timestamp as number).toBeGreaterThanOrEqual(before);
  expect(timestamp as number).toBeLessThanOrEqual(Date.now());
}
