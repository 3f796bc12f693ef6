import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { authedClient, closeClients, openClient, type TestClient } from './helpers/clients.js';
import { startServer, TEST_ADMIN_TOKEN as ADMIN_TOKEN, type RunningServer } from './helpers/server.js';
import { flatEvent } from './helpers/webhooks.js';

const A1 = '17841400000000001';
const A2 = '17841400000000002';
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const admin = (srv: RunningServer) => ({
  clients: (token = ADMIN_TOKEN) => request(srv.url).get('/api/admin/clients').set('Authorization', `Bearer ${token}`),
  publish: (body: unknown, token = ADMIN_TOKEN) =>
    request(srv.url)
      .post('/api/admin/events')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/json')
      .send(typeof body === 'string' ? body : JSON.stringify(body)),
});

/** Resolves once the server has handled the disconnect of `socket`. */
function serverSideDisconnect(srv: RunningServer, socket: TestClient): Promise<void> {
  const serverSocket = srv.server.io.of('/').sockets.get(socket.id as string);
  if (serverSocket === undefined) return Promise.resolve();
  return new Promise((resolve) => serverSocket.once('disconnect', () => resolve()));
}

describe('the admin API while ADMIN_TOKEN is unset', () => {
  it('when ADMIN_TOKEN is unset, then /api/admin does not exist (404), even with a bearer; when set, it answers', async () => {
    const [off, on] = await Promise.all([startServer(), startServer({ ADMIN_TOKEN })]);
    try {
      for (const res of [
        await admin(off).clients(),
        await request(off.url).get('/api/admin/clients'),
        await admin(off).publish(flatEvent()),
      ]) {
        expect(res.status).toBe(404);
        expect(res.body.error).toBe('not_found');
      }
      expect((await admin(on).clients()).status).toBe(200);
    } finally {
      await Promise.all([off.stop(), on.stop()]);
    }
  });
});

