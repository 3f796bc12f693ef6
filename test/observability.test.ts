import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/logger.js';
import { createNotificationServer, type NotificationServer } from '../src/server/notification-server.js';
import { ACCOUNT_A, authedClient, closeClients, unauthenticatedClient } from './helpers/clients.js';
import { testConfig } from './helpers/server.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';

interface LogLine {
  readonly level: number;
  readonly msg?: string;
  readonly reqId?: string;
  readonly clientAddress?: string;
  readonly [key: string]: unknown;
}

/** Everything the server logged (debug and above), parsed. */
const lines: LogLine[] = [];
const destination = {
  write(chunk: string): void {
    for (const raw of chunk.split('\n').filter((l) => l.length > 0)) lines.push(JSON.parse(raw) as LogLine);
  },
};

const metricValue = async (server: NotificationServer, name: string, labels: Record<string, string>) => {
  const text = await server.metrics.registry.metrics();
  const selector = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  if (line === undefined) throw new Error(`no ${name}{${selector}}`);
  return Number(line.split(' ').at(-1));
};

describe('observability: request ids, log lines an operator can join, metrics that move', () => {
  let server: NotificationServer;
  let url: string;

  beforeAll(async () => {
    const config = testConfig({ LOG_LEVEL: 'debug', TRUST_PROXY: 'loopback', ADMIN_TOKEN: 'admin-token' });
    server = createNotificationServer(config, createLogger('debug', destination));
    url = `http://127.0.0.1:${(await server.listen()).port}`;
  });
  afterAll(async () => {
    closeClients();
    await server.stop();
  });

  it('every response carries X-Request-Id: the request\'s own when well formed, else a new one', async () => {
    const own = await request(url).get('/healthz').set('X-Request-Id', 'lb-7f3a.42:x_y');
    expect(own.headers['x-request-id']).toBe('lb-7f3a.42:x_y');
    for (const bad of ['has space', 'x'.repeat(129), 'semi;colon']) {
      const res = await request(url).get('/healthz').set('X-Request-Id', bad);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    for (const res of [await request(url).get('/nowhere'), await request(url).post('/api/webhooks/instagram').send('{}')]) {
      expect([404, 401]).toContain(res.status);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    const a = await request(url).get('/healthz');
    const b = await request(url).get('/healthz');
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });

  it('every log line about a webhook carries its request id, and the request line the client address (TRUST_PROXY)', async () => {
    const event = flatEvent({ accountId: ACCOUNT_A });
    const res = await postFlat(url, event, { 'X-Request-Id': 'meta-delivery-1', 'X-Forwarded-For': '203.0.113.9' });
    expect(res.status).toBe(200);
    const mine = lines.filter((l) => l.reqId === 'meta-delivery-1');
    expect(mine.map((l) => l.msg)).toEqual(expect.arrayContaining(['webhook received', 'webhook notifications', 'request completed']));
    const completed = mine.find((l) => l.msg === 'request completed');
    expect(completed?.clientAddress).toBe('203.0.113.9');
    // At debug, the ids of what came in and what was published, never the text.
    const received = mine.find((l) => l.msg === 'webhook notifications');
    expect(received?.notifications).toEqual([{ id: event.id, accountId: ACCOUNT_A, eventType: 'comments' }]);
    expect(lines.some((l) => l.msg === 'notification published' && l.notificationId === event.id)).toBe(true);
    // Positive control of the filter: another request's lines carry another id.
    expect(lines.filter((l) => l.msg === 'webhook received' && l.reqId !== 'meta-delivery-1')).toEqual([]);
  });

  it('connection log lines carry the client address; a server-decided disconnect is logged once with its reason', async () => {
    const client = await unauthenticatedClient(url);
    client.socket.emit('subscribe', { eventTypes: ['comments'] });
    await client.inbox.waitFor('error');
    const connected = lines.filter((l) => l.msg === 'connected' && l.sessionId === client.socket.id);
    expect(connected).toHaveLength(1);
    expect(connected[0]?.clientAddress).toBe('127.0.0.1');
  });

  it('the metrics SPEC lists exist at zero and move: disconnects, rejected client events, HTTP durations by route, build info', async () => {
    const text = await server.metrics.registry.metrics();
    for (const name of [
      'instantchat_disconnects_total{transport="websocket",reason="slow_consumer"} 0',
      'instantchat_client_events_rejected_total{code="forbidden_account"} 0',
      'instantchat_auth_failures_total{reason="session_revoked"} 0',
      'instantchat_auth_failures_total{reason="unavailable"} 0',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/instantchat_build_info\{version="\d+\.\d+\.\d+",node="v\d+[^"]*"\} 1/);
    // Single instance: no Redis gauge.
    expect(text).not.toContain('instantchat_redis_up');

    const rejectedBefore = await metricValue(server, 'instantchat_client_events_rejected_total', { code: 'not_authenticated' });
    const leftBefore = await metricValue(server, 'instantchat_disconnects_total', { transport: 'socketio', reason: 'client' });
    const client = await unauthenticatedClient(url);
    await client.ask('get_subscriptions', {}, 'error');
    const subscriber = await authedClient(url, { userId: 'metrics-user', accountIds: [ACCOUNT_A] });
    subscriber.socket.disconnect();
    await client.socket.disconnect();
    const deadline = Date.now() + 3000;
    while ((await metricValue(server, 'instantchat_disconnects_total', { transport: 'socketio', reason: 'client' })) < leftBefore + 2) {
      if (Date.now() > deadline) throw new Error('the disconnects were not counted');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await metricValue(server, 'instantchat_client_events_rejected_total', { code: 'not_authenticated' })).toBe(rejectedBefore + 1);

    await postFlat(url, flatEvent({ accountId: ACCOUNT_A }));
    await request(url).get('/nowhere');
    const after = await server.metrics.registry.metrics();
    expect(after).toMatch(/instantchat_http_request_duration_seconds_count\{method="POST",route="\/api\/webhooks\/instagram",status="200"\} [1-9]/);
    expect(after).toMatch(/instantchat_http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} [1-9]/);
    // Never the raw path: no label carries what a client typed.
    expect(after).not.toContain('nowhere');
  });
});
