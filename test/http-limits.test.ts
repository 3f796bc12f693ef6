import type { IncomingMessage, ServerResponse } from 'node:http';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_SERVER_LIMITS } from '../src/server/http-limits.js';
import { WEBHOOK_BODY_DEADLINE_MS } from '../src/webhooks/body-deadline.js';
import { ACCOUNT_A, authedClient, bounded, closeClients, eventually, publish, TestClient, type TestSocket } from './helpers/clients.js';
import { destroyRawSockets, rawExchange, requestHead } from './helpers/raw-http.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { WsTestClient } from './helpers/ws-client.js';

describe("Node's HTTP timeouts", () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer({ DEMO_PAGE: 'false' });
  });
  afterAll(async () => {
    destroyRawSockets();
    closeClients();
    await srv.stop();
  });

  it('are set on the server: headers 10 s, whole request 15 s (longer than the webhook body deadline), checked every second', () => {
    const { httpServer } = srv.server;
    expect(httpServer.headersTimeout).toBe(HTTP_SERVER_LIMITS.headersTimeout);
    expect(httpServer.requestTimeout).toBe(HTTP_SERVER_LIMITS.requestTimeout);
    expect(HTTP_SERVER_LIMITS.requestTimeout).toBeGreaterThan(WEBHOOK_BODY_DEADLINE_MS);
    expect((httpServer as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval).toBe(
      HTTP_SERVER_LIMITS.connectionsCheckingInterval,
    );
  });

  it('when a client sends headers that never finish, or nothing at all, then the connection is closed after the headers timeout (408), not after 60 s', async () => {
    const partial = rawExchange(srv.url, 'POST /api/webhooks/instagram HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    const silent = rawExchange(srv.url, '');
    const wait = HTTP_SERVER_LIMITS.headersTimeout + HTTP_SERVER_LIMITS.connectionsCheckingInterval + 4_000;
    expect((await bounded(partial.response, 'the partial headers to be cut off', wait))?.status).toBe(408);
    await bounded(partial.closed, 'the partial headers connection to close', 1_000);
    await bounded(silent.closed, 'the silent connection to close', 1_000);
  }, 20_000);

  describe('shortened on the live server (headers 1 s, request 2 s), as a check of what they cover', () => {
    const SHORT = { headersTimeout: 1_000, requestTimeout: 2_000 };
    /** Every Socket.IO long-polling GET the server received, and how it ended. */
    const gets: { answered: boolean; cut: boolean }[] = [];
    const trackPollingGets = (req: IncomingMessage, res: ServerResponse) => {
      if (req.method !== 'GET' || req.url?.startsWith('/socket.io/') !== true || !req.url.includes('transport=polling')) return;
      const get = { answered: false, cut: false };
      res.once('finish', () => (get.answered = true));
      res.once('close', () => (get.cut = !get.answered));
      gets.push(get);
    };
    beforeAll(() => {
      // Both are read at every check (Node docs: writable properties of http.Server), so they apply at once.
      Object.assign(srv.server.httpServer, SHORT);
      srv.server.httpServer.on('request', trackPollingGets);
    });
    afterAll(() => {
      Object.assign(srv.server.httpServer, {
        headersTimeout: HTTP_SERVER_LIMITS.headersTimeout,
        requestTimeout: HTTP_SERVER_LIMITS.requestTimeout,
      });
      srv.server.httpServer.off('request', trackPollingGets);
    });

    it('then a long-polling GET held by Engine.IO and open WebSockets (Socket.IO and raw) outlive requests cut for the same timeouts, and still deliver', async () => {
      const claims = { userId: 'held', accountIds: [ACCOUNT_A] };
      const polling = new TestClient(
        io(srv.url, {
          transports: ['polling'],
          reconnection: false,
          forceNew: true,
          auth: { token: mintToken(claims, { expiresIn: 600 }) },
        }) as TestSocket,
      );
      await polling.inbox.waitFor('auth_success', { failOn: ['connect_error', 'disconnect'] });
      await polling.ask('subscribe', { eventTypes: ['comments'] }, 'subscription_confirmed');
      const websocket = await authedClient(srv.url, claims, { subscribe: ['comments'] });
      const raw = new WsTestClient(srv.url);
      await raw.opened();
      raw.send({ type: 'authenticate', token: mintToken(claims, { expiresIn: 600 }), userId: 'held', timestamp: Date.now() });
      await raw.next('auth_success');
      raw.send({ type: 'subscribe', eventTypes: ['comments'] });
      await raw.next('subscription_confirmed');
      // The server holds the polling client's latest GET (for up to pingInterval, 25 s) while it has nothing to send.
      await eventually(() => gets.at(-1)?.answered === false, 3_000, 'a held long-polling GET');
      const held = gets.at(-1) as (typeof gets)[number];
      const heldSince = Date.now();

      // Positive controls, started after the GET was held: Node cuts a request whose headers never end (1 s) and one
      // whose body never ends (2 s; its 408 is Node's own, before the webhook's 5 s deadline). When the second is
      // cut, the held GET is older still and was looked at by the same check.
      const headers = rawExchange(srv.url, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
      const body = rawExchange(
        srv.url,
        requestHead('POST', '/api/webhooks/instagram', {
          Host: 'localhost',
          'Content-Length': 100,
          'X-Hub-Signature-256': `sha256=${'ab'.repeat(32)}`,
        }) + 'x',
      );
      expect((await bounded(headers.response, 'the unfinished headers to be cut', 6_000))?.status).toBe(408);
      expect((await bounded(body.response, 'the unfinished body to be cut', 6_000))?.status).toBe(408);

      // That GET is still held (open for longer than the request timeout, checked more than once), none was cut.
      expect(Date.now() - heldSince).toBeGreaterThanOrEqual(SHORT.requestTimeout);
      expect(held).toMatchObject({ answered: false, cut: false });
      expect(gets.filter((g) => g.cut)).toEqual([]);
      expect(polling.inbox.all('disconnect')).toEqual([]);
      expect(websocket.inbox.all('disconnect')).toEqual([]);
      expect(raw.ws.readyState).toBe(raw.ws.OPEN);
      const event = await publish(srv.url, { accountId: ACCOUNT_A });
      await polling.waitForDelivery(event.id);
      expect(held.answered).toBe(true); // it came as the answer to that very GET
      await websocket.waitForDelivery(event.id);
      expect((await raw.next('webhook_event')).payload).toMatchObject({ id: event.id });
      polling.close();
      raw.close();
    });
  });
});
