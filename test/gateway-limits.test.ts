import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_A, ACCOUNT_B, authedClient, closeClients, eventually, expectServerTimestamp, openClient, publish, type TestClient, unauthenticatedClient } from './helpers/clients.js';
import type { ServerMessages } from '../src/protocol/server-messages.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';

const HOUR = 3600;
const authenticate = (userId: string, accountIds: string[] = [ACCOUNT_A]) => ({
  token: mintToken({ userId, accountIds }, { expiresIn: HOUR }),
  userId,
  timestamp: Date.now(),
});

/** Runs a server for the enclosing describe block. */
function serverFor(overrides: Record<string, string>): () => RunningServer {
  let srv: RunningServer | undefined;
  beforeAll(async () => {
    srv = await startServer(overrides);
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    closeClients();
    await srv?.stop();
  });
  return () => srv as RunningServer;
}

describe('Socket.IO gateway: limits', () => {
  describe('MAX_CONNECTIONS_PER_USER', () => {
    const srv = serverFor({ MAX_CONNECTIONS_PER_USER: '2' });

    it('one connection more is refused with "Too many connections" on either path, and the others are kept', async () => {
      const { url } = srv();
      const first = await authedClient(url, { userId: 'limited', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
      const second = await authedClient(url, { userId: 'limited', accountIds: [ACCOUNT_A] });

      const byHandshake = openClient(url, { token: mintToken({ userId: 'limited' }, { expiresIn: HOUR }) });
      const refused = await byHandshake.inbox.waitFor('connect_error', { failOn: ['connect'] });
      const byEvent = await unauthenticatedClient(url);
      const failed = await byEvent.ask('authenticate', authenticate('limited'), 'auth_failed');

      expect(refused.message).toBe('Too many connections');
      expect(failed.reason).toBe('Too many connections');
      expect(await byEvent.disconnected()).toBe('io server disconnect');
      const otherUser = await authedClient(url, { userId: 'not-limited' });
      expect(otherUser.socket.connected).toBe(true);
      const event = await publish(url, { accountId: ACCOUNT_A });
      await first.waitForDelivery(event.id);
      await second.settle();
      expect(srv().server.hub.registry.countForUser('limited')).toBe(2);
    });

    it('a socket at the limit can re-authenticate', async () => {
      const { url } = srv();
      const first = await authedClient(url, { userId: 'refresh-at-limit', accountIds: [ACCOUNT_A] });
      await authedClient(url, { userId: 'refresh-at-limit', accountIds: [ACCOUNT_A] });

      const success = await first.ask('authenticate', authenticate('refresh-at-limit', [ACCOUNT_B]), 'auth_success');

      expect(success.accountIds).toEqual([ACCOUNT_B]);
      expect(first.socket.connected).toBe(true);
    });

    it('closing a connection frees its place', async () => {
      const { url, server } = srv();
      const first = await authedClient(url, { userId: 'frees', accountIds: [ACCOUNT_A] });
      await authedClient(url, { userId: 'frees', accountIds: [ACCOUNT_A] });

      first.close();
      await eventually(() => server.hub.registry.countForUser('frees') === 1, 3000, 'the closed socket to leave');
      const third = await authedClient(url, { userId: 'frees', accountIds: [ACCOUNT_A] });

      expect(third.socket.connected).toBe(true);
    });
  });

  describe('heartbeat timeout', () => {
    // Wide margins for a loaded machine: a live socket sends every 200 ms, ten times within the 2 s timeout.
    const TIMEOUT_MS = 2000;
    const PULSE_MS = 200;
    const srv = serverFor({ HEARTBEAT_TIMEOUT_MS: String(TIMEOUT_MS), HEARTBEAT_SWEEP_MS: '100' });

    it('a silent socket is disconnected, while sockets that send events stay', async () => {
      const { url } = srv();
      const silent = await authedClient(url, { userId: 'silent', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
      const silentAnonymous = await unauthenticatedClient(url);
      const beating = await authedClient(url, { userId: 'beating', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
      const chatty = await authedClient(url, { userId: 'chatty', accountIds: [ACCOUNT_A] });
      // Any client event counts as activity: one socket sends the guide's heartbeat, the other only test_connection.
      const pulse = setInterval(() => {
        beating.socket.emit('heartbeat', { timestamp: Date.now(), clientId: 'beating' });
        chatty.socket.emit('test_connection', {});
      }, PULSE_MS);
      try {
        expect(await silent.disconnected(TIMEOUT_MS + 6000)).toBe('io server disconnect');
        expect(await silentAnonymous.disconnected(TIMEOUT_MS + 6000)).toBe('io server disconnect');
        // More than one more timeout goes by (15 pulses: about 3 s) for the live sockets.
        const from = beating.inbox.size;
        await beating.inbox.waitForCount('heartbeat_response', 15, { from, timeoutMs: 15_000 });

        expect(beating.socket.connected).toBe(true);
        expect(chatty.socket.connected).toBe(true);
        const event = await publish(url, { accountId: ACCOUNT_A });
        await beating.waitForDelivery(event.id);
      } finally {
        clearInterval(pulse);
      }
    });
  });

  describe("Socket.IO's own ping/pong is not activity", () => {
    const TIMEOUT_MS = 1500;
    const srv = serverFor({ HEARTBEAT_TIMEOUT_MS: String(TIMEOUT_MS), HEARTBEAT_SWEEP_MS: '100' });

    it('a socket that only answers Engine.IO pings is disconnected, while one sending heartbeats stays', async () => {
      const { url, server } = srv();
      // Engine.IO pings every 25 s by default, and no variable sets it: make them flow in this test, in-process, so
      // that the silent socket answers several pongs before the timeout.
      server.io.engine.opts.pingInterval = 200;
      const silent = await authedClient(url, { userId: 'pong-only', accountIds: [ACCOUNT_A] });
      const beating = await authedClient(url, { userId: 'pong-and-heartbeat', accountIds: [ACCOUNT_A] });
      let pings = 0;
      silent.socket.io.engine.on('ping', () => pings++);
      const pulse = setInterval(() => beating.socket.emit('heartbeat', { timestamp: Date.now(), clientId: 'beating' }), 250);
      try {
        expect(await silent.disconnected(TIMEOUT_MS + 6000)).toBe('io server disconnect');

        // Pings and pongs went on until the end, the engine connection was alive: only the heartbeat timeout ended it.
        expect(pings).toBeGreaterThanOrEqual(3);
        expect(silent.inbox.all('auth_failed')).toEqual([]);
        await beating.settle();
        expect(beating.socket.connected).toBe(true);
      } finally {
        clearInterval(pulse);
      }
    });
  });

  describe('AUTH_TIMEOUT_MS', () => {
    // Wide enough for the punctual sockets below to authenticate in time on a loaded machine.
    const AUTH_TIMEOUT_MS = 2500;
    const srv = serverFor({ AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS) });

    it('a socket not authenticated in time gets auth_failed "Authentication timeout", then is disconnected', async () => {
      const { url } = srv();
      // Opened first, so their deadline has passed by the time the late socket's has.
      const byEvent = await unauthenticatedClient(url);
      await byEvent.ask('authenticate', authenticate('punctual'), 'auth_success');
      const byHandshake = await authedClient(url, { userId: 'handshake', accountIds: [ACCOUNT_A] });
      const late = await unauthenticatedClient(url);
      // A heartbeat is allowed before authentication but does not authenticate.
      await late.ask('heartbeat', { timestamp: Date.now(), clientId: 'late' }, 'heartbeat_response');
      const before = Date.now();

      const failed = await late.inbox.waitFor('auth_failed', { timeoutMs: AUTH_TIMEOUT_MS + 5000 });

      expect(failed).toEqual({ reason: 'Authentication timeout', timestamp: expect.any(Number) });
      expectServerTimestamp(failed.timestamp, before);
      expect(await late.disconnected()).toBe('io server disconnect');
      for (const client of [byEvent, byHandshake]) {
        await client.settle();
        expect(client.socket.connected).toBe(true);
        expect(client.inbox.all('auth_failed')).toEqual([]);
      }
    });
  });

  describe('SOCKET_EVENT_RATE_LIMIT', () => {
    const srv = serverFor({ SOCKET_EVENT_RATE_LIMIT: '5' });

    /** Asks until the budget is back (the window is one second), a few attempts at most. */
    async function heartbeatOnceAllowed(client: TestClient): Promise<unknown> {
      for (let attempt = 0; attempt < 8; attempt++) {
        const answer = (await client.request('heartbeat', { timestamp: Date.now() })) as { code?: string };
        if (answer.code !== 'rate_limited') return answer;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      throw new Error('the event budget never came back');
    }

    it('past the budget, events are answered rate_limited (ack and error event) and the socket stays', async () => {
      const client = await authedClient(srv().url, { userId: 'burst', accountIds: [ACCOUNT_A] });

      const answers = (await Promise.all(
        Array.from({ length: 8 }, (_, i) => client.request('heartbeat', { timestamp: i })),
      )) as { code?: string }[];

      const limited = answers.filter((a) => a.code === 'rate_limited');
      expect(limited).toHaveLength(3);
      expect(limited[0]).toEqual({ code: 'rate_limited', message: expect.any(String), timestamp: expect.any(Number) });
      expect(client.inbox.all('error').filter((e) => e.code === 'rate_limited')).toHaveLength(3);
      expect(client.inbox.all('heartbeat_response')).toHaveLength(5);
      expect(await heartbeatOnceAllowed(client)).toMatchObject({ serverTime: expect.any(String) });
      expect(client.socket.connected).toBe(true);
    });

    it('sustained flooding disconnects the flooding socket only', async () => {
      const { url } = srv();
      const flooder = await authedClient(url, { userId: 'flooder', accountIds: [ACCOUNT_A] });
      const bystander = await authedClient(url, { userId: 'bystander', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });

      for (let i = 0; i < 100; i++) flooder.socket.emit('heartbeat', { timestamp: i });

      expect(await flooder.disconnected()).toBe('io server disconnect');
      // Without acks, one rate_limited notice per second is enough; the disconnect is announced with one more.
      expect(flooder.inbox.all('error').map((e) => e.code)).toEqual(['rate_limited', 'rate_limited']);
      expect(flooder.inbox.all('error').at(-1)?.message).toMatch(/disconnecting/);
      expect(flooder.inbox.all('heartbeat_response')).toHaveLength(5);
      const event = await publish(url, { accountId: ACCOUNT_A });
      await bystander.waitForDelivery(event.id);
      expect(bystander.socket.connected).toBe(true);
    });
  });

  describe('malformed input', () => {
    // Lifted so that every bad payload reaches validation instead of the rate limiter.
    const srv = serverFor({ SOCKET_EVENT_RATE_LIMIT: '100000' });

    const nested = (depth: number): unknown => {
      let value: unknown = { eventTypes: ['comments'] };
      for (let i = 0; i < depth; i++) value = { eventTypes: value };
      return value;
    };
    /** Payloads that are no valid subscribe, unsubscribe or authenticate: each must be answered, never crash. */
    const garbage: [string, unknown][] = [
      ['null', null],
      ['a number', 42],
      ['a boolean', true],
      ['a string', 'comments'],
      ['an empty string', ''],
      ['an array', ['comments']],
      ['an empty object', {}],
      ['null eventTypes', { eventTypes: null }],
      ['numeric eventTypes', { eventTypes: [1, 2, 3] }],
      ['null items', { eventTypes: [null], accountIds: [null] }],
      ['an object as eventTypes', { eventTypes: { 0: 'comments', length: 1 } }],
      ['a very long type', { eventTypes: ['x'.repeat(20_000)] }],
      ['a huge eventTypes array', { eventTypes: Array.from({ length: 5000 }, () => 'comments') }],
      ['a huge accountIds array', { eventTypes: ['not_a_type'], accountIds: Array.from({ length: 2000 }, () => ACCOUNT_A) }],
      ['garbage types', { eventTypes: ['<script>', '../../etc/passwd', '💥', ' comments'] }],
      ['a deep object', nested(1000)],
      ['a prototype key', JSON.parse('{"eventTypes":"x","__proto__":{"accountIds":["*"]}}')],
      ['binary data', Buffer.from('not json at all')],
      ['mistyped history fields', { since: { $gt: '' }, limit: 1e308, eventTypes: 'all' }],
    ];
    const events = ['subscribe', 'unsubscribe', 'get_subscriptions', 'test_connection', 'heartbeat', 'get_history'];
    const unknownEvents = ['no_such_event', 'constructor', '__proto__', 'toString', 'x'.repeat(5000)];

    /** Payloads the events with an optional payload (`get_subscriptions`, `test_connection`, `heartbeat`) refuse. */
    const NOT_AN_OBJECT = new Set(['a number', 'a boolean', 'a string', 'an empty string', 'an array']);
    type Outcome = 'answered' | 'invalid_payload' | 'invalid_event_type';

    /**
     * What each event must answer to each garbage payload: its own answer where the payload is acceptable (unknown
     * keys are tolerated), else the error code. A Buffer arrives as an object with no known field: either is fine.
     */
    function expectedOutcomes(event: string, name: string): Outcome[] {
      if (unknownEvents.includes(event)) return ['invalid_payload'];
      const eventTypeCheck = name === 'garbage types' || (event === 'unsubscribe' && name === 'a huge accountIds array');
      switch (event) {
        case 'subscribe':
        case 'unsubscribe':
          return [eventTypeCheck ? 'invalid_event_type' : 'invalid_payload'];
        case 'get_history':
          if (name === 'binary data') return ['answered', 'invalid_payload'];
          if (name === 'null' || name === 'an empty object') return ['answered'];
          return [name === 'garbage types' ? 'invalid_event_type' : 'invalid_payload'];
        default:
          if (name === 'binary data') return ['answered', 'invalid_payload'];
          return [NOT_AN_OBJECT.has(name) ? 'invalid_payload' : 'answered'];
      }
    }

    const ANSWER_EVENT: Record<string, keyof ServerMessages> = {
      get_subscriptions: 'connection_info',
      test_connection: 'connection_info',
      heartbeat: 'heartbeat_response',
      get_history: 'history',
    };

    /** The answer a socket subscribed to comments of ACCOUNT_A must get from `event` when the payload is fine. */
    const expectedAnswer = (event: string, socketId: string): Record<string, unknown> => {
      const timestamp = expect.any(Number);
      const serverTime = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const info = { status: 'connected', subscriptions: ['comments'], accountIds: [ACCOUNT_A], timestamp };
      switch (event) {
        case 'get_subscriptions':
          return info;
        case 'test_connection':
          return { ...info, socketId, serverTime };
        case 'heartbeat':
          return { timestamp, serverTime };
        default:
          return { events: expect.any(Array), complete: true, timestamp };
      }
    };

    /** Emits with an ack; returns the ack's payload and the answer events emitted beside it (notifications aside). */
    async function answerTo(client: TestClient, event: string, payload: unknown) {
      const from = client.inbox.size;
      const ack = (await client.request(event, payload)) as Record<string, unknown>;
      const names = client.inbox.names(from).filter((n) => n !== 'webhook_event');
      return { ack, names, emitted: names[0] === undefined ? undefined : client.inbox.all(names[0], from)[0] };
    }

    it('a flood of malformed payloads gets, for each, the right answer or error, while another client keeps receiving', async () => {
      const { url } = srv();
      const flooder = await authedClient(url, { userId: 'garbage-flooder', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
      const bystander = await authedClient(url, { userId: 'garbage-bystander', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });

      const answers: { event: string; name: string; answer: Awaited<ReturnType<typeof answerTo>> }[] = [];
      let midway: Promise<unknown> | undefined;
      for (const event of [...events, ...unknownEvents]) {
        for (const [name, payload] of garbage) {
          answers.push({ event, name, answer: await answerTo(flooder, event, payload) });
        }
        midway ??= publish(url, { accountId: ACCOUNT_A });
      }
      const during = (await midway) as { id: string };
      const after = await publish(url, { accountId: ACCOUNT_A });
      await bystander.waitForDelivery(after.id);

      for (const { event, name, answer } of answers) {
        const what = `${event.slice(0, 40)} with ${name}`;
        const { ack, names, emitted } = answer;
        const outcome: Outcome = names[0] === 'error' ? (ack.code as Outcome) : 'answered';
        expect(expectedOutcomes(event, name), `${what}: got ${JSON.stringify(names)} ${JSON.stringify(ack)}`).toContain(outcome);
        // One answer event, with the payload the ack received.
        expect(names, what).toHaveLength(1);
        expect(emitted, what).toEqual(ack);
        if (outcome === 'answered') {
          expect(names[0], what).toBe(ANSWER_EVENT[event]);
          expect(ack, what).toEqual(expectedAnswer(event, flooder.id));
        } else {
          expect(ack, what).toEqual({ code: outcome, message: expect.any(String), timestamp: expect.any(Number) });
        }
      }
      expect(bystander.deliveredIds()).toEqual([during.id, after.id]);
      expect(flooder.socket.connected).toBe(true);
      const info = await flooder.ask('get_subscriptions', {}, 'connection_info');
      expect(info).toMatchObject({ subscriptions: ['comments'], accountIds: [ACCOUNT_A] });
      expect((await request(url).get('/healthz')).status).toBe(200);
    });

    it('before authentication, malformed payloads are answered not_authenticated', async () => {
      const { url } = srv();
      const anonymous = await unauthenticatedClient(url);

      for (const event of ['subscribe', 'get_history', ...unknownEvents]) {
        for (const [, payload] of garbage.slice(0, 8)) {
          expect(await anonymous.request(event, payload)).toMatchObject({ code: 'not_authenticated' });
        }
      }

      await anonymous.ask('authenticate', authenticate('late-but-fine'), 'auth_success');
      expect(anonymous.socket.connected).toBe(true);
    });

    it('events without a payload, with extra arguments, or without an ack are handled', async () => {
      const { url } = srv();
      const client = await authedClient(url, { userId: 'odd-calls', accountIds: [ACCOUNT_A] });

      client.emitRaw('subscribe');
      client.emitRaw('subscribe', { eventTypes: ['comments'] }, 'extra', 42);
      client.emitRaw('get_subscriptions');
      const noPayloadAck = await new Promise((resolve) => client.emitRaw('test_connection', resolve));

      expect(noPayloadAck).toMatchObject({ status: 'connected', socketId: client.id });
      expect(client.inbox.find('error')).toMatchObject({ code: 'invalid_payload' });
      expect(client.inbox.find('subscription_confirmed')).toMatchObject({ eventTypes: ['comments'] });
      expect(client.inbox.find('connection_info')).toMatchObject({ subscriptions: ['comments'] });
    });

    it('protocol-level garbage and oversized frames close only the offending connection', async () => {
      const { url } = srv();
      const bystander = await authedClient(url, { userId: 'frame-bystander', accountIds: [ACCOUNT_A] }, { subscribe: ['comments'] });
      // Socket.IO packets written straight into the Engine.IO connection, past socket.io-client's encoder: what a
      // hostile client can send ("2" is an EVENT packet). Socket.IO closes a connection whose packet does not decode.
      const frames: [string, string, 'closed' | 'answered'][] = [
        ['a control', '2["heartbeat",{}]', 'answered'],
        ['not JSON', '2not json', 'closed'],
        ['an empty event', '2[]', 'closed'],
        ['an object instead of an event', '2{"a":1}', 'closed'],
        ['an unknown packet type', '9', 'closed'],
        ['a reserved event name', '2["disconnect"]', 'closed'],
        ['a numeric event name', '2[7,{}]', 'answered'],
        ['a 15000-deep object', `2["subscribe",${'{"a":'.repeat(15_000)}1${'}'.repeat(15_000)}]`, 'answered'],
        ['a frame over maxHttpBufferSize (100 KB)', `2["heartbeat","${'x'.repeat(150_000)}"]`, 'closed'],
      ];

      for (const [name, frame, expected] of frames) {
        const offender = await authedClient(url, { userId: 'frame-offender', accountIds: [ACCOUNT_A] });
        offender.socket.io.engine.send(frame);
        const outcome = await Promise.race([
          offender.disconnected().then(() => 'closed'),
          offender.settle().then(() => 'answered'),
        ]);
        expect(outcome, name).toBe(expected);
        if (outcome === 'answered' && name !== 'a control') {
          expect(offender.inbox.find('error'), name).toMatchObject({ code: 'invalid_payload' });
        }
        offender.close();
      }

      const event = await publish(url, { accountId: ACCOUNT_A });
      await bystander.waitForDelivery(event.id);
      expect(bystander.socket.connected).toBe(true);
      expect((await request(url).get('/healthz')).status).toBe(200);
    });
  });

  describe('CLIENT_URL and the Origin of handshakes', () => {
    const ALLOWED = 'http://app.example.com';
    const srv = serverFor({ CLIENT_URL: `${ALLOWED},http://admin.example.com` });
    const token = () => mintToken({ userId: 'origin-user', accountIds: [ACCOUNT_A] }, { expiresIn: HOUR });

    it('a websocket handshake from a foreign Origin is refused, while an allowed one and none are accepted', async () => {
      const { url } = srv();
      const foreign = openClient(url, { token: token(), extraHeaders: { Origin: 'http://evil.example.com' } });
      const allowed = openClient(url, { token: token(), extraHeaders: { Origin: ALLOWED } });
      const own = openClient(url, { token: token(), extraHeaders: { Origin: url } });
      const noOrigin = openClient(url, { token: token() });

      await foreign.inbox.waitFor('connect_error', { failOn: ['connect'] });
      for (const client of [allowed, own, noOrigin]) {
        await client.inbox.waitFor('auth_success', { failOn: ['connect_error'] });
      }

      expect(foreign.socket.connected).toBe(false);
      expect(foreign.inbox.all('auth_success')).toEqual([]);
    });

    it('a polling handshake from a foreign Origin is answered 403, an allowed one gets CORS headers', async () => {
      const { url } = srv();
      const handshake = () => request(url).get('/socket.io/?EIO=4&transport=polling');

      const foreign = await handshake().set('Origin', 'http://evil.example.com');
      const allowed = await handshake().set('Origin', ALLOWED);
      const noOrigin = await handshake();

      expect(foreign.status).toBe(403);
      expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
      expect(allowed.status).toBe(200);
      expect(allowed.headers['access-control-allow-origin']).toBe(ALLOWED);
      expect(allowed.text).toMatch(/^0\{"sid":/);
      expect(noOrigin.status).toBe(200);
      expect(noOrigin.text).toMatch(/^0\{"sid":/);
    });
  });

  describe('the session registry', () => {
    const srv = serverFor({ MAX_CONNECTIONS_PER_USER: '100' });

    it('is back to empty after many connect/disconnect cycles, whoever closed the connections', async () => {
      const { url, server } = srv();
      const { registry } = server.hub;
      const namespace = server.io.of('/');

      for (let round = 0; round < 8; round++) {
        const clients = await Promise.all([
          ...Array.from({ length: 4 }, (_, i) =>
            authedClient(url, { userId: `cycle-${i}`, accountIds: [ACCOUNT_A, ACCOUNT_B] }, { subscribe: ['comments', 'messages'] }),
          ),
          authedClient(url, { userId: 'cycle-star', accountIds: ['*'] }, { subscribe: ['comments'] }),
          authedClient(url, { userId: 'cycle-star', accountIds: ['*'] }),
          unauthenticatedClient(url),
        ]);
        const failing = await unauthenticatedClient(url);
        await failing.ask('authenticate', { token: 'garbage', userId: 'cycle-0' }, 'auth_failed');
        await failing.disconnected();
        const refused = openClient(url, { token: 'garbage' });
        await refused.inbox.waitFor('connect_error', { failOn: ['connect'] });

        expect(registry.size).toBe(7);
        expect(registry.userCount).toBe(5);
        for (const client of clients) client.close();
        await eventually(() => registry.size === 0, 3000, 'every session to leave the registry');
      }

      expect(registry.userCount).toBe(0);
      expect(namespace.sockets.size).toBe(0);
      expect(namespace.adapter.rooms.size).toBe(0);
      const gauge = await server.metrics.activeConnections.get();
      expect(gauge.values.find((v) => v.labels.transport === 'socketio')?.value).toBe(0);
    });
  });
});
