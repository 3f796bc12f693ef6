import jwt from 'jsonwebtoken';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isCoveredBy } from '../src/auth/revocations.js';
import { knowEachOther, revokeUser } from './helpers/admin-api.js';
import { everyPath, firstFrame, handshakeOutcome, onEveryPath, SUCCESS } from './helpers/auth-paths.js';
import { printedToken, runCli } from './helpers/cli-run.js';
import { ACCOUNT_A, authedClient, bounded, closeClients, eventually, openClient, publish, type TestClient } from './helpers/clients.js';
import { RecoveringClient } from './helpers/recovering-client.js';
import { redisAvailable, startRedis, type RedisServer } from './helpers/redis.js';
import { startServer, TEST_ADMIN_TOKEN as ADMIN_TOKEN, TEST_JWT_SECRET, type RunningServer } from './helpers/server.js';
import { counterValue } from './helpers/session-harness.js';
import { mintToken } from './helpers/tokens.js';
import { WsTestClient } from './helpers/ws-client.js';

const HAS_REDIS = redisAvailable();
const REVOKED = 'Session revoked';

let nextUser = 0;
/** Unique per test: what one test revokes never touches another's users. */
const newUser = (name: string) => `${name}-${++nextUser}`;

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** An HS256 token of `userId` with this `iat` (seconds; `null`: no iat at all), an hour long. */
function tokenIssuedAt(userId: string, iat: number | null): string {
  const payload = { userId, accountIds: [ACCOUNT_A], exp: nowSeconds() + 3600, ...(iat !== null && { iat }) };
  return jwt.sign(payload, TEST_JWT_SECRET, { algorithm: 'HS256', noTimestamp: iat === null });
}

/** A token issued in the second after the revocation answered: iat has second resolution (README). */
const tokenIssuedAfter = (userId: string, revokedBy: number) => tokenIssuedAt(userId, Math.floor(revokedBy / 1000) + 1);

const revoke = (srv: RunningServer, userId: string, token = ADMIN_TOKEN) => revokeUser(srv, userId, token);

const metric = (srv: RunningServer, name: string, labels: Record<string, string>) => counterValue(srv.server.metrics, name, labels);

const wsClients: WsTestClient[] = [];

/** A raw WebSocket client authenticated as `userId` (token issued now). */
async function wsClient(url: string, userId: string): Promise<WsTestClient> {
  const client = new WsTestClient(url);
  wsClients.push(client);
  await client.opened();
  client.send({ type: 'authenticate', token: mintToken({ userId, accountIds: [ACCOUNT_A] }, { expiresIn: 3600 }), userId });
  await client.next('auth_success');
  return client;
}

/** A Socket.IO client authenticated as `userId` through the `authenticate` event (token issued now). */
async function eventAuthenticated(url: string, userId: string): Promise<TestClient> {
  const socket = openClient(url);
  await socket.connected();
  await socket.request('authenticate', { token: mintToken({ userId, accountIds: [ACCOUNT_A] }, { expiresIn: 3600 }), userId, timestamp: Date.now() });
  return socket;
}

/** Asserts a Socket.IO client was told `Session revoked`, then disconnected by the server. */
async function expectRevoked(socket: TestClient, told: Promise<{ reason: string }>, gone: Promise<string>) {
  expect(await bounded(told, 'auth_failed')).toMatchObject({ reason: REVOKED, timestamp: expect.any(Number) });
  expect(await bounded(gone, 'the disconnect')).toBe('io server disconnect');
  expect(socket.socket.connected).toBe(false);
}

const awaitDisconnect = (socket: TestClient) => new Promise<string>((resolve) => socket.socket.once('disconnect', resolve));

/** Asserts a raw WebSocket client got `auth_failed {reason: "Session revoked"}`, then close 1008. */
async function expectWsRevoked(client: WsTestClient) {
  expect(await firstFrame(client, ['auth_failed'])).toMatchObject({ reason: REVOKED });
  expect(await client.closedWithin()).toEqual({ code: 1008, reason: REVOKED });
}

function closeEverything(): void {
  for (const client of wsClients.splice(0)) client.close();
  closeClients();
}