describe('the admin API behind ADMIN_TOKEN', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer({ ADMIN_TOKEN });
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await srv.stop();
  });

  it.each([
    ['no Authorization header', undefined],
    ['a wrong bearer', 'Bearer wrong-token'],
    ['the token with a suffix', `Bearer ${ADMIN_TOKEN}x`],
    ['the token without the Bearer scheme', ADMIN_TOKEN],
  ])('when a request carries %s, then both endpoints answer 401 unauthorized', async (_case, authorization) => {
    const get = request(srv.url).get('/api/admin/clients');
    const post = request(srv.url).post('/api/admin/events').set('Content-Type', 'application/json');
    const [listed, published] = await Promise.all([
      authorization === undefined ? get : get.set('Authorization', authorization),
      (authorization === undefined ? post : post.set('Authorization', authorization)).send(JSON.stringify(flatEvent())),
    ]);
    for (const res of [listed, published]) {
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'unauthorized', message: expect.any(String) });
    }
  });

  it('when the bearer is wrong, then POST /events publishes nothing; with the right one, the same event is delivered', async () => {
    const socket = await authedClient(srv.url, { userId: 'watcher', accountIds: [A1] }, { subscribe: ['comments'] });
    const refused = flatEvent({ comment: { text: 'must not arrive' } });
    expect((await admin(srv).publish(refused, 'wrong-token')).status).toBe(401);

    const accepted = flatEvent({ comment: { text: 'must arrive' } });
    const arrived = socket.next('webhook_event');
    expect((await admin(srv).publish(accepted)).status).toBe(202);
    await arrived;
    expect(socket.deliveries().map((n) => n.content)).toEqual(['must arrive']);
  });

  it('when clients are connected, then GET /clients lists one entry per connection with SPEC fields', async () => {
    const first = await authedClient(srv.url, { userId: 'alice', accountIds: [A1, A2] }, { subscribe: ['comments', 'messages'] });
    const second = await authedClient(srv.url, { userId: 'alice', accountIds: [A1, A2] }, { subscribe: ['mentions'], accountIds: [A1] });
    const anonymous = openClient(srv.url);
    await anonymous.connected();

    const res = await admin(srv).clients();
    expect(res.status).toBe(200);
    const clients = res.body.clients as Record<string, unknown>[];
    const entry = (socket: TestClient) => clients.find((c) => c.socketId === socket.id);

    expect(entry(first)).toEqual({
      userId: 'alice',
      socketId: first.id,
      transport: 'socketio',
      subscriptions: ['comments', 'messages'],
      accountIds: [A1, A2],
      connectedAt: expect.stringMatching(ISO),
      lastActivityAt: expect.stringMatching(ISO),
    });
    expect(entry(second)).toMatchObject({ userId: 'alice', subscriptions: ['mentions'], accountIds: [A1] });
    expect(entry(anonymous)).toMatchObject({ userId: null, transport: 'socketio', subscriptions: [], accountIds: [] });
    const times = entry(first) as { connectedAt: string; lastActivityAt: string };
    expect(Date.parse(times.lastActivityAt)).toBeGreaterThanOrEqual(Date.parse(times.connectedAt));

    // A disconnected socket leaves the list; the user's other connection stays.
    const gone = serverSideDisconnect(srv, first);
    first.close();
    await gone;
    const after = (await admin(srv).clients()).body.clients as Record<string, unknown>[];
    expect(after.some((c) => c.socketId === first.id)).toBe(false);
    expect(after.some((c) => c.socketId === second.id)).toBe(true);
  });

  it('when a client sends an event, then its lastActivityAt moves forward', async () => {
    const socket = await authedClient(srv.url, { userId: 'active', accountIds: [A1] }, { subscribe: ['comments'] });
    const activity = async () =>
      ((await admin(srv).clients()).body.clients as { socketId: string; lastActivityAt: string }[]).find(
        (c) => c.socketId === socket.id,
      )?.lastActivityAt;
    const before = await activity();
    await new Promise((resolve) => setTimeout(resolve, 5)); // so that the clock moves at least one millisecond
    await socket.request('heartbeat', { timestamp: Date.now(), clientId: 'c1' });
    expect(Date.parse((await activity()) as string)).toBeGreaterThan(Date.parse(before as string));
  });

  it('when POST /events gets a flat notification, then 202 {id} and it reaches the entitled subscriber only', async () => {
    const entitled = await authedClient(srv.url, { userId: 'u-a1', accountIds: [A1] }, { subscribe: ['messages'] });
    const other = await authedClient(srv.url, { userId: 'u-a2', accountIds: [A2] }, { subscribe: ['messages'] });

    const event = {
      id: `admin_evt_${Date.now()}`,
      eventType: 'messages',
      accountId: A1,
      sender: { id: '232323232', username: 'test' },
      message: { text: 'Hello from the admin API' },
      timestamp: '2024-01-01T12:00:00.000Z',
    };
    const arrived = entitled.next('webhook_event');
    const res = await admin(srv).publish(event);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: event.id });
    expect(await arrived).toEqual({
      id: event.id,
      eventType: 'messages',
      accountId: A1,
      sender: { id: '232323232', username: 'test' },
      content: 'Hello from the admin API',
      timestamp: '2024-01-01T12:00:00.000Z',
    });

    // Positive control for the other socket: an event for its own account does arrive, after the first.
    const own = other.next('webhook_event');
    expect((await admin(srv).publish({ ...event, id: `${event.id}_a2`, accountId: A2 })).status).toBe(202);
    await own;
    expect(other.deliveries().map((n) => n.id)).toEqual([`${event.id}_a2`]);
    expect(entitled.deliveries().map((n) => n.id)).toEqual([event.id]);
  });

  it('when the same id is published twice, then it is delivered once', async () => {
    const socket = await authedClient(srv.url, { userId: 'dup', accountIds: [A1] }, { subscribe: ['comments'] });
    const event = flatEvent();
    expect((await admin(srv).publish(event)).status).toBe(202);
    const again = await admin(srv).publish(event);
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(event.id);
    const next = flatEvent();
    const arrived = socket.next('webhook_event');
    await admin(srv).publish(next);
    await arrived;
    expect(socket.deliveries().map((n) => n.id)).toEqual([event.id, next.id]);
  });

  it.each([
    ['no accountId', flatEvent({ accountId: undefined })],
    ['no id', flatEvent({ id: undefined })],
    ['an unknown eventType', flatEvent({ eventType: 'likes' })],
    ['a bad timestamp', flatEvent({ timestamp: 'yesterday' })],
    ['Meta envelope instead of the flat shape', { object: 'instagram', entry: [{ id: A1, changes: [] }] }],
    ['a JSON array', [flatEvent()]],
    ['a body that is not JSON', '{"id": "x",'],
    ['an empty body', ''],
  ])('when POST /events gets %s, then 400 invalid_body and nothing is delivered', async (_case, body) => {
    const socket = await authedClient(srv.url, { userId: 'strict', accountIds: ['*'] }, { subscribe: ['comments'] });
    const res = await admin(srv).publish(body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_body', message: expect.any(String) });

    // Positive control: a valid event right after is delivered, and is the only one.
    const valid = flatEvent();
    const arrived = socket.next('webhook_event');
    expect((await admin(srv).publish(valid)).status).toBe(202);
    await arrived;
    expect(socket.deliveries().map((n) => n.id)).toEqual([valid.id]);
  });
});
