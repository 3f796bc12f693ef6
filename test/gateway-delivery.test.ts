import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_A, ACCOUNT_B, authedClient, closeClients, expectServerTimestamp, openClient, publish, type PublishedEvent, unauthenticatedClient } from './helpers/clients.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { postFlat } from './helpers/webhooks.js';

/** A fresh account id per test, so that history and deliveries of other tests never mix in. */
let accountSeq = 0;
const freshAccount = (): string => `1784149${String(process.pid).padStart(6, '0')}${String(++accountSeq).padStart(4, '0')}`;

describe('Socket.IO gateway: delivery', () => {
  let srv: RunningServer;

  beforeAll(async () => {
    srv = await startServer();
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    closeClients();
    await srv.stop();
  });

  describe('webhook_event', () => {
    it('carries the notification as payload', async () => {
      const client = await authedClient(srv.url, { userId: 'payload-user', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });

      const event = await publish(srv.url, {
        accountId: ACCOUNT_A,
        sender: { id: '232323232', username: 'test' },
        comment: { text: 'Great post!' },
        timestamp: '2024-01-01T12:00:00.000Z',
      });
      const notification = await client.waitForDelivery(event.id);

      expect(notification).toEqual({
        id: event.id,
        eventType: 'comments',
        accountId: ACCOUNT_A,
        sender: { id: '232323232', username: 'test' },
        content: 'Great post!',
        timestamp: '2024-01-01T12:00:00.000Z',
      });
    });

    it('50 notifications arrive in the order they were received, on every socket', async () => {
      const star = await authedClient(srv.url, { userId: 'order-star', accountIds: ['*'] }, { subscribe: ['comments', 'messages'] });
      const listed = await authedClient(
        srv.url,
        { userId: 'order-list', accountIds: [ACCOUNT_A, ACCOUNT_B] },
        { subscribe: ['comments', 'messages'] },
      );

      const published: PublishedEvent[] = [];
      for (let i = 0; i < 50; i++) {
        published.push(
          await publish(srv.url, {
            id: `order-${i}-${Date.now()}`,
            accountId: i % 3 === 0 ? ACCOUNT_B : ACCOUNT_A,
            eventType: i % 2 === 0 ? 'comments' : 'messages',
          }),
        );
      }
      const last = published.at(-1) as PublishedEvent;
      await star.waitForDelivery(last.id);
      await listed.waitForDelivery(last.id);

      const expected = published.map((e) => e.id);
      expect(star.deliveredIds()).toEqual(expected);
      expect(listed.deliveredIds()).toEqual(expected);
    });

    it('reaches a socket once, however many times it subscribed to the type and its accounts', async () => {
      const client = await authedClient(srv.url, { userId: 'once-user', accountIds: ['*'] }, { subscribe: ['comments', 'messages'] });
      await client.ask('subscribe', { eventTypes: ['comments', 'comments'] }, 'subscription_confirmed');
      await client.ask('subscribe', { eventTypes: ['comments'], accountIds: [ACCOUNT_A, ACCOUNT_A, ACCOUNT_B] }, 'subscription_confirmed');
      await client.ask('subscribe', { eventTypes: ['messages', 'comments'], accountIds: ['*'] }, 'subscription_confirmed');
      await client.ask('subscribe', { eventTypes: ['comments'] }, 'subscription_confirmed');

      const comment = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'comments' });
      const message = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'messages' });
      const control = await publish(srv.url, { accountId: ACCOUNT_B, eventType: 'comments' });
      await client.waitForDelivery(control.id);
      await client.settle();

      expect(client.deliveredIds()).toEqual([comment.id, message.id, control.id]);
    });

    it('reaches each socket of a user once, each by its own subscriptions', async () => {
      const star = await authedClient(srv.url, { userId: 'two-sockets', accountIds: ['*'] }, { subscribe: ['comments'] });
      const narrowed = await authedClient(
        srv.url,
        { userId: 'two-sockets', accountIds: ['*'] },
        { subscribe: ['comments', 'messages'], accountIds: [ACCOUNT_A] },
      );

      const event = await publish(srv.url, { accountId: ACCOUNT_A });
      // Controls that tell the sockets apart: B's comment is for `star` only (the other is narrowed to A), A's message
      // for `narrowed` only (the other is not subscribed to messages). Were delivery per user, each would get both.
      const onlyStar = await publish(srv.url, { accountId: ACCOUNT_B, eventType: 'comments' });
      const onlyNarrowed = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'messages', message: { text: 'dm' } });
      await star.waitForDelivery(onlyStar.id);
      await narrowed.waitForDelivery(onlyNarrowed.id);
      await Promise.all([star.settle(), narrowed.settle()]);

      expect(star.deliveredIds()).toEqual([event.id, onlyStar.id]);
      expect(narrowed.deliveredIds()).toEqual([event.id, onlyNarrowed.id]);
    });

    it('a retried webhook (same id) is not delivered again', async () => {
      const client = await authedClient(srv.url, { userId: 'retry-user', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });

      const event = await publish(srv.url, { accountId: ACCOUNT_A });
      const retry = await postFlat(srv.url, event);
      const control = await publish(srv.url, { accountId: ACCOUNT_A });
      await client.waitForDelivery(control.id);

      expect(retry.status).toBe(200);
      expect(client.deliveredIds()).toEqual([event.id, control.id]);
    });

    it('an unauthenticated socket receives nothing', async () => {
      const anonymous = await unauthenticatedClient(srv.url);
      const control = await authedClient(srv.url, { userId: 'control-user', accountIds: ['*'] }, { subscribe: ['comments'] });

      const event = await publish(srv.url, { accountId: ACCOUNT_A });
      await control.waitForDelivery(event.id);
      await anonymous.settle();

      expect(anonymous.deliveredIds()).toEqual([]);
    });
  });

  describe('get_history', () => {
    const X = freshAccount();
    const Y = freshAccount();
    const Z = freshAccount();
    let kept: { x1: PublishedEvent; z1: PublishedEvent; y1: PublishedEvent; x2: PublishedEvent };

    beforeAll(async () => {
      kept = {
        x1: await publish(srv.url, { accountId: X, eventType: 'comments' }),
        z1: await publish(srv.url, { accountId: Z, eventType: 'comments' }),
        y1: await publish(srv.url, { accountId: Y, eventType: 'messages', comment: undefined, message: { text: 'hi' } }),
        x2: await publish(srv.url, { accountId: X, eventType: 'mentions' }),
      };
    });

    const historyIds = (events: { id: string }[]) => events.map((e) => e.id);

    it('answers history with what the socket may see, oldest first, whatever it subscribed to', async () => {
      const client = await authedClient(srv.url, { userId: 'history-user', accountIds: [X, Y] }, { subscribe: ['live_comments'] });
      const before = Date.now();

      const page = await client.ask('get_history', {}, 'history');

      expect(historyIds(page.events)).toEqual([kept.x1.id, kept.y1.id, kept.x2.id]);
      expect(page.complete).toBe(true);
      expectServerTimestamp(page.timestamp, before);
      expect(page.events[1]).toMatchObject({ id: kept.y1.id, eventType: 'messages', accountId: Y, content: 'hi' });
    });

    it('filters by eventTypes and accountIds, and refuses what is unknown or not entitled', async () => {
      const client = await authedClient(srv.url, { userId: 'history-user', accountIds: [X, Y] });

      const messages = await client.ask('get_history', { eventTypes: ['messages'] }, 'history');
      const ofX = await client.ask('get_history', { accountIds: [X] }, 'history');
      const everything = await client.ask('get_history', { accountIds: ['*'] }, 'history');
      await client.askError('get_history', { accountIds: [X, Z] }, 'forbidden_account');
      await client.askError('get_history', { eventTypes: ['not_a_type'] }, 'invalid_event_type');

      expect(historyIds(messages.events)).toEqual([kept.y1.id]);
      expect(historyIds(ofX.events)).toEqual([kept.x1.id, kept.x2.id]);
      expect(historyIds(everything.events)).toEqual([kept.x1.id, kept.y1.id, kept.x2.id]);
    });

    it('with since, answers what came after it; with limit, the latest ones', async () => {
      const client = await authedClient(srv.url, { userId: 'history-user', accountIds: [X, Y] });

      const after = await client.ask('get_history', { since: kept.x1.id }, 'history');
      const firstAfter = await client.ask('get_history', { since: kept.x1.id, limit: 1 }, 'history');
      const latest = await client.ask('get_history', { limit: 2 }, 'history');

      expect(historyIds(after.events)).toEqual([kept.y1.id, kept.x2.id]);
      expect(after.complete).toBe(true);
      expect(historyIds(firstAfter.events)).toEqual([kept.y1.id]);
      expect(historyIds(latest.events)).toEqual([kept.y1.id, kept.x2.id]);
    });

    it('with a since that is not kept (or not visible), answers complete: false', async () => {
      const client = await authedClient(srv.url, { userId: 'history-user', accountIds: [X, Y] });

      const unknown = await client.ask('get_history', { since: 'no-such-id' }, 'history');
      const notVisible = await client.ask('get_history', { since: kept.z1.id }, 'history');
      const visible = await client.ask('get_history', { since: kept.y1.id }, 'history');

      expect(unknown.complete).toBe(false);
      expect(notVisible.complete).toBe(false);
      expect(historyIds(notVisible.events)).not.toContain(kept.z1.id);
      expect(visible).toMatchObject({ complete: true, events: [{ id: kept.x2.id }] });
    });

    it.each([
      ['limit 0', { limit: 0 }],
      ['a negative limit', { limit: -1 }],
      ['a fractional limit', { limit: 1.5 }],
      ['limit as a string', { limit: '10' }],
      ['since as a number', { since: 1 }],
      ['an empty eventTypes', { eventTypes: [] }],
      ['a string payload', 'everything'],
    ])('with %s, answers invalid_payload', async (_name, payload) => {
      const client = await authedClient(srv.url, { userId: 'history-user', accountIds: [X, Y] });

      await client.askError('get_history', payload, 'invalid_payload');

      const page = await client.ask('get_history', null, 'history');
      expect(historyIds(page.events)).toEqual([kept.x1.id, kept.y1.id, kept.x2.id]);
    });

    it('answers the latest 50 by default and clamps a larger limit to 100', async () => {
      const P = freshAccount();
      const Q = freshAccount();
      const watcher = await authedClient(srv.url, { userId: 'history-watcher', accountIds: [P, Q] }, { subscribe: ['comments'] });
      // 110 notifications over two accounts (HISTORY_SIZE keeps 100 per account), posted ten at a time: the arrival
      // order is the order a subscribed socket receives them in.
      for (let batch = 0; batch < 11; batch++) {
        await Promise.all(Array.from({ length: 10 }, (_, i) => publish(srv.url, { accountId: i % 2 === 0 ? P : Q })));
      }
      await watcher.settle();
      const arrival = watcher.deliveredIds();

      const byDefault = await watcher.ask('get_history', {}, 'history');
      const clamped = await watcher.ask('get_history', { limit: 500 }, 'history');

      expect(arrival).toHaveLength(110);
      expect(historyIds(byDefault.events)).toEqual(arrival.slice(-50));
      expect(historyIds(clamped.events)).toEqual(arrival.slice(-100));
    });
  });

  describe('shutdown', () => {
    it('every socket gets server_shutdown, then its transport is closed (so it reconnects elsewhere), and new sockets are refused', async () => {
      const own = await startServer();
      try {
        const first = await authedClient(own.url, { userId: 'shutdown-1', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
        const second = await authedClient(own.url, { userId: 'shutdown-2', accountIds: ['*'] });
        const anonymous = await unauthenticatedClient(own.url);
        const before = Date.now();

        const stopped = own.stop();
        const notices = await Promise.all([first, second, anonymous].map((c) => c.inbox.waitFor('server_shutdown')));
        const reasons = await Promise.all([first, second, anonymous].map((c) => c.disconnected()));
        await stopped;

        for (const notice of notices) {
          expect(notice).toEqual({ reason: 'Server shutting down', timestamp: expect.any(Number) });
          expectServerTimestamp(notice.timestamp, before);
        }
        // "transport close", not "io server disconnect": socket.io-client reconnects by itself only after the former.
        expect(reasons).toEqual(['transport close', 'transport close', 'transport close']);
        for (const client of [first, second, anonymous]) {
          expect(client.inbox.names().slice(-2)).toEqual(['server_shutdown', 'disconnect']);
        }
        const late = openClient(own.url);
        await late.inbox.waitFor('connect_error', { failOn: ['connect'] });
      } finally {
        await own.stop();
      }
    });
  });
});
