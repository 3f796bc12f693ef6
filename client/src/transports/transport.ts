import type { ServerMessageMap } from '../protocol.js';

export type TransportKind = 'socketio' | 'websocket';

/** The client events the SDK sends. */
export type RequestEvent = 'authenticate' | 'subscribe' | 'unsubscribe' | 'get_history' | 'heartbeat';

/** Which server message answers which client event (an `error` may answer any of them). */
export const ANSWERS: Record<RequestEvent, keyof ServerMessageMap> = {
  authenticate: 'auth_success',
  subscribe: 'subscription_confirmed',
  unsubscribe: 'subscription_confirmed',
  get_history: 'history',
  heartbeat: 'heartbeat_response',
};

export type ServerMessage = { [E in keyof ServerMessageMap]: { event: E; payload: ServerMessageMap[E] } }[keyof ServerMessageMap];

/** What the transport needs to authenticate a new connection: asked once per connection, so always fresh. */
export interface Credentials {
  readonly token: string;
  readonly userId: string | undefined;
}

export interface TransportHandlers {
  /** The connection is up and authenticated; `recovered`: Socket.IO restored the previous session. */
  ready(info: { recovered: boolean }): void;
  /** Every message the server sends, answers included. */
  message(message: ServerMessage): void;
  /**
   * The connection (or the attempt to open one) ended: exactly once per `connect()`. `refusal`: the server refused
   * the handshake and said why (Socket.IO's `connect_error` message, e.g. `Token expired`).
   */
  closed(info: { reason: string; refusal?: string }): void;
  /** Wire-level traffic, for debugging (only computed while someone listens). */
  frame?(direction: 'in' | 'out', data: string): void;
}

/**
 * One way of talking to the server (Socket.IO or the raw WebSocket endpoint). A transport object lives as long as
 * the client and opens one connection after another; the client decides when.
 */
export interface Transport {
  readonly kind: TransportKind;
  /** Opens a connection and authenticates it; `ready` or `closed` follows. */
  connect(): void;
  /** Sends a client event and resolves with its answer; rejects when not connected, on timeout or on a drop. */
  request(event: RequestEvent, payload: object, timeoutMs: number): Promise<ServerMessage>;
  /** Sends a client event without waiting for its answer (dropped when not connected). */
  send(event: RequestEvent, payload: object): void;
  /** Ends the current connection (the client will decide whether to reconnect); `closed` follows at once. */
  drop(reason: string): void;
  /** Ends everything for good; resolves once the connection is closed. */
  close(): Promise<void>;
}

/** A request that could not get its answer (not connected, timed out, connection lost). */
export class TransportError extends Error {
  override readonly name = 'TransportError';
}
