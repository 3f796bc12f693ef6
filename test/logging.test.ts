import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/logger.js';
import { createNotificationServer, type NotificationServer } from '../src/server/notification-server.js';
import { signatureHeader } from '../src/webhooks/signature.js';
import { ACCOUNT_A, closeClients, openClient, unauthenticatedClient } from './helpers/clients.js';
import { testConfig } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { flatEvent, postSigned } from './helpers/webhooks.js';
import { WsTestClient } from './helpers/ws-client.js';

/** A value that cannot appear in a log line by chance. */
const unique = (label: string): string => `${label}-${randomBytes(12).toString('hex')}`;

const JWT_SECRET = unique('jwt-secret');
const APP_SECRET = unique('app-secret');
const VERIFY_TOKEN = unique('verify-token');
const ADMIN_TOKEN = unique('admin-token');
const METRICS_TOKEN = unique('metrics-token');
/** Message text of the webhooks below: a client's words, never to be logged at info or above. */
const MARKER = unique('private-message-text');

/** pino's numeric levels: info is 30. */
const INFO = 30;

interface LogLine {
  readonly raw: string;
  readonly level: number;
  readonly msg?: string;
}

/** Everything the server logged, at debug and above, one parsed JSON line each. */
const lines: LogLine[] = [];
const destination = {
  write(chunk: string): void {
    for (const raw of chunk.split('\n').filter((l) => l.length > 0)) {
      const parsed = JSON.parse(raw) as { level: number; msg?: string };
      lines.push({ raw, level: parsed.level, ...(parsed.msg !== undefined && { msg: parsed.msg }) });
    }
  },
};

