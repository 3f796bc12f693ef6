import { io, type Socket } from 'socket.io-client';
import type { ServerMessages } from '../../src/protocol/server-messages.js';
import type { ClientToServerEvents, ServerToClientEvents } from '../../src/protocol/events.js';
import { mintToken, type TokenClaims } from './tokens.js';

export type TestSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const open = new Set<TestSocket>();

/**
 * A socket.io-client socket over WebSocket, not yet connected unless `connect` is awaited. `reconnecting`: as a
 * browser has it, automatic reconnection on (50 ms, no jitter), which connection state recovery needs.
 */
export function createClient(
  url: string,
  options: { token?: string; autoConnect?: boolean; reconnecting?: boolean } = {},
): TestSocket {
  const socket: TestSocket = io(url, {
    transports: ['websocket'],
    forceNew: true,
    ...(options.reconnecting === true
      ? { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50, randomizationFactor: 0 }
      : { reconnection: false }),
    autoConnect: options.autoConnect ?? true,
    ...(options.token !== undefined && { auth: { token: options.token } }),
  });
  open.add(socket);
  return socket;
}

/** Resolves with the next payload of `event`, or rejects after `timeoutMs`. */
export function nextEvent<E extends keyof ServerMessages>(
  socket: TestSocket,
  event: E,
  timeoutMs = 3000,
): Promise<ServerMessages[E]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event as never, listener as never);
      reject(new Error(`timed out waiting for ${event}`));
    }, timeoutMs);
    const listener = (payload: ServerMessages[E]) => {
      clearTimeout(timer);
      resolve(payload);
    };
    socket.once(event as never, listener as never);
  });
}

export function connected(socket: TestSocket, timeoutMs = 3000): Promise<void> {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out connecting')), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export function connectError(socket: TestSocket, timeoutMs = 3000): Promise<Error> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for connect_error')), timeoutMs);
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      resolve(err);
    });
  });
}

export function disconnected(socket: TestSocket, timeoutMs = 3000): Promise<string> {
  if (!socket.connected && !socket.active) return Promise.resolve('already disconnected');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for disconnect')), timeoutMs);
    socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

/** Emits `event` with an ack and resolves with the ack's payload. */
export function request(socket: TestSocket, event: keyof ClientToServerEvents, payload: unknown, timeoutMs = 3000) {
  return (socket.timeout(timeoutMs) as unknown as { emitWithAck(e: string, p: unknown): Promise<unknown> }).emitWithAck(
    event,
    payload,
  ) as Promise<Record<string, unknown>>;
}

/** Connects with a handshake token, waits for `auth_success`, subscribes, and returns the ready socket. */
export async function subscribedClient(
  url: string,
  claims: TokenClaims,
  eventTypes: string[],
  extra: { accountIds?: string[] } = {},
): Promise<TestSocket> {
  const socket = createClient(url, { token: mintToken(claims, { expiresIn: 3600 }) });
  await nextEvent(socket, 'auth_success');
  await request(socket, 'subscribe', { eventTypes, ...extra });
  return socket;
}

/** Collects every `webhook_event` a socket receives. */
export function collect(socket: TestSocket): ServerMessages['webhook_event'][] {
  const received: ServerMessages['webhook_event'][] = [];
  socket.on('webhook_event', (n) => received.push(n));
  return received;
}

/** Closes every socket the helpers created (call in afterEach/afterAll). */
export function closeAllClients(): void {
  for (const socket of open) socket.disconnect();
  open.clear();
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function bounded<T>(promise: Promise<T>, what: string, ms = 3000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
