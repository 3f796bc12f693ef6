import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Notification } from '../src/notifications/notification.js';
import type { ServerMessages } from '../src/protocol/server-messages.js';

type HistoryPayload = ServerMessages['history'];
import { closeClients, openClient, type TestClient } from './helpers/clients.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';

/** Fresh account ids per test, so that tests sharing a server never see each other's notifications. */
let nextAccount = 0;
const newAccount = () => `178414${String(++nextAccount).padStart(11, '0')}`;

async function authedClient(url: string, accountIds: unknown, userId = 'history-user'): Promise<TestClient> {
  const socket = openClient(url, { token: mintToken({ userId, accountIds }, { expiresIn: 3600 }) });
  await socket.next('auth_success');
  return socket;
}

/** Posts flat webhooks one after another (arrival order is the order given) and returns their ids. */
async function publish(url: string, events: Array<Record<string, unknown>>): Promise<string[]> {
  for (const event of events) expect((await postFlat(url, event)).status).toBe(200);
  return events.map((e) => e.id as string);
}

const event = (accountId: string, id: string, eventType = 'comments') => flatEvent({ id, accountId, eventType });

const getHistory = (socket: TestClient, payload?: unknown) =>
  socket.request('get_history', payload) as Promise<HistoryPayload & Record<string, unknown>>;
const idsOf = (page: { events: Notification[] }) => page.events.map((e) => e.id);

