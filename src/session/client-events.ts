import { ALL_ACCOUNTS, type Entitlement } from '../auth/claims.js';
import { isEventType } from '../notifications/notification.js';
import {
  HISTORY_DEFAULT_LIMIT,
  HISTORY_MAX_LIMIT,
  getHistoryPayload,
  heartbeatPayload,
  infoPayload,
  subscribePayload,
  unsubscribePayload,
} from './payloads.js';
import type { Ack, Session } from './session.js';
import { accountIdsOf } from './state.js';

/** The client events of SPEC's table, past authentication and rate limiting. */
export async function handleEvent(session: Session, event: string, payload: unknown, ack?: Ack): Promise<void> {
  switch (event) {
    case 'subscribe':
      return subscribe(session, payload, ack);
    case 'unsubscribe':
      return unsubscribe(session, payload, ack);
    case 'get_subscriptions':
    case 'test_connection':
      return connectionInfo(session, event, payload, ack);
    case 'heartbeat':
      return heartbeat(session, payload, ack);
    case 'get_history':
      return history(session, payload, ack);
    default:
      session.error('invalid_payload', 'Unknown event', ack);
  }
}

async function subscribe(session: Session, payload: unknown, ack?: Ack): Promise<void> {
  const parsed = subscribePayload.safeParse(payload);
  if (!parsed.success) return session.invalidPayload(parsed.error, ack);
  const { eventTypes, accountIds } = parsed.data;
  if (!knownEventTypes(session, eventTypes, ack)) return;

  const state = session.state;
  const entitlement = state.entitlement as Entitlement;
  const scopeBefore = state.scope;
  let scope = state.scope;
  if (accountIds !== undefined) {
    if (accountIds.includes(ALL_ACCOUNTS)) {
      // `["*"]` asks for the whole entitlement back, whatever it is.
      scope = undefined;
    } else {
      if (!entitledAccounts(session, entitlement, accountIds, ack)) return;
      scope = [...new Set(accountIds)];
    }
  }
  if (scope === undefined) delete state.scope;
  else state.scope = scope;
  const typesBefore = state.subscriptions.length;
  for (const type of eventTypes) if (!state.subscriptions.includes(type)) state.subscriptions.push(type);
  // A repeated subscribe (clients resend theirs on every reconnect) changes no room and costs nothing.
  if (state.subscriptions.length !== typesBefore || !sameScope(scopeBefore, state.scope)) await session.syncRooms();
  confirm(session, ack);
}

async function unsubscribe(session: Session, payload: unknown, ack?: Ack): Promise<void> {
  const parsed = unsubscribePayload.safeParse(payload);
  if (!parsed.success) return session.invalidPayload(parsed.error, ack);
  if (!knownEventTypes(session, parsed.data.eventTypes, ack)) return;
  const removed = new Set(parsed.data.eventTypes);
  const before = session.state.subscriptions.length;
  session.state.subscriptions = session.state.subscriptions.filter((t) => !removed.has(t));
  if (session.state.subscriptions.length !== before) await session.syncRooms();
  confirm(session, ack);
}

function confirm(session: Session, ack?: Ack): void {
  const { state } = session;
  session.reply(
    {
      event: 'subscription_confirmed',
      payload: { eventTypes: [...state.subscriptions], accountIds: accountIdsOf(state), timestamp: Date.now() },
    },
    ack,
  );
}

function sameScope(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** True when every type is known; otherwise answers `invalid_event_type` (nothing changes) and returns false. */
function knownEventTypes(session: Session, types: readonly string[], ack?: Ack): boolean {
  const unknown = types.filter((t) => !isEventType(t));
  if (unknown.length === 0) return true;
  const shown = unknown.slice(0, 5).map((t) => JSON.stringify(t.slice(0, 64)));
  session.error('invalid_event_type', `Unknown event type(s): ${shown.join(', ')}`, ack);
  return false;
}

/** True when the entitlement covers every id; otherwise answers `forbidden_account` and returns false. */
function entitledAccounts(session: Session, entitlement: Entitlement, ids: readonly string[], ack?: Ack): boolean {
  // A Set: both lists hold up to 1 000 ids.
  const allowed = entitlement === ALL_ACCOUNTS ? undefined : new Set(entitlement);
  const forbidden = allowed === undefined ? [] : ids.filter((id) => !allowed.has(id));
  if (forbidden.length === 0) return true;
  session.error('forbidden_account', `Not entitled to account(s): ${forbidden.slice(0, 5).join(', ')}`, ack);
  return false;
}

function connectionInfo(session: Session, event: 'get_subscriptions' | 'test_connection', payload: unknown, ack?: Ack) {
  const parsed = infoPayload.safeParse(payload);
  if (!parsed.success) return session.invalidPayload(parsed.error, ack);
  const { state } = session;
  const now = Date.now();
  session.reply(
    {
      event: 'connection_info',
      payload: {
        status: 'connected',
        subscriptions: [...state.subscriptions],
        accountIds: accountIdsOf(state),
        ...(event === 'test_connection' && { socketId: session.id, serverTime: new Date(now).toISOString() }),
        timestamp: now,
      },
    },
    ack,
  );
}

function heartbeat(session: Session, payload: unknown, ack?: Ack): void {
  const parsed = heartbeatPayload.safeParse(payload);
  if (!parsed.success) return session.invalidPayload(parsed.error, ack);
  const now = Date.now();
  session.reply({ event: 'heartbeat_response', payload: { timestamp: now, serverTime: new Date(now).toISOString() } }, ack);
}

async function history(session: Session, payload: unknown, ack?: Ack): Promise<void> {
  const parsed = getHistoryPayload.safeParse(payload);
  if (!parsed.success) return session.invalidPayload(parsed.error, ack);
  const query = parsed.data ?? {};
  if (query.eventTypes !== undefined && !knownEventTypes(session, query.eventTypes, ack)) return;
  // History is filtered by entitlement, not by subscriptions (SPEC): a reloaded page asks before subscribing.
  const entitlement = session.state.entitlement as Entitlement;
  let accounts: Entitlement = entitlement;
  if (query.accountIds !== undefined && !query.accountIds.includes(ALL_ACCOUNTS)) {
    if (!entitledAccounts(session, entitlement, query.accountIds, ack)) return;
    accounts = query.accountIds;
  }
  const page = await session.deps.history.query({
    accounts,
    // A narrowed request may resume from the last id the client saw of any account it is entitled to.
    anchorAccounts: entitlement,
    ...(query.eventTypes !== undefined && { eventTypes: query.eventTypes }),
    ...(query.since !== undefined && { since: query.since }),
    limit: Math.min(query.limit ?? HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT),
  });
  session.reply({ event: 'history', payload: { events: page.events, complete: page.complete, timestamp: Date.now() } }, ack);
}
