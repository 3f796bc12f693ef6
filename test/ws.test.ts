import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ACCOUNT_A, ACCOUNT_B, authedClient, closeClients } from './helpers/clients.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';
import { WsTestClient } from './helpers/ws-client.js';


describe('raw WebSocket endpoint /ws/notifications', () => {
  let srv: RunningServer;
  const clients: WsTestClient[] = [];
  const client = async (headers: Record<string, string> = {}) => {
    const c = new WsTestClient(srv.url, headers);
    clients.push(c);
    await c.opened();
    return c;
  };
  const authenticated = async (claims: Record<string, unknown>, eventTypes?: string[]) => {
    const c = await client();
    c.send({ type: 'authenticate', token: mintToken(claims, { expiresIn: 600 }), userId: claims.userId, timestamp: Date.now() });
    await c.next('auth_success');
    if (eventTypes !== undefined) {
      c.send({ type: 'subscribe', eventTypes });
      await c.next('subscription_confirmed');
    }
    return c;
  };

  beforeEach(async () => {
    srv = await startServer();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    closeClients();
    await srv.stop();
  });

  it('authenticates with the authenticate message and answers in JSON text frames with the event as type', async () => {
    const c = await client();
    c.send({ type: 'authenticate', token: mintToken({ userId: 'u1', accountIds: [ACCOUNT_A] }), userId: 'u1' });
    expect(await c.next('auth_success')).toEqual({
      type: 'auth_success',
      message: 'Authentication successful',
      userId: 'u1',
      accountIds: [ACCOUNT_A],
      heartbeatTimeoutMs: 60_000,
      timestamp: expect.any(Number),
    });
    c.send({ type: 'subscribe', eventTypes: ['comments', 'messages'] });
    expect(await c.next('subscription_confirmed')).toEqual({
      type: 'subscription_confirmed',
      eventTypes: ['comments', 'messages'],
      accountIds: [ACCOUNT_A],
      timestamp: expect.any(Number),
    });
    c.send({ type: 'test_connection' });
    expect(await c.next('connection_info')).toMatchObject({ status: 'connected', socketId: expect.any(String) });
    c.send({ type: 'heartbeat', timestamp: Date.now(), clientId: 'cli' });
    expect(await c.next('heartbeat_response')).toEqual({
      type: 'heartbeat_response',
      timestamp: expect.any(Number),
      serverTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
  });

  it('delivers a notification to raw WebSocket and Socket.IO clients alike, only where entitled', async () => {
    const wsA = await authenticated({ userId: 'a', accountIds: [ACCOUNT_A] }, ['comments']);
    const wsB = await authenticated({ userId: 'b', accountIds: [ACCOUNT_B] }, ['comments']);
    const io = await authedClient(srv.url, { userId: 'c', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
    const ioReceived = io.next('webhook_event');

    const forA = flatEvent({ accountId: ACCOUNT_A, content: 'for A' });
    expect((await postFlat(srv.url, forA)).status).toBe(200);
    const frame = await wsA.next('webhook_event');
    expect(frame).toEqual({ type: 'webhook_event', payload: expect.objectContaining({ id: forA.id }), timestamp: expect.any(Number) });
    expect((await ioReceived).id).toBe(forA.id);

    // B is not entitled to A: it gets only its own account's notification (the positive control).
    const forB = flatEvent({ accountId: ACCOUNT_B, content: 'for B' });
    await postFlat(srv.url, forB);
    const got = await wsB.next('webhook_event');
    expect((got.payload as { id: string }).id).toBe(forB.id);
    expect(wsB.frames.filter((f) => f.type === 'webhook_event')).toEqual([]);
  });

  it('answers invalid JSON and unknown types with invalid_payload and keeps the connection', async () => {
    const c = await client();
    c.send('{not json');
    expect(await c.next('error')).toMatchObject({ type: 'error', code: 'invalid_payload' });
    c.send({ type: 'no_such_event' });
    expect(await c.next('error')).toMatchObject({ code: 'invalid_payload', message: 'Unknown message type' });
    c.send('[1,2,3]');
    expect(await c.next('error')).toMatchObject({ code: 'invalid_payload' });
    c.send({ type: 'heartbeat' });
    expect(await c.next('heartbeat_response')).toMatchObject({ type: 'heartbeat_response' });
  });

  it('refuses events before authentication with not_authenticated', async () => {
    const c = await client();
    c.send({ type: 'subscribe', eventTypes: ['comments'] });
    expect(await c.next('error')).toMatchObject({ code: 'not_authenticated' });
  });

  it('on a failed authentication sends auth_failed, then closes with 1008', async () => {
    const c = await client();
    c.send({ type: 'authenticate', token: mintToken({ userId: 'u1' }, { secret: 'wrong-secret' }), userId: 'u1' });
    expect(await c.next('auth_failed')).toEqual({ type: 'auth_failed', reason: 'Invalid token', timestamp: expect.any(Number) });
    expect((await c.closedWithin()).code).toBe(1008);
  });

  it('closes with 1009 on a frame over 64 KiB', async () => {
    const c = await client();
    c.send({ type: 'heartbeat', pad: 'x'.repeat(70 * 1024) });
    expect((await c.closedWithin()).code).toBe(1009);
  });

  it('refuses an upgrade from an Origin not in CLIENT_URL, accepts an allowed one', async () => {
    const bad = new WsTestClient(srv.url, { Origin: 'https://evil.example' });
    clients.push(bad);
    await expect(bad.opened()).rejects.toThrow(/403/);
    const good = await client({ Origin: 'http://localhost:3000' });
    good.send({ type: 'heartbeat' });
    expect(await good.next('heartbeat_response')).toBeDefined();
  });

  it('tells every connection server_shutdown and closes it with 1001 when the server stops', async () => {
    const c = await authenticated({ userId: 'u1' });
    const stopping = srv.stop();
    expect(await c.next('server_shutdown')).toEqual({ type: 'server_shutdown', reason: 'Server shutting down', timestamp: expect.any(Number) });
    expect((await c.closedWithin()).code).toBe(1001);
    await stopping;
    srv = await startServer(); // afterEach stops it
  });
});

describe('raw WebSocket heartbeats', () => {
  it('closes a silent connection with 1000 "Heartbeat timeout" while an active one stays', async () => {
    // Wide margins for a loaded machine: the active client sends every 200 ms, ten times within the 2 s timeout.
    const TIMEOUT_MS = 2000;
    const srv = await startServer({ HEARTBEAT_TIMEOUT_MS: String(TIMEOUT_MS), HEARTBEAT_SWEEP_MS: '100', AUTH_TIMEOUT_MS: '60000' });
    const start = Date.now();
    const silent = new WsTestClient(srv.url);
    const active = new WsTestClient(srv.url);
    let beat: NodeJS.Timeout | undefined;
    try {
      await Promise.all([silent.opened(), active.opened()]);
      beat = setInterval(() => active.send({ type: 'heartbeat' }), 200);

      const closed = await silent.closedWithin(TIMEOUT_MS + 6000);

      expect(closed).toEqual({ code: 1000, reason: 'Heartbeat timeout' });
      expect(Date.now() - start).toBeGreaterThanOrEqual(TIMEOUT_MS);
      // The active client outlived the silent one's timeout and is still answered.
      active.frames.splice(0);
      active.send({ type: 'heartbeat' });
      expect(await active.next('heartbeat_response')).toBeDefined();
      expect(active.ws.readyState).toBe(active.ws.OPEN);
    } finally {
      clearInterval(beat);
      silent.close();
      active.close();
      await srv.stop();
    }
  });
});