describe('get_history over Socket.IO', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    closeClients();
    await srv.stop();
  });

  it('answers `history {events, complete, timestamp}` as event and ack, oldest first, only entitled accounts', async () => {
    const [mine, other] = [newAccount(), newAccount()];
    const ids = await publish(srv.url, [event(mine, 'h1-a1'), event(other, 'h1-b1'), event(mine, 'h1-a2', 'messages')]);
    expect(ids).toHaveLength(3);
    const socket = await authedClient(srv.url, [mine]);

    const asEvent = socket.next('history');
    const before = Date.now();
    const ack = await getHistory(socket, {});
    expect(idsOf(ack)).toEqual(['h1-a1', 'h1-a2']);
    expect(ack.complete).toBe(true);
    expect(ack.timestamp).toBeGreaterThanOrEqual(before);
    expect(ack.timestamp).toBeLessThanOrEqual(Date.now());
    expect(await asEvent).toEqual(ack);
    // The notification is the normalized one, the same a live subscriber receives.
    expect(ack.events[0]).toMatchObject({ id: 'h1-a1', eventType: 'comments', accountId: mine, content: 'Great post!' });

    // Positive control for the other account: its notification is kept and shown to a socket entitled to it.
    const otherSocket = await authedClient(srv.url, [other], 'other-user');
    expect(idsOf(await getHistory(otherSocket))).toEqual(['h1-b1']);
  });

  it('is not filtered by subscriptions: a socket without subscriptions, or subscribed to another type, gets history', async () => {
    const account = newAccount();
    await publish(srv.url, [event(account, 'h2-c1', 'comments'), event(account, 'h2-m1', 'messages')]);

    const unsubscribed = await authedClient(srv.url, [account]);
    expect(idsOf(await getHistory(unsubscribed))).toEqual(['h2-c1', 'h2-m1']);

    const messagesOnly = await authedClient(srv.url, [account]);
    await messagesOnly.request('subscribe', { eventTypes: ['messages'] });
    expect(idsOf(await getHistory(messagesOnly, {}))).toEqual(['h2-c1', 'h2-m1']);
  });

  it('with a `*` token, answers every account in arrival order; `accountIds` and `eventTypes` narrow it', async () => {
    const [a, b] = [newAccount(), newAccount()];
    await publish(srv.url, [event(a, 'h3-a1'), event(b, 'h3-b1', 'messages'), event(a, 'h3-a2'), event(b, 'h3-b2')]);
    const socket = await authedClient(srv.url, ['*'], 'admin');

    const all = idsOf(await getHistory(socket, { limit: 100 }));
    expect(all.filter((id) => id.startsWith('h3-'))).toEqual(['h3-a1', 'h3-b1', 'h3-a2', 'h3-b2']);
    expect(idsOf(await getHistory(socket, { accountIds: [b] }))).toEqual(['h3-b1', 'h3-b2']);
    expect(idsOf(await getHistory(socket, { accountIds: [a, b], eventTypes: ['messages'] }))).toEqual(['h3-b1']);
  });

  it('with `since`, answers the first `limit` after it; an unknown `since` answers complete false', async () => {
    const account = newAccount();
    await publish(srv.url, [1, 2, 3, 4, 5].map((i) => event(account, `h4-${i}`)));
    const socket = await authedClient(srv.url, [account]);

    const page = await getHistory(socket, { since: 'h4-2', limit: 2 });
    expect(idsOf(page)).toEqual(['h4-3', 'h4-4']);
    expect(page.complete).toBe(true);
    expect(await getHistory(socket, { since: 'h4-5' })).toMatchObject({ events: [], complete: true });

    const unknown = await getHistory(socket, { since: 'h4-never', limit: 2 });
    expect(unknown.complete).toBe(false);
    expect(idsOf(unknown)).toEqual(['h4-1', 'h4-2']);
  });

  it("treats `since` of an account the socket may not see as unknown, but resumes from any entitled account's id", async () => {
    const [a, b] = [newAccount(), newAccount()];
    await publish(srv.url, [event(a, 'h5-a1'), event(b, 'h5-b1'), event(a, 'h5-a2')]);

    const onlyA = await authedClient(srv.url, [a]);
    const hidden = await getHistory(onlyA, { since: 'h5-b1' });
    expect(hidden.complete).toBe(false);
    expect(idsOf(hidden)).toEqual(['h5-a1', 'h5-a2']);
    expect(await getHistory(onlyA, { since: 'h5-a1' })).toMatchObject({ complete: true });

    // Entitled to both, narrowed to A, resuming from the last id seen (of B): a known position, complete.
    const both = await authedClient(srv.url, [a, b]);
    const narrowed = await getHistory(both, { accountIds: [a], since: 'h5-b1' });
    expect(narrowed.complete).toBe(true);
    expect(idsOf(narrowed)).toEqual(['h5-a2']);
  });

  it('without `since`, answers the latest 50 by default and clamps a larger `limit` to 100', async () => {
    const [a, b] = [newAccount(), newAccount()];
    // Two accounts (each ring keeps 100): 120 kept notifications, interleaved.
    const ids = await publish(
      srv.url,
      Array.from({ length: 120 }, (_, i) => event(i % 2 ? b : a, `h6-${String(i).padStart(3, '0')}`)),
    );
    const socket = await authedClient(srv.url, [a, b]);

    expect(idsOf(await getHistory(socket))).toEqual(ids.slice(-50));
    expect(idsOf(await getHistory(socket, { limit: 500 }))).toEqual(ids.slice(-100));
    expect(idsOf(await getHistory(socket, { limit: 100 }))).toEqual(ids.slice(-100));
    expect(idsOf(await getHistory(socket, { limit: 7 }))).toEqual(ids.slice(-7));
    expect(idsOf(await getHistory(socket, { since: ids[9], limit: 1000 }))).toEqual(ids.slice(10, 110));
  });

  it('rejects a `limit` that is zero, negative or not an integer with invalid_payload', async () => {
    const account = newAccount();
    await publish(srv.url, [event(account, 'h7-1')]);
    const socket = await authedClient(srv.url, [account]);

    for (const limit of [0, -1, 1.5, '10', null]) {
      const asEvent = socket.next('error');
      const answer = await getHistory(socket, { limit });
      expect(answer).toMatchObject({ code: 'invalid_payload' });
      expect(await asEvent).toEqual(answer);
    }
    for (const payload of ['not an object', { since: 42 }, { eventTypes: 'comments' }, { accountIds: [] }]) {
      expect(await getHistory(socket, payload)).toMatchObject({ code: 'invalid_payload' });
    }
    // Positive control: the smallest valid limit works on the same socket.
    expect(idsOf(await getHistory(socket, { limit: 1 }))).toEqual(['h7-1']);
  });

  it('rejects accountIds the token does not entitle with forbidden_account', async () => {
    const [mine, other] = [newAccount(), newAccount()];
    await publish(srv.url, [event(mine, 'h8-a1'), event(other, 'h8-b1')]);
    const socket = await authedClient(srv.url, [mine]);

    const asEvent = socket.next('error');
    const answer = await getHistory(socket, { accountIds: [mine, other] });
    expect(answer).toMatchObject({ code: 'forbidden_account' });
    expect(JSON.stringify(answer)).not.toContain('h8-b1');
    expect(await asEvent).toEqual(answer);
    // Positive controls: the entitled account alone, and `["*"]` (the whole entitlement).
    expect(idsOf(await getHistory(socket, { accountIds: [mine] }))).toEqual(['h8-a1']);
    expect(idsOf(await getHistory(socket, { accountIds: ['*'] }))).toEqual(['h8-a1']);
  });

  it('rejects an unknown event type with invalid_event_type', async () => {
    const account = newAccount();
    await publish(srv.url, [event(account, 'h9-1')]);
    const socket = await authedClient(srv.url, [account]);

    expect(await getHistory(socket, { eventTypes: ['comments', 'not_a_type'] })).toMatchObject({
      code: 'invalid_event_type',
    });
    expect(idsOf(await getHistory(socket, { eventTypes: ['comments'] }))).toEqual(['h9-1']);
  });

  it('answers not_authenticated before authentication, and history once authenticated', async () => {
    const account = newAccount();
    await publish(srv.url, [event(account, 'h10-1')]);
    const socket = openClient(srv.url);
    await socket.connected();

    const asEvent = socket.next('error');
    const answer = await getHistory(socket, {});
    expect(answer).toMatchObject({ code: 'not_authenticated' });
    expect(answer).not.toHaveProperty('events');
    expect(await asEvent).toEqual(answer);

    const token = mintToken({ userId: 'late-user', accountIds: [account] }, { expiresIn: 3600 });
    await socket.request('authenticate', { token, userId: 'late-user', timestamp: Date.now() });
    expect(idsOf(await getHistory(socket, {}))).toEqual(['h10-1']);
  });
});

