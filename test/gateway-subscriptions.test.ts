import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_A, ACCOUNT_B, ACCOUNT_C, authedClient, closeClients, eventually, expectServerTimestamp, publish } from './helpers/clients.js';
import { startServer, type RunningServer } from './helpers/server.js';

describe('Socket.IO gateway: subscriptions and entitlement', () => {
  let srv: RunningServer;

  beforeAll(async () => {
    srv = await startServer();
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    closeClients();
    await srv.stop();
  });

  describe('the client events', () => {
    it('subscribe answers subscription_confirmed with the full set now held, and the ack gets the same payload', async () => {
      const client = await authedClient(srv.url, { userId: 'sub-user', accountIds: [ACCOUNT_A, ACCOUNT_B] });
      const before = Date.now();

      const first = await client.ask('subscribe', { eventTypes: ['comments'], userId: 'sub-user', timestamp: Date.now() }, 'subscription_confirmed');
      const second = await client.ask('subscribe', { eventTypes: ['messages', 'comments'] }, 'subscription_confirmed');

      expect(first).toEqual({ eventTypes: ['comments'], accountIds: [ACCOUNT_A, ACCOUNT_B], timestamp: expect.any(Number) });
      expectServerTimestamp(first.timestamp, before);
      expect(second).toEqual({ eventTypes: ['comments', 'messages'], accountIds: [ACCOUNT_A, ACCOUNT_B], timestamp: expect.any(Number) });
    });

    it('unsubscribe answers subscription_confirmed with the set that remains, and delivery follows it', async () => {
      const client = await authedClient(srv.url, { userId: 'unsub-user', accountIds: [ACCOUNT_A] }, { subscribe: ['comments', 'messages'] });

      const remaining = await client.ask('unsubscribe', { eventTypes: ['comments'], userId: 'unsub-user', timestamp: 1 }, 'subscription_confirmed');
      const comment = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'comments' });
      const message = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'messages' });
      await client.waitForDelivery(message.id);

      expect(remaining).toEqual({ eventTypes: ['messages'], accountIds: [ACCOUNT_A], timestamp: expect.any(Number) });
      expect(client.deliveredIds()).toEqual([message.id]);
      expect(client.deliveredIds()).not.toContain(comment.id);
    });

    it('unsubscribing from a type not held is not an error', async () => {
      const client = await authedClient(srv.url, { userId: 'unsub-user', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });

      const remaining = await client.ask('unsubscribe', { eventTypes: ['mentions'] }, 'subscription_confirmed');

      expect(remaining.eventTypes).toEqual(['comments']);
    });

    it('get_subscriptions answers connection_info with the subscriptions and account scope, with or without a payload', async () => {
      const client = await authedClient(srv.url, { userId: 'info-user', accountIds: [ACCOUNT_A] }, { subscribe: ['comments', 'mentions'] });
      const before = Date.now();

      const info = await client.ask('get_subscriptions', { userId: 'info-user', timestamp: Date.now() }, 'connection_info');
      // An absent payload beside an ack goes over the wire as null.
      const withoutPayload = await client.ask('get_subscriptions', undefined, 'connection_info');

      expect(info).toEqual({
        status: 'connected',
        subscriptions: ['comments', 'mentions'],
        accountIds: [ACCOUNT_A],
        timestamp: expect.any(Number),
      });
      expectServerTimestamp(info.timestamp, before);
      expect(withoutPayload).toMatchObject({ status: 'connected', subscriptions: ['comments', 'mentions'] });
    });

    it('test_connection answers connection_info with the socket id and the server time', async () => {
      const client = await authedClient(srv.url, { userId: 'test-conn-user', accountIds: ['*'] }, { subscribe: ['comments'] });
      const before = Date.now();

      const info = await client.ask('test_connection', { userId: 'test-conn-user', timestamp: Date.now() }, 'connection_info');

      expect(info).toEqual({
        status: 'connected',
        subscriptions: ['comments'],
        accountIds: ['*'],
        socketId: client.id,
        serverTime: expect.any(String),
        timestamp: expect.any(Number),
      });
      expectServerTimestamp(info.timestamp, before);
      expect(new Date(info.serverTime as string).toISOString()).toBe(info.serverTime);
    });

    it('heartbeat answers heartbeat_response with the server time, with or without a payload', async () => {
      const client = await authedClient(srv.url, { userId: 'hb-user', accountIds: [ACCOUNT_A] });
      const before = Date.now();

      const response = await client.ask('heartbeat', { timestamp: Date.now(), clientId: 'client-1' }, 'heartbeat_response');
      const bare = await client.ask('heartbeat', null, 'heartbeat_response');

      expect(response).toEqual({ timestamp: expect.any(Number), serverTime: expect.any(String) });
      expectServerTimestamp(response.timestamp, before);
      expect(new Date(response.serverTime).toISOString()).toBe(response.serverTime);
      expect(bare).toEqual({ timestamp: expect.any(Number), serverTime: expect.any(String) });
    });

    it.each([
      ['an empty eventTypes', { eventTypes: [] }],
      ['eventTypes as a string', { eventTypes: 'comments' }],
      ['no eventTypes', {}],
      ['more than 32 eventTypes', { eventTypes: Array.from({ length: 33 }, () => 'comments') }],
      ['numeric accountIds', { eventTypes: ['messages'], accountIds: [Number(ACCOUNT_A)] }],
      ['an empty accountIds', { eventTypes: ['messages'], accountIds: [] }],
      ['a null payload', null],
      ['a number payload', 7],
    ])('subscribe with %s is answered invalid_payload and changes nothing', async (_name, payload) => {
      const client = await authedClient(srv.url, { userId: 'bad-sub-user', accountIds: [ACCOUNT_A, ACCOUNT_B] }, { subscribe: ['comments'] });

      await client.askError('subscribe', payload, 'invalid_payload');

      const info = await client.ask('get_subscriptions', {}, 'connection_info');
      expect(info).toMatchObject({ subscriptions: ['comments'], accountIds: [ACCOUNT_A, ACCOUNT_B] });
      expect(client.socket.connected).toBe(true);
    });
  });

  describe('event types', () => {
    it('only subscribed event types are delivered', async () => {
      const client = await authedClient(srv.url, { userId: 'types-user', accountIds: [ACCOUNT_A] }, { subscribe: ['messages'] });

      const comment = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'comments' });
      const message = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'messages' });
      await client.waitForDelivery(message.id);

      expect(client.deliveredIds()).toEqual([message.id]);
      expect(client.deliveredIds()).not.toContain(comment.id);
    });

    it('an unknown event type is answered invalid_event_type and the subscription is left unchanged', async () => {
      const client = await authedClient(srv.url, { userId: 'bad-type-user', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });

      const error = await client.askError('subscribe', { eventTypes: ['messages', 'not_a_type'] }, 'invalid_event_type');
      await client.askError('unsubscribe', { eventTypes: ['comments', 'not_a_type'] }, 'invalid_event_type');
      const message = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'messages' });
      const comment = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'comments' });
      await client.waitForDelivery(comment.id);

      expect(error.message).toContain('not_a_type');
      expect(client.deliveredIds()).toEqual([comment.id]);
      expect(client.deliveredIds()).not.toContain(message.id);
      const info = await client.ask('get_subscriptions', {}, 'connection_info');
      expect(info.subscriptions).toEqual(['comments']);
    });
  });

  describe('entitlement', () => {
    it('a notification reaches the subscriber of its account and not the subscriber of another', async () => {
      const userA = await authedClient(srv.url, { userId: 'owner-a', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
      const userB = await authedClient(srv.url, { userId: 'owner-b', accountIds: [ACCOUNT_B] }, { subscribe: ['comments'] });

      const forA = await publish(srv.url, { accountId: ACCOUNT_A });
      const forB = await publish(srv.url, { accountId: ACCOUNT_B });
      await userA.waitForDelivery(forA.id);
      await userB.waitForDelivery(forB.id);
      await Promise.all([userA.settle(), userB.settle()]);

      expect(userA.deliveredIds()).toEqual([forA.id]);
      expect(userB.deliveredIds()).toEqual([forB.id]);
      expect(userA.inbox.find('webhook_event')).toMatchObject({ id: forA.id, accountId: ACCOUNT_A, eventType: 'comments' });
    });

    it('a token with accountIds ["*"] receives every account', async () => {
      const client = await authedClient(srv.url, { userId: 'star-user', accountIds: ['*'] }, { subscribe: ['comments'] });

      const forA = await publish(srv.url, { accountId: ACCOUNT_A });
      const forAnother = await publish(srv.url, { accountId: '99999999999999999' });
      await client.waitForDelivery(forAnother.id);

      expect(client.deliveredIds()).toEqual([forA.id, forAnother.id]);
    });

    it('a token without accountIds authenticates but receives no account\'s notifications', async () => {
      const noAccounts = await authedClient(srv.url, { userId: 'no-accounts' });
      const confirmed = await noAccounts.ask('subscribe', { eventTypes: ['comments'] }, 'subscription_confirmed');
      const entitled = await authedClient(srv.url, { userId: 'entitled', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });

      const event = await publish(srv.url, { accountId: ACCOUNT_A });
      await entitled.waitForDelivery(event.id);
      await noAccounts.settle();

      expect(noAccounts.inbox.find('auth_success')?.accountIds).toEqual([]);
      expect(confirmed.accountIds).toEqual([]);
      expect(noAccounts.deliveredIds()).toEqual([]);
      await noAccounts.askError('subscribe', { eventTypes: ['comments'], accountIds: [ACCOUNT_A] }, 'forbidden_account');
    });

    it('subscribe.accountIds narrows delivery to those accounts, and ["*"] widens it back', async () => {
      const client = await authedClient(srv.url, { userId: 'narrow-user', accountIds: [ACCOUNT_A, ACCOUNT_B] }, { subscribe: ['comments'] });

      const narrowed = await client.ask('subscribe', { eventTypes: ['comments'], accountIds: [ACCOUNT_B] }, 'subscription_confirmed');
      const forA = await publish(srv.url, { accountId: ACCOUNT_A });
      const forB = await publish(srv.url, { accountId: ACCOUNT_B });
      await client.waitForDelivery(forB.id);
      const widened = await client.ask('subscribe', { eventTypes: ['comments'], accountIds: ['*'] }, 'subscription_confirmed');
      const forAAgain = await publish(srv.url, { accountId: ACCOUNT_A });
      await client.waitForDelivery(forAAgain.id);

      expect(narrowed.accountIds).toEqual([ACCOUNT_B]);
      expect(widened.accountIds).toEqual([ACCOUNT_A, ACCOUNT_B]);
      expect(client.deliveredIds()).toEqual([forB.id, forAAgain.id]);
      expect(client.deliveredIds()).not.toContain(forA.id);
    });

    it('subscribe.accountIds replaces the scope of every type held, not only the new ones', async () => {
      const client = await authedClient(srv.url, { userId: 'scope-user', accountIds: [ACCOUNT_A, ACCOUNT_B] }, { subscribe: ['comments'] });

      await client.ask('subscribe', { eventTypes: ['messages'], accountIds: [ACCOUNT_A] }, 'subscription_confirmed');
      const commentForB = await publish(srv.url, { accountId: ACCOUNT_B, eventType: 'comments' });
      const commentForA = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'comments' });
      const messageForA = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'messages' });
      await client.waitForDelivery(messageForA.id);

      expect(client.deliveredIds()).toEqual([commentForA.id, messageForA.id]);
      expect(client.deliveredIds()).not.toContain(commentForB.id);
    });

    it('a token with ["*"] can narrow to one account', async () => {
      const client = await authedClient(srv.url, { userId: 'star-narrow', accountIds: ['*'] }, { subscribe: ['comments'], accountIds: [ACCOUNT_C] });

      const forA = await publish(srv.url, { accountId: ACCOUNT_A });
      const forC = await publish(srv.url, { accountId: ACCOUNT_C });
      await client.waitForDelivery(forC.id);

      expect(client.deliveredIds()).toEqual([forC.id]);
      expect(client.deliveredIds()).not.toContain(forA.id);
    });

    it('an account outside the token is answered forbidden_account and nothing changes', async () => {
      const client = await authedClient(
        srv.url,
        { userId: 'forbidden-user', accountIds: [ACCOUNT_A, ACCOUNT_B] },
        { subscribe: ['comments'], accountIds: [ACCOUNT_A] },
      );

      const error = await client.askError(
        'subscribe',
        { eventTypes: ['messages'], accountIds: [ACCOUNT_B, ACCOUNT_C] },
        'forbidden_account',
      );
      const forB = await publish(srv.url, { accountId: ACCOUNT_B, eventType: 'comments' });
      const messageForA = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'messages' });
      const commentForA = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'comments' });
      await client.waitForDelivery(commentForA.id);

      expect(error.message).toContain(ACCOUNT_C);
      expect(error.message).not.toContain(ACCOUNT_B);
      expect(client.deliveredIds()).toEqual([commentForA.id]);
      expect(client.deliveredIds()).not.toContain(forB.id);
      expect(client.deliveredIds()).not.toContain(messageForA.id);
      const info = await client.ask('get_subscriptions', {}, 'connection_info');
      expect(info).toMatchObject({ subscriptions: ['comments'], accountIds: [ACCOUNT_A] });
    });
  });

  describe('several sockets of one user', () => {
    it('each socket has its own subscriptions, and closing one leaves the others', async () => {
      const comments = await authedClient(srv.url, { userId: 'multi', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
      const messages = await authedClient(srv.url, { userId: 'multi', accountIds: [ACCOUNT_A] }, { subscribe: ['messages'] });

      const comment = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'comments' });
      const message = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'messages' });
      await comments.waitForDelivery(comment.id);
      await messages.waitForDelivery(message.id);
      await Promise.all([comments.settle(), messages.settle()]);

      expect(comments.deliveredIds()).toEqual([comment.id]);
      expect(messages.deliveredIds()).toEqual([message.id]);
      expect((await comments.ask('get_subscriptions', {}, 'connection_info')).subscriptions).toEqual(['comments']);
      expect((await messages.ask('get_subscriptions', {}, 'connection_info')).subscriptions).toEqual(['messages']);

      comments.close();
      await eventually(() => srv.server.hub.registry.countForUser('multi') === 1, 3000, 'the closed socket to leave');
      const later = await publish(srv.url, { accountId: ACCOUNT_A, eventType: 'messages' });
      await messages.waitForDelivery(later.id);
      expect(messages.socket.connected).toBe(true);
    });
  });
});
