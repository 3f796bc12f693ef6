import type { HistoryStore } from '../notifications/history.js';
import { ALL_ACCOUNTS, type Entitlement } from '../notifications/entitlement.js';
import { isEventType, type EventType } from '../notifications/notification.js';
import { HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, describeIssue, isPlainPayload } from '../protocol/client-payloads.js';
import { ProtocolError } from '../protocol/errors.js';
import { CLIENT_EVENTS, type AnswerName, type ClientEvent, type ParsedPayload } from '../protocol/events.js';
import type { ServerMessageName, ServerMessages } from '../protocol/server-messages.js';
import { accountIdsOf, type AuthenticatedState } from './state.js';

/** What a handler may see and do of its connection: nothing of the transport, the registry or the limits. */
export interface HandlerContext {
  readonly connectionId: string;
  readonly state: Readonly<AuthenticatedState>;
  readonly history: HistoryStore;
  /** Holds these subscriptions from now on; resolves once the delivery rooms follow them. */
  resubscribe(next: { subscriptions: EventType[]; scope: string[] | undefined }): Promise<void>;
}

type Handled = Exclude<ClientEvent, 'authenticate'>;
type Handler<E extends Handled> = (
  ctx: HandlerContext,
  payload: ParsedPayload<E>,
) => Omit<ServerMessages[AnswerName<E>], 'timestamp'> | Promise<Omit<ServerMessages[AnswerName<E>], 'timestamp'>>;

/**
 * The client events past authentication, one handler each: it receives the validated payload and returns its answer
 * (the dispatcher stamps `timestamp` and sends it as the event of the protocol table), or throws a ProtocolError.
 * `authenticate` belongs to the session core: it changes who the connection is.
 */
export const HANDLERS: { readonly [E in Handled]: Handler<E> } = {
  async subscribe(ctx, { eventTypes, accountIds }) {
    const types = knownEventTypes(eventTypes);
    let scope = ctx.state.scope;
    if (accountIds !== undefined) {
      // `["*"]` asks for the whole entitlement back, whatever it is.
      scope = accountIds.includes(ALL_ACCOUNTS) ? undefined : [...new Set(entitledAccounts(ctx.state.entitlement, accountIds))];
    }
    const subscriptions = [...ctx.state.subscriptions];
    for (const type of types) if (!subscriptions.includes(type)) subscriptions.push(type);
    // A repeated subscribe (clients resend theirs on every reconnect) changes no room and costs nothing.
    if (subscriptions.length !== ctx.state.subscriptions.length || !sameScope(scope, ctx.state.scope)) {
      await ctx.resubscribe({ subscriptions, scope });
    }
    return subscriptionConfirmed(ctx.state);
  },

  async unsubscribe(ctx, { eventTypes }) {
    const removed = new Set<string>(knownEventTypes(eventTypes));
    const subscriptions = ctx.state.subscriptions.filter((type) => !removed.has(type));
    if (subscriptions.length !== ctx.state.subscriptions.length) await ctx.resubscribe({ subscriptions, scope: ctx.state.scope });
    return subscriptionConfirmed(ctx.state);
  },

  get_subscriptions: (ctx) => connectionInfo(ctx.state),

  test_connection: (ctx) => ({
    ...connectionInfo(ctx.state),
    socketId: ctx.connectionId,
    serverTime: new Date().toISOString(),
  }),

  heartbeat: () => ({ serverTime: new Date().toISOString() }),

  async get_history(ctx, query) {
    const eventTypes = query?.eventTypes === undefined ? undefined : knownEventTypes(query.eventTypes);
    // History is filtered by entitlement, not by subscriptions (SPEC): a reloaded page asks before subscribing.
    const { entitlement } = ctx.state;
    const accounts: Entitlement =
      query?.accountIds === undefined || query.accountIds.includes(ALL_ACCOUNTS)
        ? entitlement
        : entitledAccounts(entitlement, query.accountIds);
    const page = await ctx.history.query({
      accounts,
      // A narrowed request may resume from the last id the client saw of any account it is entitled to.
      anchorAccounts: entitlement,
      ...(eventTypes !== undefined && { eventTypes }),
      ...(query?.since !== undefined && { since: query.since }),
      limit: Math.min(query?.limit ?? HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT),
    });
    return { events: page.events, complete: page.complete };
  },
};

/**
 * A client event past authentication, through the protocol table: its payload validated against the event's schema
 * (a plain object, or `invalid_payload`), its handler run, its answer stamped with the server's time.
 */
export async function answerEvent(
  event: Handled,
  payload: unknown,
  ctx: HandlerContext,
): Promise<{ event: ServerMessageName; payload: ServerMessages[ServerMessageName] }> {
  if (!isPlainPayload(payload)) throw new ProtocolError('invalid_payload', 'Invalid payload: expected a JSON object');
  const spec = CLIENT_EVENTS[event];
  const parsed = spec.payload.safeParse(payload);
  if (!parsed.success) throw new ProtocolError('invalid_payload', describeIssue(parsed.error));
  const handler = HANDLERS[event] as (ctx: HandlerContext, payload: unknown) => object | Promise<object>;
  const answer = await handler(ctx, parsed.data);
  return { event: spec.answer, payload: { ...answer, timestamp: Date.now() } as ServerMessages[ServerMessageName] };
}

const subscriptionConfirmed = (state: Readonly<AuthenticatedState>) => ({
  eventTypes: [...state.subscriptions],
  accountIds: accountIdsOf(state),
});

const connectionInfo = (state: Readonly<AuthenticatedState>) => ({
  status: 'connected' as const,
  subscriptions: [...state.subscriptions],
  accountIds: accountIdsOf(state),
});

function sameScope(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** The types, when every one is known; otherwise `invalid_event_type` (and nothing changes). */
function knownEventTypes(types: readonly string[]): EventType[] {
  const unknown = types.filter((t) => !isEventType(t));
  if (unknown.length === 0) return types as EventType[];
  const shown = unknown.slice(0, 5).map((t) => JSON.stringify(t.slice(0, 64)));
  throw new ProtocolError('invalid_event_type', `Unknown event type(s): ${shown.join(', ')}`);
}

/** The ids, when the entitlement covers every one; otherwise `forbidden_account` (and nothing changes). */
function entitledAccounts(entitlement: Entitlement, ids: readonly string[]): readonly string[] {
  if (entitlement === ALL_ACCOUNTS) return ids;
  // A Set: both lists hold up to 1 000 ids.
  const allowed = new Set(entitlement);
  const forbidden = ids.filter((id) => !allowed.has(id));
  if (forbidden.length === 0) return ids;
  throw new ProtocolError('forbidden_account', `Not entitled to account(s): ${forbidden.slice(0, 5).join(', ')}`);
}
