import type { z } from 'zod';
import {
  authenticatePayload,
  getHistoryPayload,
  heartbeatPayload,
  infoPayload,
  subscribePayload,
  unsubscribePayload,
} from './client-payloads.js';
import type { ServerMessageName, ServerMessages } from './server-messages.js';

interface ClientEventSpec {
  /** What the payload must be (validated with zod; unknown keys dropped). */
  readonly payload: z.ZodType;
  /** The server's answer, emitted and given to the client's acknowledgement (else `error`, or `auth_failed`). */
  readonly answer: ServerMessageName;
  /** Accepted before authentication. */
  readonly beforeAuth: boolean;
  readonly summary: string;
}

/**
 * The client events of both socket protocols, with their payload schema and answer: the server's dispatch and
 * validation, the typed event maps of `io<…>()`, the raw WebSocket decoding, the client SDK's types and the AsyncAPI
 * document all derive from this table.
 */
export const CLIENT_EVENTS = {
  authenticate: {
    payload: authenticatePayload,
    answer: 'auth_success',
    beforeAuth: true,
    summary: "Authenticates (or refreshes a live session with a fresh token of the same user); failure: auth_failed, then disconnect",
  },
  subscribe: {
    payload: subscribePayload,
    answer: 'subscription_confirmed',
    beforeAuth: false,
    summary: 'Adds event types; accountIds, when given, replaces the account scope of every type held',
  },
  unsubscribe: {
    payload: unsubscribePayload,
    answer: 'subscription_confirmed',
    beforeAuth: false,
    summary: 'Removes event types; answers the set that remains',
  },
  get_subscriptions: {
    payload: infoPayload,
    answer: 'connection_info',
    beforeAuth: false,
    summary: 'The subscriptions and account scope held',
  },
  test_connection: {
    payload: infoPayload,
    answer: 'connection_info',
    beforeAuth: false,
    summary: 'Like get_subscriptions, with the socket id and the server time',
  },
  heartbeat: {
    payload: heartbeatPayload,
    answer: 'heartbeat_response',
    beforeAuth: true,
    summary: 'Proves an awake client: a socket that sends no event for HEARTBEAT_TIMEOUT_MS is disconnected',
  },
  get_history: {
    payload: getHistoryPayload,
    answer: 'history',
    beforeAuth: false,
    summary: 'Kept notifications the socket may see, oldest first: the first `limit` after `since`, or the latest `limit`',
  },
} as const satisfies Record<string, ClientEventSpec>;

export type ClientEvent = keyof typeof CLIENT_EVENTS;
/** What a client sends with `event` (before validation: the schema's input). */
export type ClientPayload<E extends ClientEvent> = z.input<(typeof CLIENT_EVENTS)[E]['payload']>;
/** A payload once validated. */
export type ParsedPayload<E extends ClientEvent> = z.output<(typeof CLIENT_EVENTS)[E]['payload']>;
export type AnswerName<E extends ClientEvent> = (typeof CLIENT_EVENTS)[E]['answer'];
/** What an acknowledgement callback receives: the answer, or the refusal. */
export type AckPayload<E extends ClientEvent> =
  | ServerMessages[AnswerName<E>]
  | (E extends 'authenticate' ? ServerMessages['auth_failed'] : ServerMessages['error']);

export const isClientEvent = (name: string): name is ClientEvent => Object.hasOwn(CLIENT_EVENTS, name);

/** The typed event maps of Socket.IO (`Server<ClientToServerEvents, ServerToClientEvents>` and socket.io-client's). */
export type ClientToServerEvents = {
  [E in ClientEvent]: (payload: ClientPayload<E>, ack?: (answer: AckPayload<E>) => void) => void;
};
export type ServerToClientEvents = { [E in ServerMessageName]: (payload: ServerMessages[E]) => void };

/** Pushes the server sends without being asked. */
export const SERVER_PUSHES = ['webhook_event', 'server_shutdown', 'error', 'auth_failed'] as const satisfies ServerMessageName[];