describe('get_history with a small HISTORY_SIZE', () => {
  let small: RunningServer;
  beforeAll(async () => {
    small = await startServer({ HISTORY_SIZE: '3' });
  });
  afterAll(async () => {
    closeClients();
    await small.stop();
  });

  it('keeps only the latest HISTORY_SIZE per account, and an evicted `since` answers complete false', async () => {
    const [a, b] = [newAccount(), newAccount()];
    await publish(small.url, [1, 2, 3, 4, 5].map((i) => event(a, `s-a${i}`)));
    await publish(small.url, [event(b, 's-b1')]);
    const socket = await authedClient(small.url, [a, b]);

    expect(idsOf(await getHistory(socket, { accountIds: [a] }))).toEqual(['s-a3', 's-a4', 's-a5']);
    // The bound is per account: B's single notification is still there.
    expect(idsOf(await getHistory(socket))).toEqual(['s-a3', 's-a4', 's-a5', 's-b1']);

    const evicted = await getHistory(socket, { since: 's-a1' });
    expect(evicted.complete).toBe(false);
    expect(idsOf(evicted)).toEqual(['s-a3', 's-a4', 's-a5', 's-b1']);
    // Positive control: the oldest kept id is still a valid anchor.
    expect(await getHistory(socket, { since: 's-a3' })).toMatchObject({ complete: true });
    expect(idsOf(await getHistory(socket, { since: 's-a3' }))).toEqual(['s-a4', 's-a5', 's-b1']);
  });
});
