import jwt from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_A, ACCOUNT_B, ACCOUNT_C, authedClient, closeClients, expectServerTimestamp, openClient, publish, unauthenticatedClient } from './helpers/clients.js';
import { startServer, TEST_JWT_SECRET, type RunningServer } from './helpers/server.js';
import { mintToken, unsignedToken } from './helpers/tokens.js';

const USER = 'auth-user';
const HOUR = 3600;

/** Tokens that must be refused, the same way on both authentication paths. */
const refusedTokens: { name: string; token: () => unknown; reason: string; label: string }[] = [
  {
    name: 'signed with another secret',
    token: () => mintToken({ userId: USER, accountIds: [ACCOUNT_A] }, { expiresIn: HOUR, secret: 'another-secret-0123456789' }),
    reason: 'Invalid token',
    label: 'invalid_token',
  },
  {
    name: 'expired',
    token: () => mintToken({ userId: USER, accountIds: [ACCOUNT_A] }, { expiresIn: -60 }),
    reason: 'Token expired',
    label: 'token_expired',
  },
  {
    name: 'unsigned (alg: none)',
    token: () => unsignedToken({ userId: USER, accountIds: [ACCOUNT_A], exp: Math.floor(Date.now() / 1000) + HOUR }),
    reason: 'Invalid token',
    label: 'invalid_token',
  },
  {
    name: 'signed with another algorithm (HS512)',
    token: () => jwt.sign({ userId: USER, accountIds: [ACCOUNT_A] }, TEST_JWT_SECRET, { algorithm: 'HS512', expiresIn: HOUR }),
    reason: 'Invalid token',
    label: 'invalid_token',
  },
  { name: 'garbage', token: () => 'not-a.jwt.at-all', reason: 'Invalid token', label: 'invalid_token' },
  { name: 'an empty string', token: () => '', reason: 'Invalid token', label: 'invalid_token' },
  { name: 'a number instead of a string', token: () => 12345, reason: 'Invalid token', label: 'invalid_token' },
  {
    name: 'missing both userId and sub',
    token: () => mintToken({ accountIds: [ACCOUNT_A] }, { expiresIn: HOUR }),
    reason: 'Invalid token',
    label: 'invalid_token',
  },
  {
    name: 'carrying a numeric userId',
    token: () => jwt.sign({ userId: 42, accountIds: [ACCOUNT_A] }, TEST_JWT_SECRET, { algorithm: 'HS256', expiresIn: HOUR }),
    reason: 'Invalid token',
    label: 'invalid_token',
  },
  {
    name: 'carrying numeric accountIds',
    // What a JSON number does to a Meta id: 17841400000000001 arrives as 17841400000000000.
    token: () => mintToken({ userId: USER, accountIds: [Number(ACCOUNT_A)] }, { expiresIn: HOUR }),
    reason: 'Invalid token',
    label: 'invalid_token',
  },
  {
    name: 'carrying accountIds as a single string',
    token: () => mintToken({ userId: USER, accountIds: ACCOUNT_A }, { expiresIn: HOUR }),
    reason: 'Invalid token',
    label: 'invalid_token',
  },
];

const cases = refusedTokens.map((t) => [t.name, t.reason, t] as const);