describe('logs: tokens, secrets and signatures are never logged, message text never at info', () => {
  let server: NotificationServer;
  let url: string;
  /** Credentials the server saw during the run, each of which must be absent from every line. */
  const secrets = new Map<string, string>([
    ['JWT_SECRET', JWT_SECRET],
    ['INSTAGRAM_APP_SECRET', APP_SECRET],
    ['INSTAGRAM_WEBHOOK_VERIFY_TOKEN', VERIFY_TOKEN],
    ['ADMIN_TOKEN', ADMIN_TOKEN],
    ['METRICS_TOKEN', METRICS_TOKEN],
  ]);
  /** Mints a token and remembers it, and its signature part alone. */
  const token = (label: string, claims: Record<string, unknown>, options: { expiresIn?: number; secret?: string } = {}) => {
    const value = mintToken(claims, { expiresIn: 3600, secret: JWT_SECRET, ...options });
    secrets.set(label, value);
    secrets.set(`${label} (signature part)`, value.split('.')[2] as string);
    return value;
  };
  /** Posts a signed body and remembers its signature's hex digest (whatever prefix a log line might give it). */
  const postSignedBody = (label: string, body: string) => {
    secrets.set(label, signatureHeader(body, APP_SECRET).slice('sha256='.length));
    return postSigned(url, body, APP_SECRET);
  };

  beforeAll(async () => {
    const config = testConfig({
      JWT_SECRET,
      INSTAGRAM_APP_SECRET: APP_SECRET,
      INSTAGRAM_WEBHOOK_VERIFY_TOKEN: VERIFY_TOKEN,
      ADMIN_TOKEN,
      METRICS_TOKEN,
      LOG_LEVEL: 'debug',
    });
    server = createNotificationServer(config, createLogger('debug', destination));
    const address = await server.listen();
    url = `http://127.0.0.1:${address.port}`;

    // Socket.IO: a handshake token, an `authenticate` token, and refused tokens on both paths.
    const reader = openClient(url, { token: token('handshake JWT', { userId: 'log-reader', accountIds: [ACCOUNT_A] }) });
    await reader.inbox.waitFor('auth_success', { failOn: ['connect_error'] });
    await reader.ask('subscribe', { eventTypes: ['comments', 'messages'] }, 'subscription_confirmed');
    const late = await unauthenticatedClient(url);
    await late.ask('authenticate', { token: token('authenticate JWT', { userId: 'log-late' }), userId: 'log-late' }, 'auth_success');
    const refused = openClient(url, { token: token('refused handshake JWT', { userId: 'x' }, { expiresIn: -60 }) });
    await refused.inbox.waitFor('connect_error', { failOn: ['connect'] });
    const wrong = await unauthenticatedClient(url);
    const wrongToken = token('wrong-secret JWT', { userId: 'log-wrong' }, { secret: unique('not-the-secret') });
    await wrong.ask('authenticate', { token: wrongToken, userId: 'log-wrong' }, 'auth_failed');

    // Raw WebSocket: an `authenticate` message with a token.
    const raw = new WsTestClient(url);
    try {
      await raw.opened();
      raw.send({ type: 'authenticate', token: token('raw WebSocket JWT', { userId: 'log-raw' }), userId: 'log-raw' });
      await raw.next('auth_success');
    } finally {
      raw.close();
    }

    // Webhooks carrying the marker: accepted (flat and Meta's envelope), unknown shape, not JSON, badly signed.
    const event = flatEvent({ accountId: ACCOUNT_A, comment: { text: MARKER } });
    expect((await postSignedBody('flat signature', JSON.stringify(event))).status).toBe(200);
    // Positive control of the marker checks: the text went through the server, to a socket.
    expect((await reader.waitForDelivery(event.id as string)).content).toBe(MARKER);
    const envelope = {
      object: 'instagram',
      entry: [{ id: ACCOUNT_A, time: 1767620100, messaging: [{ sender: { id: '1' }, recipient: { id: ACCOUNT_A }, timestamp: 1767620100000, message: { mid: unique('mid'), text: MARKER } }] }],
    };
    expect((await postSignedBody('envelope signature', JSON.stringify(envelope))).status).toBe(200);
    expect((await postSignedBody('unknown-shape signature', JSON.stringify({ object: 'page', note: MARKER }))).status).toBe(200);
    expect((await postSignedBody('not-JSON signature', `not json ${MARKER}`)).status).toBe(400);
    const forged = `sha256=${randomBytes(32).toString('hex')}`;
    secrets.set('forged signature', forged.slice('sha256='.length));
    const badlySigned = await request(url)
      .post('/api/webhooks/instagram')
      .set('Content-Type', 'application/json')
      .set('X-Hub-Signature-256', forged)
      .send(JSON.stringify(flatEvent({ comment: { text: MARKER } })));
    expect(badlySigned.status).toBe(401);
    const verification = await request(url)
      .get('/api/webhooks/instagram')
      .query({ 'hub.mode': 'subscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': 'challenge-1' });
    expect(verification.text).toBe('challenge-1');

    // Admin API and metrics with their bearers, and refused bearers.
    const admin = await request(url).get('/api/admin/clients').set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    expect(admin.status).toBe(200);
    const adminEvent = await request(url)
      .post('/api/admin/events')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send(flatEvent({ accountId: ACCOUNT_A, comment: { text: MARKER } }));
    expect(adminEvent.status).toBe(202);
    const wrongBearer = unique('wrong-bearer');
    secrets.set('refused bearer', wrongBearer);
    expect((await request(url).get('/api/admin/clients').set('Authorization', `Bearer ${wrongBearer}`)).status).toBe(401);
    expect((await request(url).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`)).status).toBe(200);
    expect((await request(url).get('/metrics').set('Authorization', `Bearer ${wrongBearer}`)).status).toBe(401);
    await reader.settle();
    closeClients();
  });

  afterAll(async () => {
    closeClients();
    await server?.stop();
  });

  it('logs what happened (positive control: the collector sees the server, at debug and above)', () => {
    const messages = lines.map((l) => l.msg);
    expect(messages).toContain('webhook received');
    expect(messages).toContain('authenticated');
    expect(lines.filter((l) => l.msg === 'authenticated').length).toBeGreaterThanOrEqual(3);
    expect(lines.some((l) => l.level < INFO)).toBe(true);
    expect(lines.some((l) => l.level >= INFO)).toBe(true);
  });

  it('no line at any level holds a token, a secret or a signature', () => {
    expect(secrets.size).toBeGreaterThanOrEqual(19);
    for (const [name, value] of secrets) {
      const leaks = lines.filter((l) => l.raw.includes(value)).map((l) => l.raw);
      expect(leaks, `${name} appears in the log`).toEqual([]);
    }
  });

  it('no line at info or above holds the text of a message', () => {
    const leaks = lines.filter((l) => l.level >= INFO && l.raw.includes(MARKER)).map((l) => l.raw);
    expect(leaks).toEqual([]);
  });
});
