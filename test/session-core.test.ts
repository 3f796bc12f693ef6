import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { accountRoom, allAccountsRoom } from '../src/delivery/rooms.js';
import { EVENT_TYPES, type Notification } from '../src/notifications/notification.js';
import type { Metrics } from '../src/observability/metrics.js';
import { AUTH_FAILURES, DISCONNECTS, SOCKET_ERRORS, type Transport } from '../src/protocol/codes.js';
import { CLIENT_EVENTS, type ClientEvent } from '../src/protocol/events.js';
import { newSessionState } from '../src/session/state.js';
import {
  ACCOUNTS,
  closeSessionHarnesses,
  counterValue,
  flush,
  sessionHarness as harness,
  sessionTestConfig as config,
  type Harness,
  type SessionClient as Client,
} from './helpers/session-harness.js';
import { mintToken } from './helpers/tokens.js';

/**
 * The transport-neutral session core, against a fake transport and fake time: every timer of the protocol (the
 * authentication deadline, token expiry, the heartbeat and backlog sweeps, the rate limiter's one-second window) is
 * moved by the test, not waited for. The real-socket suites (gateway-*.test.ts, ws*.test.ts) cover the transports.
 *
 * What is faked, and why:
 * - `setTimeout`/`setInterval` (and their clears): the session's deadline and expiry timers, the hub's sweepers and
 *   rate-limiter-flexible's key cleanup all run on them.
 * - `Date`: token `exp`, `lastActivityAt`, every answer's `timestamp` and rate-limiter-flexible's windows
 *   (`MemoryStorage` compares `Date.now()` with each key's `expiresAt`) read it; with it faked, "one second later"
 *   means the same to all of them, and timestamps can be compared exactly.
 * - `setImmediate`: room changes are applied one slice per `setImmediate` turn (delivery/room-membership.ts); faked,
 *   a test steps through the slices one at a time and sees what each turn did.
 * Not faked: `process.nextTick` and `queueMicrotask` (promises must keep running), `performance` and `hrtime`
 * (nothing here reads them). `flush()` (helpers/session-harness.ts) lets every pending promise run with a real
 * `setImmediate` captured before the fake one is installed.
 */

const START = Date.parse('2030-01-01T00:00:00.000Z');
const [A1, A2, A3] = ACCOUNTS;

beforeEach(() => {
  vi.useFakeTimers({
    now: START,
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'Date'],
  });
});

afterEach(() => {
  let violations: string[];
  try {
    violations = closeSessionHarnesses();
  } finally {
    vi.useRealTimers();
  }
  // Whatever a test did, the core never joined a room held, left one not held, or used a closed transport.
  expect(violations).toEqual([]);
});

const disconnects = (metrics: Metrics, transport: Transport, reason: string) =>
  counterValue(metrics, 'instantchat_disconnects_total', { transport, reason });
const rejected = (metrics: Metrics, code: string) => counterValue(metrics, 'instantchat_client_events_rejected_total', { code });

const notification = (accountId: string, id: string): Notification => ({
  id,
  eventType: 'comments',
  accountId,
  sender: { id: '232323232', username: 'test' },
  content: 'Great post!',
  timestamp: new Date(START).toISOString(),
});