describe('Socket.IO gateway: authentication', () => {
  let srv: RunningServer;

  beforeAll(async () => {
    srv = await startServer();
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    closeClients();
    await srv.stop();
  });

  const authFailures = async (label: string): Promise<number> => {
    const metric = await srv.server.metrics.authFailures.get();
    return metric.values.find((v) => v.labels.reason === label)?.value ?? 0;
  };

  describe('at connect, with auth.token', () => {
    it('when the token is valid, the socket connects and is answered auth_success at once', async () => {
      const before = Date.now();
      const client = openClient(srv.url, { token: mintToken({ userId: USER, accountIds: [ACCOUNT_A, ACCOUNT_B] }, { expiresIn: HOUR }) });

      const success = await client.inbox.waitFor('auth_success', { failOn: ['connect_error'] });

      expect(success).toEqual({
        message: 'Authentication successful',
        userId: USER,
        accountIds: [ACCOUNT_A, ACCOUNT_B],
        heartbeatTimeoutMs: srv.config.HEARTBEAT_TIMEOUT_MS,
        timestamp: expect.any(Number),
      });
      expectServerTimestamp(success.timestamp, before);
      expect(client.socket.connected).toBe(true);
    });

    it('when the token has sub but no userId, the user is the sub', async () => {
      const client = openClient(srv.url, { token: mintToken({ sub: 'sub-user', accountIds: ['*'] }, { expiresIn: HOUR }) });

      const success = await client.inbox.waitFor('auth_success', { failOn: ['connect_error'] });

      expect(success).toMatchObject({ userId: 'sub-user', accountIds: ['*'] });
    });

    it.each(cases)('when the token is %s, the handshake fails with "%s"', async (_name, _reason, { token, reason, label }) => {
      const failuresBefore = await authFailures(label);
      const client = openClient(srv.url, { auth: { token: token() } });

      const err = await client.inbox.waitFor('connect_error', { failOn: ['connect', 'auth_success'] });

      expect(err.message).toBe(reason);
      expect(client.socket.connected).toBe(false);
      expect(await authFailures(label)).toBe(failuresBefore + 1);
    });

    it('when the handshake names another userId than the token, it fails with "User ID mismatch"', async () => {
      const token = mintToken({ userId: USER, accountIds: [ACCOUNT_A] }, { expiresIn: HOUR });
      const refused = openClient(srv.url, { auth: { token, userId: 'someone-else' } });
      const accepted = openClient(srv.url, { auth: { token, userId: USER } });

      const err = await refused.inbox.waitFor('connect_error', { failOn: ['connect'] });
      const success = await accepted.inbox.waitFor('auth_success', { failOn: ['connect_error'] });

      expect(err.message).toBe('User ID mismatch');
      expect(success.userId).toBe(USER);
    });
  });

  describe('after connect, with the authenticate event', () => {
    it('when the token is valid, auth_success is emitted and acknowledged with the same payload', async () => {
      const client = await unauthenticatedClient(srv.url);
      const token = mintToken({ userId: USER, accountIds: [ACCOUNT_A] }, { expiresIn: HOUR });
      const before = Date.now();

      const success = await client.ask('authenticate', { token, userId: USER, timestamp: Date.now() }, 'auth_success');

      expect(success).toEqual({
        message: 'Authentication successful',
        userId: USER,
        accountIds: [ACCOUNT_A],
        heartbeatTimeoutMs: srv.config.HEARTBEAT_TIMEOUT_MS,
        timestamp: expect.any(Number),
      });
      expectServerTimestamp(success.timestamp, before);
      await client.ask('subscribe', { eventTypes: ['comments'] }, 'subscription_confirmed');
    });

    it('when the token has sub but no userId, the sub must match userId', async () => {
      const client = await unauthenticatedClient(srv.url);
      const token = mintToken({ sub: 'sub-user' }, { expiresIn: HOUR });

      const success = await client.ask('authenticate', { token, userId: 'sub-user' }, 'auth_success');

      expect(success).toMatchObject({ userId: 'sub-user', accountIds: [] });
    });

    it.each(cases)(
      'when the token is %s, auth_failed "%s" is emitted and acknowledged, then the socket is disconnected',
      async (_name, _reason, { token, reason, label }) => {
        const failuresBefore = await authFailures(label);
        const client = await unauthenticatedClient(srv.url);
        const before = Date.now();

        const failed = await client.ask('authenticate', { token: token(), userId: USER, timestamp: Date.now() }, 'auth_failed');

        expect(failed).toEqual({ reason, timestamp: expect.any(Number) });
        expectServerTimestamp(failed.timestamp, before);
        expect(await client.disconnected()).toBe('io server disconnect');
        expect(await authFailures(label)).toBe(failuresBefore + 1);
      },
    );

    it('when userId differs from the token\'s, auth_failed "User ID mismatch" then disconnect', async () => {
      const client = await unauthenticatedClient(srv.url);
      const token = mintToken({ userId: USER, accountIds: [ACCOUNT_A] }, { expiresIn: HOUR });

      const failed = await client.ask('authenticate', { token, userId: 'someone-else', timestamp: Date.now() }, 'auth_failed');

      expect(failed.reason).toBe('User ID mismatch');
      expect(await client.disconnected()).toBe('io server disconnect');
    });

    it.each([
      ['no payload', undefined],
      ['a string payload', 'token'],
      ['no userId', { token: 'x' }],
      ['no token', { userId: USER }],
    ])('when the payload is malformed (%s), auth_failed "Invalid token" then disconnect', async (_name, payload) => {
      const client = await unauthenticatedClient(srv.url);

      const failed = await client.ask('authenticate', payload, 'auth_failed');

      expect(failed.reason).toBe('Invalid token');
      expect(await client.disconnected()).toBe('io server disconnect');
    });
  });

  describe('before authentication', () => {
    // An account no test publishes to: the history answer is known (empty).
    const QUIET_ACCOUNT = '17841400000000901';
    const info = { status: 'connected', subscriptions: [], accountIds: [QUIET_ACCOUNT] };
    it.each([
      ['subscribe', { eventTypes: ['comments'] }, 'subscription_confirmed', { eventTypes: ['comments'], accountIds: [QUIET_ACCOUNT] }],
      ['unsubscribe', { eventTypes: ['comments'] }, 'subscription_confirmed', { eventTypes: [], accountIds: [QUIET_ACCOUNT] }],
      ['get_subscriptions', {}, 'connection_info', info],
      ['test_connection', {}, 'connection_info', { ...info, serverTime: expect.any(String), socketId: expect.any(String) }],
      ['get_history', {}, 'history', { events: [], complete: true }],
      ['an unknown event', {}, 'error', { code: 'invalid_payload', message: expect.any(String) }],
    ] as const)('%s is answered error not_authenticated, and works once authenticated', async (event, payload, answer, expected) => {
      const name = event === 'an unknown event' ? 'no_such_event' : event;
      const client = await unauthenticatedClient(srv.url);

      await client.askError(name, payload, 'not_authenticated');

      expect(client.socket.connected).toBe(true);
      const token = mintToken({ userId: USER, accountIds: [QUIET_ACCOUNT] }, { expiresIn: HOUR });
      await client.ask('authenticate', { token, userId: USER }, 'auth_success');
      const before = Date.now();
      const answered = await client.ask(name, payload, answer);
      expect(answered).toEqual({ ...expected, timestamp: expect.any(Number) });
      expectServerTimestamp(answered.timestamp, before);
      if (event === 'test_connection') expect(answered).toMatchObject({ socketId: client.id });
    });

    it('heartbeat is answered heartbeat_response', async () => {
      const client = await unauthenticatedClient(srv.url);
      const before = Date.now();

      const response = await client.ask('heartbeat', { timestamp: Date.now(), clientId: 'c1' }, 'heartbeat_response');

      expect(response).toEqual({ timestamp: expect.any(Number), serverTime: expect.any(String) });
      expectServerTimestamp(response.timestamp, before);
      expect(new Date(response.serverTime).toISOString()).toBe(response.serverTime);
      expect(client.inbox.all('error')).toEqual([]);
    });
  });

  describe('events sent without waiting for answers', () => {
    it('a subscribe emitted right after authenticate is handled after it', async () => {
      const client = await unauthenticatedClient(srv.url);
      const token = mintToken({ userId: USER, accountIds: [ACCOUNT_A] }, { expiresIn: HOUR });

      const [auth, subscribed] = await Promise.all([
        client.request('authenticate', { token, userId: USER }),
        client.request('subscribe', { eventTypes: ['comments'] }),
      ]);

      expect(auth).toMatchObject({ message: 'Authentication successful' });
      expect(subscribed).toMatchObject({ eventTypes: ['comments'], accountIds: [ACCOUNT_A] });
      const event = await publish(srv.url, { accountId: ACCOUNT_A });
      await client.waitForDelivery(event.id);
    });

    it('a subscribe emitted before the handshake completed is handled as authenticated', async () => {
      const client = openClient(srv.url, { token: mintToken({ userId: USER, accountIds: [ACCOUNT_A] }, { expiresIn: HOUR }) });

      const subscribed = await client.request('subscribe', { eventTypes: ['comments'] });

      expect(subscribed).toMatchObject({ eventTypes: ['comments'], accountIds: [ACCOUNT_A] });
      expect(client.inbox.names().slice(0, 2)).toEqual(['connect', 'auth_success']);
    });
  });

  describe('re-authentication on a live socket', () => {
    const authenticate = (userId: string, claims: Record<string, unknown>, expiresIn = HOUR) => ({
      token: mintToken({ userId, ...claims }, { expiresIn }),
      userId,
      timestamp: Date.now(),
    });

    it('with a token of another user, auth_failed "User ID mismatch" then disconnect', async () => {
      const client = await authedClient(srv.url, { userId: 'first-user', accountIds: [ACCOUNT_A] });

      const failed = await client.ask('authenticate', authenticate('second-user', { accountIds: [ACCOUNT_A] }), 'auth_failed');

      expect(failed.reason).toBe('User ID mismatch');
      expect(await client.disconnected()).toBe('io server disconnect');
    });

    it('with new accountIds, the socket is re-scoped at once and keeps its subscriptions', async () => {
      const client = await authedClient(srv.url, { userId: 'rescoped', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
      const beforeRefresh = await publish(srv.url, { accountId: ACCOUNT_A });
      await client.waitForDelivery(beforeRefresh.id);

      const success = await client.ask('authenticate', authenticate('rescoped', { accountIds: [ACCOUNT_B] }), 'auth_success');
      const forA = await publish(srv.url, { accountId: ACCOUNT_A });
      const forB = await publish(srv.url, { accountId: ACCOUNT_B });
      await client.waitForDelivery(forB.id);

      expect(success.accountIds).toEqual([ACCOUNT_B]);
      expect(client.deliveredIds()).toEqual([beforeRefresh.id, forB.id]);
      expect(client.deliveredIds()).not.toContain(forA.id);
      const info = await client.ask('get_subscriptions', {}, 'connection_info');
      expect(info).toMatchObject({ subscriptions: ['comments'], accountIds: [ACCOUNT_B] });
    });

    it('from ["*"] to a list, other accounts stop at once', async () => {
      const client = await authedClient(srv.url, { userId: 'star-to-list', accountIds: ['*'] }, { subscribe: ['comments'] });
      const anyAccount = await publish(srv.url, { accountId: ACCOUNT_C });
      await client.waitForDelivery(anyAccount.id);

      await client.ask('authenticate', authenticate('star-to-list', { accountIds: [ACCOUNT_A] }), 'auth_success');
      const forC = await publish(srv.url, { accountId: ACCOUNT_C });
      const forA = await publish(srv.url, { accountId: ACCOUNT_A });
      await client.waitForDelivery(forA.id);

      expect(client.deliveredIds()).toEqual([anyAccount.id, forA.id]);
      expect(client.deliveredIds()).not.toContain(forC.id);
    });

    it('a narrowed account scope is kept where the new token still allows it', async () => {
      const client = await authedClient(
        srv.url,
        { userId: 'narrowed', accountIds: [ACCOUNT_A, ACCOUNT_B] },
        { subscribe: ['comments'], accountIds: [ACCOUNT_A] },
      );

      await client.ask('authenticate', authenticate('narrowed', { accountIds: [ACCOUNT_A, ACCOUNT_C] }), 'auth_success');
      const forC = await publish(srv.url, { accountId: ACCOUNT_C });
      const forB = await publish(srv.url, { accountId: ACCOUNT_B });
      const forA = await publish(srv.url, { accountId: ACCOUNT_A });
      await client.waitForDelivery(forA.id);

      expect(client.deliveredIds()).toEqual([forA.id]);
      expect(client.deliveredIds()).not.toContain(forB.id);
      expect(client.deliveredIds()).not.toContain(forC.id);
      const info = await client.ask('get_subscriptions', {}, 'connection_info');
      expect(info.accountIds).toEqual([ACCOUNT_A]);
    });
  });

  describe('token expiry while connected', () => {
    it('an expiring token gets auth_failed "Token expired" and a disconnect, unless a fresh token came first', async () => {
      // One shared exp, 3 to 4 s away (exp has a one-second resolution): room to connect and refresh on a loaded
      // machine, and both tokens expire at the same instant, so the refreshed socket is tested past that instant.
      const exp = Math.floor(Date.now() / 1000) + 4;
      const expiring = openClient(srv.url, { token: mintToken({ userId: 'expiring', accountIds: [ACCOUNT_A], exp }) });
      await expiring.inbox.waitFor('auth_success', { failOn: ['connect_error'] });
      const refreshed = openClient(srv.url, { token: mintToken({ userId: 'refreshed', accountIds: [ACCOUNT_A], exp }) });
      await refreshed.inbox.waitFor('auth_success', { failOn: ['connect_error'] });
      await refreshed.ask('subscribe', { eventTypes: ['comments'] }, 'subscription_confirmed');
      await refreshed.ask(
        'authenticate',
        { token: mintToken({ userId: 'refreshed', accountIds: [ACCOUNT_A] }, { expiresIn: HOUR }), userId: 'refreshed' },
        'auth_success',
      );

      const failed = await expiring.inbox.waitFor('auth_failed', { timeoutMs: 10_000 });

      expect(failed.timestamp).toBeGreaterThanOrEqual(exp * 1000);
      expect(failed).toEqual({ reason: 'Token expired', timestamp: expect.any(Number) });
      expect(await expiring.disconnected()).toBe('io server disconnect');
      const later = await publish(srv.url, { accountId: ACCOUNT_A });
      await refreshed.waitForDelivery(later.id);
      expect(refreshed.socket.connected).toBe(true);
      expect(refreshed.inbox.all('auth_failed')).toEqual([]);
    });
  });
});