describe('POST /api/admin/users/:userId/revoke on one instance', () => {
  let srv: RunningServer;

  beforeAll(async () => {
    srv = await startServer({ ADMIN_TOKEN, MAX_CONNECTIONS_PER_USER: '50' });
  });
  afterEach(closeEverything);
  afterAll(async () => {
    closeEverything();
    await srv.stop();
  });

  it('when a user is revoked, then each of its connections on both transports is told "Session revoked" and closed (raw WebSocket: 1008), counted; other users stay', async () => {
    const alice = newUser('alice');
    const bob = newUser('bob');
    const viaHandshake = await authedClient(srv.url, { userId: alice, accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
    const viaEvent = await eventAuthenticated(srv.url, alice);
    const raw = await wsClient(srv.url, alice);
    const bystander = await authedClient(srv.url, { userId: bob, accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
    const bystanderRaw = await wsClient(srv.url, bob);
    const before = {
      socketio: await metric(srv, 'instantchat_disconnects_total', { transport: 'socketio', reason: 'revoked' }),
      websocket: await metric(srv, 'instantchat_disconnects_total', { transport: 'websocket', reason: 'revoked' }),
      failures: await metric(srv, 'instantchat_auth_failures_total', { reason: 'session_revoked' }),
    };
    const told = [viaHandshake, viaEvent].map((s) => s.next('auth_failed'));
    const gone = [viaHandshake, viaEvent].map(awaitDisconnect);

    const answer = await revoke(srv, alice);

    expect(answer).toMatchObject({ status: 200, body: { userId: alice, disconnected: 3 } });
    expect(Object.keys(answer.body).sort()).toEqual(['disconnected', 'userId']);
    await expectRevoked(viaHandshake, told[0] as Promise<{ reason: string }>, gone[0] as Promise<string>);
    await expectRevoked(viaEvent, told[1] as Promise<{ reason: string }>, gone[1] as Promise<string>);
    await expectWsRevoked(raw);
    expect(await metric(srv, 'instantchat_disconnects_total', { transport: 'socketio', reason: 'revoked' })).toBe(before.socketio + 2);
    expect(await metric(srv, 'instantchat_disconnects_total', { transport: 'websocket', reason: 'revoked' })).toBe(before.websocket + 1);
    expect(await metric(srv, 'instantchat_auth_failures_total', { reason: 'session_revoked' })).toBe(before.failures + 3);

    // Positive control: bob's connections are untouched and still receive.
    const event = await publish(srv.url, { accountId: ACCOUNT_A });
    await eventually(() => bystander.deliveries().some((n) => n.id === event.id), 3000, 'the bystander delivery');
    bystanderRaw.send({ type: 'heartbeat', timestamp: Date.now(), clientId: 'x' });
    expect(await bystanderRaw.next('heartbeat_response')).toMatchObject({ serverTime: expect.any(String) });
  });

  it('when a revoked user comes back with a token issued before the revocation, or without iat, then "Session revoked" on every path; a token issued after works', async () => {
    const carol = newUser('carol');
    const before = tokenIssuedAt(carol, nowSeconds() - 60);
    const noIat = tokenIssuedAt(carol, null);
    expect(await everyPath(srv.url, before, carol)).toEqual(onEveryPath(SUCCESS));

    const answer = await revoke(srv, carol);
    expect(answer.body).toEqual({ userId: carol, disconnected: 0 });

    expect(await everyPath(srv.url, before, carol)).toEqual(onEveryPath(REVOKED));
    expect(await everyPath(srv.url, noIat, carol)).toEqual(onEveryPath(REVOKED));
    expect(await everyPath(srv.url, tokenIssuedAfter(carol, answer.answeredAt), carol)).toEqual(onEveryPath(SUCCESS));
  });

  it('when a connected client re-authenticates with an old token after the revocation, then "Session revoked" and the disconnect', async () => {
    const dave = newUser('dave');
    const answer = await revoke(srv, dave);
    const socket = openClient(srv.url, { token: tokenIssuedAfter(dave, answer.answeredAt) });
    await socket.next('auth_success');
    const gone = awaitDisconnect(socket);
    const reply = await socket.request('authenticate', { token: tokenIssuedAt(dave, nowSeconds() - 60), userId: dave, timestamp: Date.now() });
    expect(reply).toMatchObject({ reason: REVOKED });
    expect(await bounded(gone, 'the disconnect')).toBe('io server disconnect');
  });

  it('when a session dropped before the revocation comes back within the recovery window, then it is not recovered: the old token is refused, a newer one connects afresh without the missed notifications', async () => {
    const erin = newUser('erin');
    const frank = newUser('frank');
    const away = await RecoveringClient.open(srv.url, tokenIssuedAt(erin, nowSeconds() - 60));
    const awayWithNewToken = await RecoveringClient.open(srv.url, tokenIssuedAt(erin, nowSeconds() - 60));
    const control = await RecoveringClient.open(srv.url, tokenIssuedAt(frank, nowSeconds() - 60));
    for (const client of [away, awayWithNewToken, control]) await client.goDown(srv);

    const answer = await revoke(srv, erin);
    expect(answer.body).toEqual({ userId: erin, disconnected: 0 });
    const missed = await publish(srv.url, { accountId: ACCOUNT_A });

    // Positive control: an unrevoked session comes back recovered, with what it missed.
    expect(await control.comeBack()).toBe('connected');
    expect(control.recovered).toBe(true);
    await eventually(() => control.received.some((n) => n.id === missed.id), 3000, 'the replay to the control');

    expect(await away.comeBack()).toBe(REVOKED);
    expect(away.socket.connected).toBe(false);

    const greeted = awayWithNewToken.client.next('auth_success');
    expect(await awayWithNewToken.comeBack({ token: tokenIssuedAfter(erin, answer.answeredAt) })).toBe('connected');
    expect(awayWithNewToken.recovered).toBe(false);
    await greeted;
    // It connected afresh: no subscription, nothing replayed (get_history is there for what it missed).
    expect(await awayWithNewToken.client.request('get_subscriptions', {})).toMatchObject({ subscriptions: [] });
    expect(awayWithNewToken.received).toEqual([]);
    for (const client of [away, awayWithNewToken, control]) client.close();
  });

  it('when the bearer is wrong, then 401 and nobody is disconnected; an unknown user answers disconnected 0', async () => {
    const gina = newUser('gina');
    const socket = await authedClient(srv.url, { userId: gina, accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
    const refused = await revoke(srv, gina, 'wrong-token');
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ error: 'unauthorized', message: expect.any(String) });
    expect(await socket.request('heartbeat', { timestamp: Date.now(), clientId: 'x' })).toMatchObject({ serverTime: expect.any(String) });
    expect((await revoke(srv, newUser('nobody'))).body).toMatchObject({ disconnected: 0 });
    expect((await revoke(srv, 'x'.repeat(257))).status).toBe(400);
  });
});

describe('which tokens a revocation covers', () => {
  it('issued at or before it, to the second (iat has second resolution), or without iat; not those of a later second', () => {
    const revokedAt = Date.parse('2025-03-01T12:00:00.500Z');
    const iat = (iso: string) => Date.parse(iso);
    expect(isCoveredBy(revokedAt, iat('2025-03-01T11:59:59Z'))).toBe(true);
    // The revocation's own second: a token issued 200 ms after it cannot be told apart from one issued before.
    expect(isCoveredBy(revokedAt, iat('2025-03-01T12:00:00Z'))).toBe(true);
    expect(isCoveredBy(revokedAt, undefined)).toBe(true);
    expect(isCoveredBy(revokedAt, iat('2025-03-01T12:00:01Z'))).toBe(false);
    expect(isCoveredBy(undefined, iat('2025-03-01T11:59:59Z'))).toBe(false);
  });
});

describe('REVOCATION_TTL_MS', () => {
  it('when the revocation is older than REVOCATION_TTL_MS, then the tokens it covered work again', async () => {
    const srv = await startServer({ ADMIN_TOKEN, REVOCATION_TTL_MS: '1500' });
    try {
      const henry = newUser('henry');
      const old = tokenIssuedAt(henry, nowSeconds() - 60);
      expect((await revoke(srv, henry)).status).toBe(200);
      expect(await everyPath(srv.url, old, henry)).toEqual(onEveryPath(REVOKED));
      const deadline = Date.now() + 5000;
      let outcome = '';
      while ((outcome = (await everyPath(srv.url, old, henry)).websocket) !== SUCCESS && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(outcome).toBe(SUCCESS);
    } finally {
      closeEverything();
      await srv.stop();
    }
  });
});

describe('the token CLI for revocation by hand', () => {
  it('when --iat is given (or none), then the token carries that iat (or none) and still expires --ttl from now', async () => {
    const env = { JWT_SECRET: TEST_JWT_SECRET };
    const [past, iso, none, bad] = await Promise.all([
      runCli('token', ['--user', 'ivy', '--accounts', ACCOUNT_A, '--iat', '1700000000', '--ttl', '15m'], env),
      runCli('token', ['--user', 'ivy', '--accounts', ACCOUNT_A, '--iat', '2024-01-01T00:00:00Z'], env),
      runCli('token', ['--user', 'ivy', '--accounts', ACCOUNT_A, '--iat', 'none'], env),
      runCli('token', ['--user', 'ivy', '--accounts', ACCOUNT_A, '--iat', 'yesterday'], env),
    ]);
    const decoded = (run: Awaited<ReturnType<typeof runCli>>) => jwt.verify(printedToken(run), TEST_JWT_SECRET) as jwt.JwtPayload;
    const pastClaims = decoded(past);
    expect(pastClaims.iat).toBe(1_700_000_000);
    expect(Math.abs((pastClaims.exp as number) - (nowSeconds() + 900))).toBeLessThan(30);
    expect(decoded(iso).iat).toBe(Date.parse('2024-01-01T00:00:00Z') / 1000);
    expect(decoded(none)).not.toHaveProperty('iat');
    expect(decoded(none)).toMatchObject({ userId: 'ivy' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--iat "yesterday"/);
  });
});

describe.skipIf(!HAS_REDIS)('revocation across two instances sharing one Redis', () => {
  let redis: RedisServer;
  let a: RunningServer;
  let b: RunningServer;
  const clusterEnv = () => ({ REDIS_URL: redis.url, ADMIN_TOKEN, MAX_CONNECTIONS_PER_USER: '50', RECOVERY_WINDOW_MS: '30000' });

  beforeAll(async () => {
    redis = await startRedis();
    [a, b] = await Promise.all([startServer(clusterEnv()), startServer(clusterEnv())]);
    await knowEachOther(a, b);
    await knowEachOther(b, a);
  });
  afterEach(closeEverything);
  afterAll(async () => {
    closeEverything();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  it('when a user is revoked on A, then its connections on B (both transports) and on A are told and closed, and the answer counts them all', async () => {
    const kate = newUser('kate');
    const lee = newUser('lee');
    const onB = await authedClient(b.url, { userId: kate, accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
    const rawOnB = await wsClient(b.url, kate);
    const onA = await authedClient(a.url, { userId: kate, accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
    const bystander = await authedClient(b.url, { userId: lee, accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
    const told = [onB, onA].map((s) => s.next('auth_failed'));
    const gone = [onB, onA].map(awaitDisconnect);
    const revokedOnB = await metric(b, 'instantchat_disconnects_total', { transport: 'socketio', reason: 'revoked' });

    const answer = await revoke(a, kate);

    expect(answer).toMatchObject({ status: 200, body: { userId: kate, disconnected: 3 } });
    expect(answer.body).not.toHaveProperty('partial');
    await expectRevoked(onB, told[0] as Promise<{ reason: string }>, gone[0] as Promise<string>);
    await expectRevoked(onA, told[1] as Promise<{ reason: string }>, gone[1] as Promise<string>);
    await expectWsRevoked(rawOnB);
    expect(await metric(b, 'instantchat_disconnects_total', { transport: 'socketio', reason: 'revoked' })).toBe(revokedOnB + 1);

    // Positive control: another user on B still receives what A publishes.
    const event = await publish(a.url, { accountId: ACCOUNT_A });
    await eventually(() => bystander.deliveries().some((n) => n.id === event.id), 3000, 'the bystander delivery');
  });

  it('when a token issued before the revocation comes to either instance, or to B restarted, then "Session revoked"; a newer token works everywhere', async () => {
    const mia = newUser('mia');
    const old = tokenIssuedAt(mia, nowSeconds() - 60);
    expect(await everyPath(b.url, old, mia)).toEqual(onEveryPath(SUCCESS));

    const answer = await revoke(a, mia);
    expect(answer.status).toBe(200);
    expect(await everyPath(a.url, old, mia)).toEqual(onEveryPath(REVOKED));
    expect(await everyPath(b.url, old, mia)).toEqual(onEveryPath(REVOKED));

    // A new B knows nothing in memory: the revocation is in Redis.
    await b.stop();
    b = await startServer(clusterEnv());
    expect(await everyPath(b.url, old, mia)).toEqual(onEveryPath(REVOKED));
    const newer = tokenIssuedAfter(mia, answer.answeredAt);
    expect(await everyPath(b.url, newer, mia)).toEqual(onEveryPath(SUCCESS));
    expect(await everyPath(a.url, newer, mia)).toEqual(onEveryPath(SUCCESS));
    await knowEachOther(a, b);
  });

  it('when a session dropped from A is revoked on B, then it is recovered on neither instance; an unrevoked one is', async () => {
    const nina = newUser('nina');
    const otto = newUser('otto');
    const away = await RecoveringClient.open(a.url, tokenIssuedAt(nina, nowSeconds() - 60));
    const alsoAway = await RecoveringClient.open(a.url, tokenIssuedAt(nina, nowSeconds() - 60));
    const control = await RecoveringClient.open(a.url, tokenIssuedAt(otto, nowSeconds() - 60));
    for (const client of [away, alsoAway, control]) await client.goDown(a);

    expect((await revoke(b, nina)).body).toMatchObject({ userId: nina, disconnected: 0 });
    const missed = await publish(b.url, { accountId: ACCOUNT_A });

    expect(await control.comeBack({ via: b })).toBe('connected');
    expect(control.recovered).toBe(true);
    await eventually(() => control.received.some((n) => n.id === missed.id), 3000, 'the replay to the control');

    expect(await away.comeBack({ via: a })).toBe(REVOKED);
    expect(await alsoAway.comeBack({ via: b })).toBe(REVOKED);
    expect(away.received.concat(alsoAway.received).map((n) => n.id)).not.toContain(missed.id);
    for (const client of [away, alsoAway, control]) client.close();
  });
});

/** Polls a condition no event announces (readiness following Redis), bounded in time. */
async function until(check: () => Promise<boolean>, what: string, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.skipIf(!HAS_REDIS)('revocation while Redis cannot be reached (cluster mode)', () => {
  it('when Redis is down, then a revocation answers 503 and disconnects nobody, and authentication is "Authentication unavailable"; once back, both work', async () => {
    const redis = await startRedis();
    const srv = await startServer({ REDIS_URL: redis.url, ADMIN_TOKEN });
    try {
      const pat = newUser('pat');
      const connectedBefore = await authedClient(srv.url, { userId: pat, accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
      await redis.kill();
      await until(async () => (await request(srv.url).get('/readyz')).status === 503, 'readiness to follow Redis');

      const refused = await revoke(srv, pat);
      expect(refused.status).toBe(503);
      expect(refused.body).toEqual({ error: 'not_ready', message: expect.stringMatching(/not be recorded/) });
      expect(connectedBefore.socket.connected).toBe(true);
      // A revoked user must not get in because the store cannot say so: nobody does.
      expect(await handshakeOutcome(srv.url, tokenIssuedAt(pat, nowSeconds()))).toBe('Authentication unavailable');

      await redis.restart();
      await until(async () => (await request(srv.url).get('/readyz')).status === 200, 'readiness to come back');
      const connectedAfter = await authedClient(srv.url, { userId: pat, accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
      const told = [connectedBefore, connectedAfter].map((s) => s.next('auth_failed'));
      expect(await revoke(srv, pat)).toMatchObject({ status: 200, body: { userId: pat, disconnected: 2 } });
      for (const notice of told) expect(await notice).toMatchObject({ reason: REVOKED });
    } finally {
      closeEverything();
      await srv.stop();
      await redis.stop();
    }
  });
});