describe('session core: the authentication deadline (AUTH_TIMEOUT_MS)', () => {
  it('an unauthenticated session gets auth_failed "Authentication timeout" and is closed auth_failed just after the deadline, not before', async () => {
    const { connect } = harness();
    const client = connect();

    await vi.advanceTimersByTimeAsync(config.AUTH_TIMEOUT_MS - 1);
    expect(client.transport.log).toEqual([]);
    expect(client.closed).toBe(false);

    await vi.advanceTimersByTimeAsync(1);
    expect(client.transport.log).toEqual([
      { op: 'send', event: 'auth_failed', payload: { reason: 'Authentication timeout', timestamp: START + config.AUTH_TIMEOUT_MS } },
      { op: 'close', reason: 'auth_failed' },
    ]);
    expect(client.closed).toBe(true);
  });

  it('authenticating in time cancels the deadline, while a session beside it that did not is closed', async () => {
    const { connect } = harness();
    const late = connect();
    const silent = connect();

    await vi.advanceTimersByTimeAsync(config.AUTH_TIMEOUT_MS - 1);
    await late.authenticate('u-late', { accountIds: [A1] });
    await vi.advanceTimersByTimeAsync(config.AUTH_TIMEOUT_MS);

    expect(late.transport.events()).toEqual(['auth_success']);
    expect(late.closed).toBe(false);
    expect(silent.transport.closeReason).toBe('auth_failed');
  });

  it('a recovered session keeps the deadline of its first connect, while one opened at the same moment gets a full one', async () => {
    const { connect } = harness();
    const state = newSessionState(Date.now());
    const first = connect({ state });
    await vi.advanceTimersByTimeAsync(4000);
    // The transport dropped; Socket.IO keeps `socket.data` (serialized) and gives it back on recovery.
    first.session.dispose();
    const recovered = connect({ state: structuredClone(state), recovered: true });
    const fresh = connect();

    await vi.advanceTimersByTimeAsync(config.AUTH_TIMEOUT_MS - 4000 - 1);
    expect(recovered.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(recovered.transport.all('auth_failed')).toEqual([{ reason: 'Authentication timeout', timestamp: START + config.AUTH_TIMEOUT_MS }]);
    expect(recovered.transport.closeReason).toBe('auth_failed');
    expect(fresh.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(4000);
    expect(fresh.transport.closeReason).toBe('auth_failed');
  });
});

describe('session core: token expiry and refresh', () => {
  // Expiry tests keep the heartbeat sweep out of the way: the clients here are silent on purpose.
  const quiet = () => harness({ heartbeatTimeoutMs: 365 * 24 * 3600_000 });

  it('a token expiring while connected gets auth_failed "Token expired" at exp, not before, then close auth_failed', async () => {
    const client = await quiet().authed('u-exp', { accountIds: [A1] }, 60);

    await vi.advanceTimersByTimeAsync(60_000 - 1);
    expect(client.transport.events()).toEqual(['auth_success']);

    await vi.advanceTimersByTimeAsync(1);
    expect(client.transport.log.slice(1)).toEqual([
      { op: 'send', event: 'auth_failed', payload: { reason: 'Token expired', timestamp: START + 60_000 } },
      { op: 'close', reason: 'auth_failed' },
    ]);
  });

  it('a fresh authenticate of the same user before exp extends the session to the new exp', async () => {
    const client = await quiet().authed('u-refresh', { accountIds: [A1] }, 60);

    await vi.advanceTimersByTimeAsync(50_000);
    await client.authenticate('u-refresh', { accountIds: [A1] }, 120); // exp at 170 s
    expect(client.transport.all('auth_success')).toHaveLength(2);

    await vi.advanceTimersByTimeAsync(170_000 - 50_000 - 1);
    expect(client.closed).toBe(false);
    expect(client.transport.all('auth_failed')).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(client.transport.all('auth_failed')).toEqual([{ reason: 'Token expired', timestamp: START + 170_000 }]);
    expect(client.transport.closeReason).toBe('auth_failed');
  });

  it('a token expiring beyond the range of setTimeout (30 days) expires at exp, not before', async () => {
    const { hub, authed } = quiet();
    // The sweepers would fire millions of times over 30 days of fake time; this test is about the expiry timer only.
    hub.stop();
    const days30 = 30 * 24 * 3600;
    const client = await authed('u-long', { accountIds: [A1] }, days30);

    await vi.advanceTimersByTimeAsync(2 ** 31); // past the longest delay setTimeout honours
    expect(client.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(days30 * 1000 - 2 ** 31 - 1);
    expect(client.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(client.transport.all('auth_failed')).toEqual([{ reason: 'Token expired', timestamp: START + days30 * 1000 }]);
  });

  it('a token already expired at authenticate is "Token expired" at once, while a valid one is accepted', async () => {
    const { connect } = quiet();
    const expired = connect();
    const valid = connect();

    await expired.authenticate('u-old', { accountIds: [A1] }, -1);
    await valid.authenticate('u-new', { accountIds: [A1] }, 60);

    expect(expired.transport.log).toEqual([
      { op: 'send', event: 'auth_failed', payload: { reason: 'Token expired', timestamp: START } },
      { op: 'close', reason: 'auth_failed' },
    ]);
    expect(valid.transport.events()).toEqual(['auth_success']);
  });

  it('a recovered session whose token expired while away is told "Token expired" at once; one still valid keeps its rooms without rejoining', async () => {
    const { connect } = quiet();
    const first = connect();
    await first.authenticate('u-away', { accountIds: [A1] }, 60);
    await first.emit('subscribe', { eventTypes: ['comments'] });
    const state = structuredClone(first.session.state);
    const heldRooms = [...first.transport.rooms];
    first.session.dispose();

    await vi.advanceTimersByTimeAsync(30_000);
    const back = connect({ state: structuredClone(state), recovered: true, heldRooms });
    // Socket.IO restores the rooms of a recovered socket itself: the core joins nothing and sends nothing...
    expect(back.transport.log).toEqual([]);
    expect(back.closed).toBe(false);
    // ...and knows it holds them: an unsubscribe leaves them.
    await back.emit('unsubscribe', { eventTypes: ['comments'] });
    expect(back.transport.log[0]).toEqual({ op: 'leave', rooms: [accountRoom(A1, 'comments')] });
    expect(back.transport.rooms.size).toBe(0);
    back.session.dispose();

    await vi.advanceTimersByTimeAsync(30_000);
    const tooLate = connect({ state: structuredClone(state), recovered: true, heldRooms });
    expect(tooLate.transport.log).toEqual([
      { op: 'send', event: 'auth_failed', payload: { reason: 'Token expired', timestamp: START + 60_000 } },
      { op: 'close', reason: 'auth_failed' },
    ]);
  });

  it('a refresh with a token of another user is "User ID mismatch" and closes, after a same-user refresh was accepted', async () => {
    const client = await quiet().authed('u-one', { accountIds: [A1] }, 60);
    await client.authenticate('u-one', { accountIds: [A1] }, 60);
    expect(client.transport.all('auth_success')).toHaveLength(2);

    await client.authenticate('u-two', { accountIds: [A1] }, 60);

    expect(client.transport.log.slice(-2)).toEqual([
      { op: 'send', event: 'auth_failed', payload: { reason: 'User ID mismatch', timestamp: START } },
      { op: 'close', reason: 'auth_failed' },
    ]);
    expect(client.session.state.userId).toBe('u-one');
  });

  it('a userId beside the token that is not the token\'s is "User ID mismatch"', async () => {
    const { connect } = quiet();
    const client = connect();
    await client.emit('authenticate', { token: mintToken({ userId: 'u-real', accountIds: [A1] }), userId: 'u-claimed' });
    expect(client.transport.all('auth_failed')).toEqual([{ reason: AUTH_FAILURES.user_mismatch, timestamp: START }]);
    expect(client.transport.closeReason).toBe('auth_failed');
  });

  it('a refresh with narrower accountIds leaves the rooms it no longer allows before auth_success is sent', async () => {
    const client = await quiet().authed('u-narrow', { accountIds: [A1, A2, A3] }, 60);
    await client.emit('subscribe', { eventTypes: ['comments', 'messages'] });
    expect(client.transport.rooms.size).toBe(6);
    client.transport.clearLog();

    await client.authenticate('u-narrow', { accountIds: [A1] }, 60);

    const [leave, success, ...rest] = client.transport.log;
    expect(rest).toEqual([]);
    expect(leave?.op).toBe('leave');
    expect(new Set(leave !== undefined && 'rooms' in leave ? leave.rooms : [])).toEqual(
      new Set([accountRoom(A2, 'comments'), accountRoom(A2, 'messages'), accountRoom(A3, 'comments'), accountRoom(A3, 'messages')]),
    );
    expect(success).toMatchObject({ op: 'send', event: 'auth_success', payload: { userId: 'u-narrow', accountIds: [A1] } });
    expect(client.transport.rooms).toEqual(new Set([accountRoom(A1, 'comments'), accountRoom(A1, 'messages')]));
  });

  it('a refresh keeps a narrowed subscribe scope where the new token still allows it', async () => {
    const client = await quiet().authed('u-scope', { accountIds: [A1, A2, A3] }, 60);
    await client.emit('subscribe', { eventTypes: ['comments'], accountIds: [A2, A3] });
    expect(client.transport.rooms).toEqual(new Set([accountRoom(A2, 'comments'), accountRoom(A3, 'comments')]));

    await client.authenticate('u-scope', { accountIds: [A1, A2] }, 60);
    await client.emit('get_subscriptions', {});

    expect(client.transport.rooms).toEqual(new Set([accountRoom(A2, 'comments')]));
    expect(client.transport.all('connection_info').at(-1)).toMatchObject({ subscriptions: ['comments'], accountIds: [A2] });
  });
});

describe('session core: heartbeat timeout (the hub\'s sweep)', () => {
  const { HEARTBEAT_TIMEOUT_MS: timeout, HEARTBEAT_SWEEP_MS: sweep } = config;
  /** The first sweep that finds a session silent since t=0 past the timeout. */
  const firstSweepPast = (Math.floor(timeout / sweep) + 1) * sweep;

  it('a silent session gets error heartbeat_timeout then close heartbeat_timeout at the first sweep past HEARTBEAT_TIMEOUT_MS, not before', async () => {
    const client = await harness().authed('u-silent');

    await vi.advanceTimersByTimeAsync(firstSweepPast - 1);
    expect(client.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);

    expect(client.transport.log.slice(1)).toEqual([
      {
        op: 'send',
        event: 'error',
        payload: { code: 'heartbeat_timeout', message: SOCKET_ERRORS.heartbeat_timeout, timestamp: START + firstSweepPast },
      },
      { op: 'close', reason: 'heartbeat_timeout' },
    ]);
  });

  const activities: Array<[string, (c: Client) => Promise<void>]> = [
    ['heartbeat', (c) => c.emit('heartbeat', { timestamp: 1, clientId: 'c' })],
    ['get_subscriptions', (c) => c.emit('get_subscriptions')],
    ['subscribe', (c) => c.emit('subscribe', { eventTypes: ['comments'] })],
    ['an unknown event', (c) => c.emit('no_such_event', {})],
    ['a non-object payload', (c) => c.emit('subscribe', 'comments')],
    ['an invalid payload', (c) => c.emit('subscribe', { eventTypes: [] })],
    ['a frame the transport could not decode', (c) => c.session.handleUndecodable('Invalid JSON')],
  ];

  it.each(activities)('any client event counts as activity: %s keeps a session, while a silent one beside it is closed', async (_name, act) => {
    const { authed } = harness();
    const active = await authed('u-active');
    const silent = await authed('u-silent');

    // Three timeouts long, an event every half timeout.
    for (let t = 0; t < 6; t++) {
      await vi.advanceTimersByTimeAsync(timeout / 2);
      await act(active);
    }

    expect(silent.transport.closeReason).toBe('heartbeat_timeout');
    expect(active.closed).toBe(false);
    expect(active.transport.all('error').filter((e) => e.code === 'heartbeat_timeout')).toEqual([]);
  });
});

describe('session core: rate and abuse limits (SOCKET_EVENT_RATE_LIMIT)', () => {
  const limit = config.SOCKET_EVENT_RATE_LIMIT;
  const heartbeats = (c: Client) => c.transport.all('heartbeat_response').length;
  const limitedNotices = (c: Client) => c.transport.all('error').filter((e) => e.code === 'rate_limited').length;

  /** An authenticated client at the start of a fresh one-second window. */
  async function freshWindow(h: Harness = harness()): Promise<Client> {
    const client = await h.authed('u-rate');
    await vi.advanceTimersByTimeAsync(1000);
    return client;
  }

  async function sendHeartbeats(client: Client, count: number): Promise<void> {
    for (let i = 0; i < count; i++) await client.emit('heartbeat', { timestamp: i });
  }

  it('past the limit in a second, events without acks are not processed and get one rate_limited a second', async () => {
    const client = await freshWindow();

    await sendHeartbeats(client, limit);
    expect(heartbeats(client)).toBe(limit);
    expect(limitedNotices(client)).toBe(0);

    await sendHeartbeats(client, 10);
    expect(heartbeats(client)).toBe(limit);
    expect(client.transport.all('error')).toEqual([{ code: 'rate_limited', message: SOCKET_ERRORS.rate_limited, timestamp: START + 1000 }]);

    // Still inside the window: refused, and no second notice.
    await vi.advanceTimersByTimeAsync(999);
    await sendHeartbeats(client, 1);
    expect(heartbeats(client)).toBe(limit);
    expect(limitedNotices(client)).toBe(1);

    // A new window: the budget is back, and past it a new notice is due.
    await vi.advanceTimersByTimeAsync(1);
    await sendHeartbeats(client, limit + 1);
    expect(heartbeats(client)).toBe(2 * limit);
    expect(limitedNotices(client)).toBe(2);
    expect(client.closed).toBe(false);
  });

  it('past the limit, every event with an ack gets rate_limited, by ack and as an error event', async () => {
    const client = await freshWindow();

    const accepted = [];
    for (let i = 0; i < limit; i++) accepted.push(await client.emitWithAck('heartbeat', { timestamp: i }));
    const refused = [];
    for (let i = 0; i < 5; i++) refused.push(await client.emitWithAck('heartbeat', { timestamp: i }));

    expect(accepted.every((a) => typeof (a as { serverTime?: unknown }).serverTime === 'string')).toBe(true);
    const notice = { code: 'rate_limited', message: SOCKET_ERRORS.rate_limited, timestamp: START + 1000 };
    expect(refused).toEqual(Array.from({ length: 5 }, () => notice));
    expect(client.transport.all('error')).toEqual(refused);
  });

  it('a client at twice the limit is disconnected as abusive after about three seconds, while one at the limit is never', async () => {
    const h = harness();
    const flooder = await h.authed('u-flood');
    const steady = await h.authed('u-steady');

    let seconds = 0;
    while (!flooder.closed && seconds < 10) {
      await vi.advanceTimersByTimeAsync(1000);
      seconds++;
      await sendHeartbeats(flooder, 2 * limit);
      await sendHeartbeats(steady, limit);
    }

    // The abuse budget is three seconds' worth of refused events within ten (session-hub.ts): refused at 50 a second,
    // it is spent after the third second, and the first refusal of the fourth ends the connection.
    expect(seconds).toBe(4);
    expect(flooder.transport.closeReason).toBe('abuse');
    expect(flooder.transport.all('error').at(-1)).toEqual({
      code: DISCONNECTS.abuse.notice.code,
      message: DISCONNECTS.abuse.notice.message,
      timestamp: START + 4000,
    });
    for (let s = 0; s < 20; s++) {
      await vi.advanceTimersByTimeAsync(1000);
      await sendHeartbeats(steady, limit);
    }
    expect(steady.closed).toBe(false);
    expect(heartbeats(steady)).toBe(24 * limit);
    expect(limitedNotices(steady)).toBe(0);
  });

  it('sustained flooding is answered in order: the events accepted before it, then the announced abuse disconnect; nothing after', async () => {
    const h = harness();
    h.history.record(notification(A1, 'n-1'));
    const client = await freshWindow(h);
    await sendHeartbeats(client, limit - 20);

    // One burst, as one read of a socket delivers it: 20 events within the budget, queued; then a flood past it, one
    // more than the abuse budget (three seconds' worth of refusals, session-hub.ts).
    const burst: Array<Promise<void>> = [];
    for (let i = 0; i < 20; i++) burst.push(client.emit('get_history', { limit: 10 }));
    for (let i = 0; i < 3 * limit + 1; i++) burst.push(client.emit('heartbeat', { timestamp: i }));
    await Promise.all(burst);
    const after = [client.emit('get_subscriptions'), client.emit('heartbeat', {})];
    await Promise.all(after);
    await flush();

    const log = client.transport.log;
    const close = log.findIndex((r) => r.op === 'close');
    expect(log.at(-1)).toEqual({ op: 'close', reason: 'abuse' });
    expect(log[close - 1]).toEqual({
      op: 'send',
      event: 'error',
      payload: { code: 'rate_limited', message: DISCONNECTS.abuse.notice.message, timestamp: START + 1000 },
    });
    const histories = log.flatMap((r, i) => (r.op === 'send' && r.event === 'history' ? [i] : []));
    expect(histories).toHaveLength(20);
    expect(Math.max(...histories)).toBeLessThan(close);
    expect(client.transport.all('history')[0]?.events.map((e) => e.id)).toEqual(['n-1']);
    expect(heartbeats(client)).toBe(limit - 20);
    expect(client.transport.all('connection_info')).toEqual([]);
    expect(h.hub.registry.get(client.session.id)).toBeUndefined();
  });

  it('a burst within the limit is answered in full, as the same events sent one by one are', async () => {
    const h = harness();
    const oneByOne = await freshWindow(h);
    const burst = await h.authed('u-burst');

    // 40 events: within the budget (50 a second, one spent on authenticate), and more than 32 waiting at once.
    await sendHeartbeats(oneByOne, limit - 10);
    await Promise.all(Array.from({ length: limit - 10 }, (_, i) => burst.emit('heartbeat', { timestamp: i })));

    expect(heartbeats(oneByOne)).toBe(limit - 10);
    expect(burst.transport.all('error')).toEqual([]);
    expect(heartbeats(burst)).toBe(limit - 10);
  });
});

describe('session core: scope changes join and leave exactly the rooms of the difference', () => {
  const opsAfter = (client: Client, from: number) =>
    client.transport.log.slice(from).flatMap((r) => (r.op === 'join' || r.op === 'leave' ? [{ op: r.op, rooms: new Set(r.rooms) }] : []));

  async function step(client: Client, event: string, payload: unknown) {
    const from = client.transport.log.length;
    await client.emit(event, payload);
    return { ops: opsAfter(client, from), answer: client.transport.last() };
  }

  it('subscribe, subscribe.accountIds and unsubscribe move only the rooms that change; a repeated subscribe moves none', async () => {
    const client = await harness().authed('u-scope', { accountIds: [A1, A2] });

    expect((await step(client, 'subscribe', { eventTypes: ['comments'] })).ops).toEqual([
      { op: 'join', rooms: new Set([accountRoom(A1, 'comments'), accountRoom(A2, 'comments')]) },
    ]);

    const repeated = await step(client, 'subscribe', { eventTypes: ['comments'] });
    expect(repeated.ops).toEqual([]);
    expect(repeated.answer).toEqual({
      event: 'subscription_confirmed',
      payload: { eventTypes: ['comments'], accountIds: [A1, A2], timestamp: START },
    });

    expect((await step(client, 'subscribe', { eventTypes: ['messages'], accountIds: [A1] })).ops).toEqual([
      { op: 'leave', rooms: new Set([accountRoom(A2, 'comments')]) },
      { op: 'join', rooms: new Set([accountRoom(A1, 'messages')]) },
    ]);

    expect((await step(client, 'unsubscribe', { eventTypes: ['comments', 'mentions'] })).ops).toEqual([
      { op: 'leave', rooms: new Set([accountRoom(A1, 'comments')]) },
    ]);

    expect((await step(client, 'subscribe', { eventTypes: ['messages'], accountIds: ['*'] })).ops).toEqual([
      { op: 'join', rooms: new Set([accountRoom(A2, 'messages')]) },
    ]);
    expect(client.transport.rooms).toEqual(new Set([accountRoom(A1, 'messages'), accountRoom(A2, 'messages')]));
  });

  it('a token for every account holds one room per event type', async () => {
    const client = await harness().authed('u-all', { accountIds: ['*'] });
    await client.emit('subscribe', { eventTypes: ['comments', 'messages'] });
    expect(client.transport.rooms).toEqual(new Set([allAccountsRoom('comments'), allAccountsRoom('messages')]));

    await client.emit('subscribe', { eventTypes: ['comments'], accountIds: [A3] });
    expect(client.transport.rooms).toEqual(new Set([accountRoom(A3, 'comments'), accountRoom(A3, 'messages')]));
  });

  it('forbidden_account and invalid_event_type change nothing, while the same request without the bad item does', async () => {
    const { authed, metrics } = harness();
    const client = await authed('u-bad', { accountIds: [A1, A2] });
    await client.emit('subscribe', { eventTypes: ['comments'] });
    const held = new Set(client.transport.rooms);

    const forbidden = await step(client, 'subscribe', { eventTypes: ['messages'], accountIds: [A1, A3] });
    expect(forbidden.ops).toEqual([]);
    expect(forbidden.answer).toMatchObject({ event: 'error', payload: { code: 'forbidden_account', timestamp: START } });

    const unknownType = await step(client, 'subscribe', { eventTypes: ['messages', 'carrier_pigeons'] });
    expect(unknownType.ops).toEqual([]);
    expect(unknownType.answer).toMatchObject({ event: 'error', payload: { code: 'invalid_event_type' } });

    const unknownUnsubscribe = await step(client, 'unsubscribe', { eventTypes: ['comments', 'carrier_pigeons'] });
    expect(unknownUnsubscribe.ops).toEqual([]);
    expect(unknownUnsubscribe.answer).toMatchObject({ event: 'error', payload: { code: 'invalid_event_type' } });

    expect(client.transport.rooms).toEqual(held);
    expect(client.session.state.subscriptions).toEqual(['comments']);
    expect(await rejected(metrics, 'forbidden_account')).toBe(1);
    expect(await rejected(metrics, 'invalid_event_type')).toBe(2);

    const control = await step(client, 'subscribe', { eventTypes: ['messages'], accountIds: [A1] });
    expect(control.answer).toMatchObject({ event: 'subscription_confirmed', payload: { eventTypes: ['comments', 'messages'], accountIds: [A1] } });
    expect(client.transport.rooms).toEqual(new Set([accountRoom(A1, 'comments'), accountRoom(A1, 'messages')]));
  });

  const thousand = (prefix: string) => Array.from({ length: 1000 }, (_, i) => `${prefix}${i}`);

  it('a change of 1 000 accounts × 12 event types is applied in slices of at most 1 000 rooms, one slice per turn', async () => {
    const client = await harness().authed('u-large', { accountIds: thousand('acct') });

    const done = client.emit('subscribe', { eventTypes: [...EVENT_TYPES] });
    const heldAfterTurn: number[] = [];
    for (let turn = 0; turn < 20; turn++) {
      await flush();
      heldAfterTurn.push(client.transport.rooms.size);
      if (client.transport.all('subscription_confirmed').length > 0) break;
      vi.advanceTimersToNextTimer(); // the room membership's setImmediate: one more turn
    }
    await done;
    const joinedPerTurn = heldAfterTurn.map((held, turn) => held - (heldAfterTurn[turn - 1] ?? 0));

    expect(client.transport.rooms.size).toBe(12_000);
    expect(joinedPerTurn.filter((n) => n > 0)).toEqual(Array.from({ length: 12 }, () => 1000));
    expect(client.transport.all('subscription_confirmed')).toHaveLength(1);
  });

  it('a full change of scope (24 000 rooms) is charged to the room budget before any room moves: past it rate_limited and nothing moves; in the next window it applies, leaves first, in slices of at most 1 000', async () => {
    const client = await harness().authed('u-swap', { accountIds: ['*'] });
    const everyType = (accounts: string[]) => new Set(accounts.flatMap((id) => EVENT_TYPES.map((type) => accountRoom(id, type))));
    await applyFully(client.emit('subscribe', { eventTypes: [...EVENT_TYPES], accountIds: thousand('a') }));
    expect(client.transport.rooms).toEqual(everyType(thousand('a')));
    client.transport.clearLog();

    // 12 000 joins spent; the swap would take 12 000 leaves and 12 000 joins more within the window (session-hub.ts:
    // 24 000 per connection per 10 s).
    const answers: unknown[] = [];
    const swap = () => applyFully(client.emit('subscribe', { eventTypes: ['comments'], accountIds: thousand('b') }, (a) => answers.push(a)));
    await swap();
    expect(answers).toEqual([{ code: 'rate_limited', message: expect.any(String), timestamp: START }]);
    expect(client.transport.log.filter((r) => r.op !== 'send')).toEqual([]);
    expect(client.session.state.scope).toEqual(thousand('a'));

    await vi.advanceTimersByTimeAsync(10_000);
    await swap();
    expect(answers[1]).toMatchObject({ eventTypes: [...EVENT_TYPES], accountIds: thousand('b') });
    const leaves = client.transport.slices('leave');
    const joins = client.transport.slices('join');
    expect([sum(leaves), sum(joins)]).toEqual([12_000, 12_000]);
    expect(Math.max(...leaves, ...joins)).toBeLessThanOrEqual(1000);
    expect(client.transport.log.findLastIndex((r) => r.op === 'leave')).toBeLessThan(client.transport.log.findIndex((r) => r.op === 'join'));
    // subscribe adds types: the 12 held stay, now on the new accounts.
    expect(client.transport.rooms).toEqual(everyType(thousand('b')));
  });

  it('a session closed in the middle of a large change applies no further slice, while an open one finishes', async () => {
    const h = harness();
    const closing = await h.authed('u-gone', { accountIds: thousand('x') });
    const staying = await h.authed('u-stay', { accountIds: thousand('y') });

    void closing.emit('subscribe', { eventTypes: ['comments', 'messages', 'mentions'] });
    const staysDone = staying.emit('subscribe', { eventTypes: ['comments', 'messages', 'mentions'] });
    await flush();
    expect(closing.transport.rooms.size).toBe(1000);
    closing.session.dispose();
    await applyFully(staysDone);

    expect(closing.transport.slices('join')).toEqual([1000]);
    expect(closing.transport.all('subscription_confirmed')).toEqual([]);
    expect(staying.transport.rooms.size).toBe(3000);
  });
});

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Waits for `work` while running the room membership's turns (fake setImmediate) as they come. */
async function applyFully(work: Promise<unknown>): Promise<void> {
  let settled = false;
  void work.finally(() => (settled = true));
  for (let turn = 0; turn < 100; turn++) {
    await flush();
    if (settled) break;
    vi.advanceTimersToNextTimer();
  }
  await work;
}

describe('session core: the answers of the protocol table', () => {
  const token = mintToken({ userId: 'u-table', accountIds: [A1] });
  const samples: { [E in ClientEvent]: unknown } = {
    authenticate: { token, userId: 'u-table', timestamp: 1 },
    subscribe: { eventTypes: ['comments'], timestamp: 1 },
    unsubscribe: { eventTypes: ['comments'] },
    get_subscriptions: { userId: 'u-table' },
    test_connection: undefined,
    heartbeat: { timestamp: 1, clientId: 'c-1' },
    get_history: { limit: 5 },
  };

  it('every client event of the table has a sample here', () => {
    expect(Object.keys(samples).sort()).toEqual(Object.keys(CLIENT_EVENTS).sort());
  });

  it.each(Object.keys(CLIENT_EVENTS) as ClientEvent[])(
    '%s is answered with its table answer stamped with the server time, and its ack gets the same payload',
    async (event) => {
      const { connect } = harness();
      const client = connect();
      if (event !== 'authenticate') await client.authenticate('u-table', { accountIds: [A1] });
      await vi.advanceTimersByTimeAsync(1234);
      const before = client.transport.sent.length;

      const acked = await client.emitWithAck(event, samples[event]);

      const answers = client.transport.sent.slice(before);
      expect(answers).toEqual([{ event: CLIENT_EVENTS[event].answer, payload: acked }]);
      expect(acked).toMatchObject({ timestamp: START + 1234 });
    },
  );

  it('the answers carry what SPEC says: the subscriptions, the account scope, the socket id, the server time, history', async () => {
    const h = harness();
    h.history.record(notification(A1, 'mine'));
    h.history.record(notification(A2, 'not-mine'));
    const client = await h.authed('u-answers', { accountIds: [A1] });
    await vi.advanceTimersByTimeAsync(1234);
    const iso = new Date(START + 1234).toISOString();

    expect(await client.emitWithAck('subscribe', { eventTypes: ['comments', 'messages'] })).toEqual({
      eventTypes: ['comments', 'messages'],
      accountIds: [A1],
      timestamp: START + 1234,
    });
    expect(await client.emitWithAck('unsubscribe', { eventTypes: ['messages'] })).toEqual({
      eventTypes: ['comments'],
      accountIds: [A1],
      timestamp: START + 1234,
    });
    expect(await client.emitWithAck('get_subscriptions')).toEqual({
      status: 'connected',
      subscriptions: ['comments'],
      accountIds: [A1],
      timestamp: START + 1234,
    });
    expect(await client.emitWithAck('test_connection', {})).toEqual({
      status: 'connected',
      subscriptions: ['comments'],
      accountIds: [A1],
      socketId: client.transport.id,
      serverTime: iso,
      timestamp: START + 1234,
    });
    expect(await client.emitWithAck('heartbeat', null)).toEqual({ serverTime: iso, timestamp: START + 1234 });
    expect(await client.emitWithAck('get_history', {})).toEqual({
      events: [notification(A1, 'mine')],
      complete: true,
      timestamp: START + 1234,
    });
    expect(client.transport.all('auth_success')[0]).toEqual({
      message: 'Authentication successful',
      userId: 'u-answers',
      accountIds: [A1],
      heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS,
      timestamp: START,
    });
  });

  it('events are handled in arrival order: events sent right after authenticate see its result', async () => {
    const { connect } = harness();
    const client = connect();

    const sent = [
      client.emit('authenticate', { token: mintToken({ userId: 'u-order', accountIds: [A1] }), userId: 'u-order' }),
      client.emit('subscribe', { eventTypes: ['comments'] }),
      client.emit('get_subscriptions'),
      client.emit('heartbeat'),
    ];
    await Promise.all(sent);

    expect(client.transport.events()).toEqual(['auth_success', 'subscription_confirmed', 'connection_info', 'heartbeat_response']);
    expect(client.transport.all('connection_info')[0]).toMatchObject({ subscriptions: ['comments'] });
    expect(client.transport.rooms).toEqual(new Set([accountRoom(A1, 'comments')]));
  });

  it('a session authenticated at the handshake answers auth_success before any event sent right after', async () => {
    const { hub, connect } = harness();
    const handshake = await hub.verifyHandshake(mintToken({ userId: 'u-hs', accountIds: [A1] }));
    const client = connect({ handshake });

    await Promise.all([client.emit('get_subscriptions', {}), client.emit('subscribe', { eventTypes: ['comments'] })]);

    expect(client.transport.events()).toEqual(['auth_success', 'connection_info', 'subscription_confirmed']);
  });

  it.each([
    ['a Buffer', Buffer.from('{"eventTypes":["comments"]}')],
    ['an array', [{ eventTypes: ['comments'] }]],
    ['a string', '{"eventTypes":["comments"]}'],
    ['a number', 42],
    ['a boolean', true],
    ['a class instance', new Date()],
  ])('%s as payload is invalid_payload and changes nothing, while the object it stands for is accepted', async (_name, payload) => {
    const { authed, metrics } = harness();
    const client = await authed('u-shape');

    const refused = await client.emitWithAck('subscribe', payload);
    expect(refused).toEqual({ code: 'invalid_payload', message: 'Invalid payload: expected a JSON object', timestamp: START });
    expect(client.transport.rooms.size).toBe(0);
    expect(await rejected(metrics, 'invalid_payload')).toBe(1);
    expect(await client.emitWithAck('get_history', payload)).toMatchObject({ code: 'invalid_payload' });

    expect(await client.emitWithAck('subscribe', { eventTypes: ['comments'] })).toMatchObject({ eventTypes: ['comments'] });
    expect(client.transport.rooms.size).toBe(1);
    expect(client.closed).toBe(false);
  });

  it('a non-object authenticate payload is auth_failed "Invalid token" then close', async () => {
    const { connect } = harness();
    const client = connect();
    expect(await client.emitWithAck('authenticate', Buffer.from('token'))).toEqual({ reason: 'Invalid token', timestamp: START });
    expect(client.transport.closeReason).toBe('auth_failed');
  });

  it('an unknown event is not_authenticated before authentication and invalid_payload after, and the session stays', async () => {
    const { connect } = harness();
    const client = connect();

    expect(await client.emitWithAck('subscribe_all', {})).toEqual({
      code: 'not_authenticated',
      message: SOCKET_ERRORS.not_authenticated,
      timestamp: START,
    });
    await client.authenticate('u-unknown', { accountIds: [A1] });
    expect(await client.emitWithAck('subscribe_all', {})).toEqual({ code: 'invalid_payload', message: 'Unknown event', timestamp: START });
    expect(await client.emitWithAck('__proto__', {})).toMatchObject({ code: 'invalid_payload' });
    expect(client.closed).toBe(false);
    expect(await client.emitWithAck('heartbeat', {})).toMatchObject({ serverTime: expect.any(String) });
  });

  it('before authentication only authenticate and heartbeat are handled; every other event is not_authenticated', async () => {
    const { connect } = harness();
    const client = connect();
    const before = (Object.keys(CLIENT_EVENTS) as ClientEvent[]).filter((e) => e !== 'authenticate');

    const answers = [];
    for (const event of before) answers.push([event, await client.emitWithAck(event, samples[event])]);

    for (const [event, answer] of answers) {
      if (event === 'heartbeat') expect(answer).toMatchObject({ serverTime: expect.any(String) });
      else expect(answer).toMatchObject({ code: 'not_authenticated' });
    }
    expect(client.transport.rooms.size).toBe(0);
    expect(client.closed).toBe(false);
  });
});

describe('session core: slow consumers (MAX_CLIENT_BUFFER_BYTES)', () => {
  const max = config.MAX_CLIENT_BUFFER_BYTES;

  it('a backlog past the bound after a send closes slow_consumer, the error notice first; at the bound it stays', async () => {
    const client = await harness().authed('u-slow');

    client.transport.backlog = max;
    await client.emit('heartbeat', {});
    expect(client.closed).toBe(false);

    client.transport.backlog = max + 1;
    client.transport.clearLog();
    await client.emit('heartbeat', {});

    expect(client.transport.log).toEqual([
      { op: 'send', event: 'heartbeat_response', payload: { serverTime: new Date(START).toISOString(), timestamp: START } },
      { op: 'send', event: 'error', payload: { code: 'slow_consumer', message: SOCKET_ERRORS.slow_consumer, timestamp: START } },
      { op: 'close', reason: 'slow_consumer' },
    ]);
  });

  it('a client that stops reading is closed once its unread answers pass the bound', async () => {
    const h = harness({ maxClientBufferBytes: 10_000 });
    for (let i = 0; i < 50; i++) h.history.record({ ...notification(A1, `n-${i}`), content: 'x'.repeat(100) });
    const client = await h.authed('u-stalled');
    client.transport.stopReading();

    let asked = 0;
    while (!client.closed && asked < 20) {
      await client.emit('get_history', { limit: 10 });
      asked++;
    }

    expect(client.transport.closeReason).toBe('slow_consumer');
    expect(asked).toBeGreaterThan(1);
    expect(client.transport.events().slice(-1)).toEqual(['error']);
  });

  it("the hub's sweep closes a session whose backlog grew with nothing sent through it (broadcasts bypass the session), and leaves one at the bound", async () => {
    const { authed } = harness();
    const stalled = await authed('u-stalled');
    const reading = await authed('u-reading');

    // Broadcasts are written by the adapter, not by the session: only the backlog grows.
    stalled.transport.backlog = max + 1;
    reading.transport.backlog = max;
    await vi.advanceTimersByTimeAsync(1000);

    expect(stalled.transport.log.slice(1)).toEqual([
      { op: 'send', event: 'error', payload: { code: 'slow_consumer', message: SOCKET_ERRORS.slow_consumer, timestamp: expect.any(Number) } },
      { op: 'close', reason: 'slow_consumer' },
    ]);
    expect(reading.closed).toBe(false);
  });
});

describe('session core: metrics and resources', () => {
  it('instantchat_disconnects_total{transport,reason} counts each way a session ends, on its transport only', async () => {
    const h = harness();
    const { metrics } = h;
    const ends = async (kind: Transport) => {
      h.connect({ kind }); // never authenticates: auth_failed
      const silent = h.connect({ kind });
      await silent.authenticate(`u-silent-${kind}`, { accountIds: [A1] }); // heartbeat_timeout
      const slow = h.connect({ kind });
      await slow.authenticate(`u-slow-${kind}`, { accountIds: [A1] });
      const leaving = h.connect({ kind });
      await leaving.authenticate(`u-leaving-${kind}`, { accountIds: [A1] });
      const revoked = h.connect({ kind });
      await revoked.authenticate(`u-revoked-${kind}`, { accountIds: [A1] });
      return { slow, leaving, revoked };
    };
    const io = await ends('socketio');
    io.slow.transport.backlog = config.MAX_CLIENT_BUFFER_BYTES + 1;
    io.leaving.session.dispose(); // the client left
    io.revoked.session.fail('session_revoked');
    await vi.advanceTimersByTimeAsync(config.HEARTBEAT_TIMEOUT_MS + config.HEARTBEAT_SWEEP_MS);
    const ws = h.connect({ kind: 'websocket' });
    await ws.authenticate('u-ws', { accountIds: [A1] });
    h.hub.closeAll();

    const expected: Record<string, number> = { auth_failed: 1, heartbeat_timeout: 1, slow_consumer: 1, client: 1, revoked: 1, shutdown: 0, abuse: 0 };
    for (const [reason, count] of Object.entries(expected)) expect([reason, await disconnects(metrics, 'socketio', reason)]).toEqual([reason, count]);
    expect(await disconnects(metrics, 'websocket', 'shutdown')).toBe(1);
    for (const reason of ['auth_failed', 'heartbeat_timeout', 'slow_consumer', 'client', 'revoked', 'abuse']) {
      expect([reason, await disconnects(metrics, 'websocket', reason)]).toEqual([reason, 0]);
    }
    expect(ws.transport.log.at(-2)).toEqual({ op: 'send', event: 'server_shutdown', payload: { reason: 'Server shutting down', timestamp: Date.now() } });
    expect(await counterValue(metrics, 'instantchat_auth_failures_total', { reason: 'auth_timeout' })).toBe(1);
    expect(await counterValue(metrics, 'instantchat_auth_failures_total', { reason: 'session_revoked' })).toBe(1);
  });

  it('an abusive client is counted once as abuse, and its error notices as rate_limited', async () => {
    const h = harness();
    const client = await h.authed('u-abuse');
    for (let i = 0; i < 4 * config.SOCKET_EVENT_RATE_LIMIT + 10; i++) await client.emit('heartbeat', {});

    expect(client.transport.closeReason).toBe('abuse');
    expect(await disconnects(h.metrics, 'socketio', 'abuse')).toBe(1);
    // Every refusal is counted (told or not: one notice a second without acks) until the abuse budget (three seconds'
    // worth) is spent, then the notice announcing the disconnect.
    expect(await rejected(h.metrics, 'rate_limited')).toBe(3 * config.SOCKET_EVENT_RATE_LIMIT + 1);
    expect(client.transport.all('error').filter((e) => e.code === 'rate_limited')).toHaveLength(2);
    expect(await rejected(h.metrics, 'not_authenticated')).toBe(0);
  });

  it('instantchat_client_events_rejected_total{code} counts every refused event, by code', async () => {
    const h = harness();
    const anonymous = h.connect();
    await anonymous.emit('get_subscriptions');
    const client = await h.authed('u-errors', { accountIds: [A1] });
    await client.emit('subscribe', 'comments');
    await client.emit('subscribe', { eventTypes: ['nope'] });
    await client.emit('subscribe', { eventTypes: ['comments'], accountIds: [A2] });
    await client.emit('subscribe', { eventTypes: ['comments'] }); // accepted: counts nothing

    expect(await rejected(h.metrics, 'not_authenticated')).toBe(1);
    expect(await rejected(h.metrics, 'invalid_payload')).toBe(1);
    expect(await rejected(h.metrics, 'invalid_event_type')).toBe(1);
    expect(await rejected(h.metrics, 'forbidden_account')).toBe(1);
    expect(await rejected(h.metrics, 'rate_limited')).toBe(0);
    expect(client.transport.all('subscription_confirmed')).toHaveLength(1);
  });

  it('dispose() frees the registry entry, the user binding and every timer of the session, and counts a client disconnect', async () => {
    const h = harness();
    expect(vi.getTimerCount()).toBe(2); // the hub's heartbeat and backlog sweeps
    const control = h.connect(); // left alone: its deadline still fires
    const baseline = vi.getTimerCount();
    const client = h.connect();
    const unauthenticated = h.connect();
    await client.authenticate('u-dispose', { accountIds: [A1] }, 3600);
    await client.emit('subscribe', { eventTypes: ['comments'] });
    expect(h.hub.registry.size).toBe(3);
    expect(h.hub.registry.countForUser('u-dispose')).toBe(1);
    expect(vi.getTimerCount()).toBeGreaterThan(baseline);

    client.session.dispose();
    unauthenticated.session.dispose();
    client.session.dispose(); // twice: counted once
    await flush();

    expect(h.hub.registry.size).toBe(1);
    expect(h.hub.registry.get(client.session.id)).toBeUndefined();
    expect(h.hub.registry.countForUser('u-dispose')).toBe(0);
    expect(vi.getTimerCount()).toBe(baseline);
    expect(await disconnects(h.metrics, 'socketio', 'client')).toBe(2);
    // Nothing fires later for the disposed sessions (no auth deadline, no expiry), while the control's deadline does.
    await vi.advanceTimersByTimeAsync(3600_000);
    expect(control.transport.all('auth_failed')).toEqual([expect.objectContaining({ reason: 'Authentication timeout' })]);
    expect(unauthenticated.transport.log).toEqual([]);
    expect(client.transport.all('auth_failed')).toEqual([]);
    expect(await disconnects(h.metrics, 'socketio', 'auth_failed')).toBe(1);
    // And events after the end are not handled.
    await client.emit('heartbeat', {});
    expect(client.transport.all('heartbeat_response')).toEqual([]);
    h.hub.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
