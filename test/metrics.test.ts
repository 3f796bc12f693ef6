import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { authedClient, closeClients, openClient, type TestClient } from './helpers/clients.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { flatEvent, postFlat, postSigned } from './helpers/webhooks.js';

const ACCOUNT = '17841400000000001';
const RESULTS = ['accepted', 'invalid_signature', 'invalid_body', 'duplicate'];
const REASONS = ['invalid_token', 'token_expired', 'user_mismatch', 'auth_timeout', 'too_many_connections'];

type Labels = Record<string, string>;

/** The value of one sample of a Prometheus text exposition, matched by name and exact label set. */
function sample(text: string, name: string, labels: Labels = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const got: Labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    const same = Object.keys(got).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => got[k] === v);
    if (same) return Number(match[3]);
  }
  return undefined;
}

const typeOf = (text: string, name: string) => new RegExp(`^# TYPE ${name} (\\w+)$`, 'm').exec(text)?.[1];

async function scrape(srv: RunningServer): Promise<string> {
  const res = await request(srv.url).get('/metrics');
  expect(res.status).toBe(200);
  return res.text;
}

async function value(srv: RunningServer, name: string, labels: Labels = {}): Promise<number> {
  return sample(await scrape(srv), name, labels) ?? 0;
}

/** Resolves once the server has handled the disconnect of `socket` (its own listeners, metrics included, ran first). */
function serverSideDisconnect(srv: RunningServer, socket: TestClient): Promise<void> {
  const serverSocket = srv.server.io.of('/').sockets.get(socket.id as string);
  if (serverSocket === undefined) return Promise.resolve();
  return new Promise((resolve) => serverSocket.once('disconnect', () => resolve()));
}

describe('GET /metrics while METRICS_TOKEN is unset', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer({ WEBHOOK_BODY_LIMIT: '2kb' });
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await srv.stop();
  });

  it('when scraped without credentials, then it answers the Prometheus text of SPEC metrics and the default process metrics', async () => {
    const res = await request(srv.url).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain;.*\bversion=0\.0\.4/);
    const text = res.text;
    expect(typeOf(text, 'instantchat_active_connections')).toBe('gauge');
    expect(typeOf(text, 'instantchat_webhooks_total')).toBe('counter');
    expect(typeOf(text, 'instantchat_notifications_published_total')).toBe('counter');
    expect(typeOf(text, 'instantchat_auth_failures_total')).toBe('counter');
    expect(typeOf(text, 'instantchat_webhook_to_emit_seconds')).toBe('histogram');
    // Every label value SPEC names is exported from the start, so dashboards and alerts see the series at 0.
    for (const transport of ['socketio', 'websocket']) {
      expect(sample(text, 'instantchat_active_connections', { transport }), transport).toBe(0);
    }
    for (const result of RESULTS) expect(sample(text, 'instantchat_webhooks_total', { result }), result).toBe(0);
    for (const reason of REASONS) expect(sample(text, 'instantchat_auth_failures_total', { reason }), reason).toBe(0);
    expect(sample(text, 'instantchat_webhook_to_emit_seconds_count')).toBe(0);
    // prom-client's default metrics.
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) {
      expect(sample(text, name), name).toBeGreaterThan(0);
    }
    expect(typeOf(text, 'nodejs_eventloop_lag_seconds')).toBe('gauge');
  });

  it('when sockets connect and disconnect, then instantchat_active_connections{transport="socketio"} follows them', async () => {
    const gauge = () => value(srv, 'instantchat_active_connections', { transport: 'socketio' });
    const before = await gauge();
    const authenticated = await authedClient(srv.url, { userId: 'gauge-user', accountIds: [ACCOUNT] }, { subscribe: ['comments'] });
    const anonymous = openClient(srv.url);
    await anonymous.connected();
    expect(await gauge()).toBe(before + 2);

    let gone = serverSideDisconnect(srv, anonymous);
    anonymous.close();
    await gone;
    expect(await gauge()).toBe(before + 1);

    gone = serverSideDisconnect(srv, authenticated);
    authenticated.close();
    await gone;
    expect(await gauge()).toBe(before);
    expect(await value(srv, 'instantchat_active_connections', { transport: 'websocket' })).toBe(0);
  });

  it('when webhooks of every kind arrive, then instantchat_webhooks_total counts each POST under its result', async () => {
    const counts = async () => {
      const text = await scrape(srv);
      const of = (result: string) => sample(text, 'instantchat_webhooks_total', { result }) ?? 0;
      return {
        accepted: of('accepted'),
        invalid_signature: of('invalid_signature'),
        invalid_body: of('invalid_body'),
        duplicate: of('duplicate'),
      };
    };
    const published = () => value(srv, 'instantchat_notifications_published_total', { event_type: 'messages' });
    const before = await counts();
    const publishedBefore = await published();

    const event = flatEvent({ eventType: 'messages', comment: undefined, message: { text: 'counted' } });
    expect((await postFlat(srv.url, event)).status).toBe(200);
    expect((await postFlat(srv.url, event)).status).toBe(200); // a retry: duplicate
    expect((await postSigned(srv.url, JSON.stringify(flatEvent()), 'wrong-secret')).status).toBe(401);
    expect((await request(srv.url).post('/api/webhooks/instagram').send(flatEvent())).status).toBe(401); // unsigned
    expect((await postSigned(srv.url, '{"not json')).status).toBe(400);
    expect((await postSigned(srv.url, '{"hello":"world"}')).status).toBe(200); // signed, unknown shape
    expect((await postSigned(srv.url, JSON.stringify({ pad: 'x'.repeat(4096) }))).status).toBe(413);

    expect(await counts()).toEqual({
      accepted: before.accepted + 1,
      invalid_signature: before.invalid_signature + 2,
      invalid_body: before.invalid_body + 3,
      duplicate: before.duplicate + 1,
    });
    // The duplicate is not published again.
    expect(await published()).toBe(publishedBefore + 1);
  });

  it('when authentications fail, then instantchat_auth_failures_total counts them by reason, and a good one counts nothing', async () => {
    // The silent socket's deadline runs while the other cases are driven; it is wide enough that the mismatch case
    // (a socket that authenticates after connecting) is answered long before its own deadline on a loaded machine.
    const AUTH_TIMEOUT_MS = 2500;
    const own = await startServer({ AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS), MAX_CONNECTIONS_PER_USER: '2' });
    try {
      const failures = async () => {
        const text = await scrape(own);
        return Object.fromEntries(REASONS.map((reason) => [reason, sample(text, 'instantchat_auth_failures_total', { reason })]));
      };
      const zero = Object.fromEntries(REASONS.map((reason) => [reason, 0]));

      // Positive control: a valid token authenticates and counts nothing.
      const good = openClient(own.url, { token: mintToken({ userId: 'crowd', accountIds: [ACCOUNT] }, { expiresIn: 60 }) });
      await good.next('auth_success');
      expect(await failures()).toEqual(zero);
      const silent = openClient(own.url);
      const silentFailed = silent.next('auth_failed', AUTH_TIMEOUT_MS + 5000);
      silentFailed.catch(() => undefined); // awaited below; not an unhandled rejection if an earlier step fails

      expect((await openClient(own.url, { token: 'not-a-jwt' }).next('connect_error')).message).toBe('Invalid token');
      const expired = mintToken({ userId: 'late', accountIds: [ACCOUNT] }, { expiresIn: -60 });
      expect((await openClient(own.url, { token: expired }).next('connect_error')).message).toBe('Token expired');

      const mismatch = openClient(own.url);
      await mismatch.connected();
      mismatch.socket.emit('authenticate', { token: mintToken({ userId: 'u1' }, { expiresIn: 60 }), userId: 'u2', timestamp: Date.now() });
      expect((await mismatch.next('auth_failed')).reason).toBe('User ID mismatch');

      expect((await silentFailed).reason).toBe('Authentication timeout');

      const second = openClient(own.url, { token: mintToken({ userId: 'crowd', accountIds: [ACCOUNT] }, { expiresIn: 60 }) });
      await second.next('auth_success');
      const third = openClient(own.url, { token: mintToken({ userId: 'crowd', accountIds: [ACCOUNT] }, { expiresIn: 60 }) });
      expect((await third.next('connect_error')).message).toBe('Too many connections');

      expect(await failures()).toEqual(Object.fromEntries(REASONS.map((reason) => [reason, 1])));
    } finally {
      closeClients();
      await own.stop();
    }
  });
});

describe('instantchat_webhook_to_emit_seconds', () => {
  it('when a webhook is delivered, then the histogram has an observation; rejected webhooks add none', async () => {
    const srv = await startServer();
    try {
      const socket = await authedClient(srv.url, { userId: 'h', accountIds: [ACCOUNT] }, { subscribe: ['comments'] });
      expect((await postSigned(srv.url, JSON.stringify(flatEvent()), 'wrong-secret')).status).toBe(401);
      const afterRejected = await scrape(srv);
      expect(sample(afterRejected, 'instantchat_webhook_to_emit_seconds_count')).toBe(0);

      const event = flatEvent();
      const arrived = socket.next('webhook_event');
      expect((await postFlat(srv.url, event)).status).toBe(200);
      await arrived;
      expect(socket.deliveries().map((n) => n.id)).toEqual([event.id]);

      const text = await scrape(srv);
      expect(sample(text, 'instantchat_webhook_to_emit_seconds_count')).toBe(1);
      expect(sample(text, 'instantchat_webhook_to_emit_seconds_bucket', { le: '+Inf' })).toBe(1);
      const sum = sample(text, 'instantchat_webhook_to_emit_seconds_sum') ?? -1;
      expect(sum).toBeGreaterThan(0);
      expect(sum).toBeLessThan(1);
      expect(sample(text, 'instantchat_notifications_published_total', { event_type: 'comments' })).toBe(1);
    } finally {
      closeClients();
      await srv.stop();
    }
  });
});

describe('GET /metrics with METRICS_TOKEN set', () => {
  const TOKEN = 'metrics-scrape-token-0123456789';
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer({ METRICS_TOKEN: TOKEN });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it('when the bearer is the token, then it answers the metrics', async () => {
    const res = await request(srv.url).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
    expect(res.status).toBe(200);
    expect(typeOf(res.text, 'instantchat_webhooks_total')).toBe('counter');
  });

  it.each([
    ['no Authorization header', undefined],
    ['a wrong bearer', 'Bearer not-the-token'],
    ['the token with a suffix', `Bearer ${TOKEN}x`],
    ['the token without the Bearer scheme', TOKEN],
    ['Basic credentials', `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`],
  ])('when the request carries %s, then 401 unauthorized and no metrics', async (_case, authorization) => {
    const req = request(srv.url).get('/metrics');
    const res = await (authorization === undefined ? req : req.set('Authorization', authorization));
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'unauthorized', message: expect.any(String) });
    expect(res.text).not.toContain('instantchat_');
  });

  it('when the token is set, then the rest of the server stays open (health needs no bearer)', async () => {
    expect((await request(srv.url).get('/healthz')).status).toBe(200);
  });
});
