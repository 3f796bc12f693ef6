import { randomUUID } from 'node:crypto';
import { Agent, type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { buildEnvelope } from '../src/cli/envelopes.js';
import { signatureHeader } from '../src/webhooks/signature.js';
import { bounded, TestClient, type TestSocket } from './helpers/clients.js';
import { nginxAvailable, startNginx, type RunningNginx } from './helpers/nginx.js';
import { redisAvailable, startRedis, type RedisServer } from './helpers/redis.js';
import { spawnServer, TEST_APP_SECRET, testEnv, type SpawnedServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { WsTestClient } from './helpers/ws-client.js';

/**
 * deploy/nginx as it is deployed: the compiled server twice, in cluster mode on a real redis-server, as production
 * runs it (every secret set), behind a real nginx serving deploy/nginx's template. Clients reach the instances only
 * through nginx, each from a loopback address of its own (127.0.0.x: the Linux loopback answers the whole /8), so
 * that nginx's address stickiness spreads them over both instances and the instances can tell them apart from
 * nginx, which always connects from 127.0.0.1.
 */

const HAS_NGINX = nginxAvailable();
const HAS_REDIS = HAS_NGINX && redisAvailable();

const ADMIN_TOKEN = 'deploy-test-admin-token';
const METRICS_TOKEN = 'deploy-test-metrics-token';
const APP_ORIGIN = 'https://app.example.com';
/** New connections per client address per minute and instance: small, so that the per-address budget is visible. */
const CONNECT_RATE_LIMIT = 4;
const ACCOUNT = '17841400000000777';

const productionEnv = (redis: RedisServer): Record<string, string> =>
  testEnv({
    NODE_ENV: 'production',
    ADMIN_TOKEN,
    METRICS_TOKEN,
    REDIS_URL: redis.url,
    CLIENT_URL: APP_ORIGIN,
    // Exactly the proxy's address. `loopback` would also trust the clients' 127.0.0.x addresses as proxies, and with
    // them whatever X-Forwarded-For a client forged.
    TRUST_PROXY: '127.0.0.1',
    CONNECT_RATE_LIMIT: String(CONNECT_RATE_LIMIT),
    LOG_LEVEL: 'info',
  });

interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One HTTP request from a chosen local (client) address. */
function httpFrom(
  localAddress: string,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers, localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Polls a condition no event announces (a line in a log file), bounded in time. */
async function eventually<T>(read: () => T | undefined, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe.skipIf(!HAS_REDIS)('deploy/nginx in front of two instances sharing Redis', () => {
  let redis: RedisServer;
  let instances: SpawnedServer[] = [];
  let nginx: RunningNginx;
  /** `host:port` of each instance, as nginx's access log names them. */
  let upstreams: string[] = [];
  /** Client addresses not used yet, by the instance nginx sends them to. */
  const addressesOf = new Map<string, string[]>();
  const sockets = new Set<TestClient>();
  const agents = new Set<Agent>();
  const wsClients: WsTestClient[] = [];

  /** The instance nginx sends a client at `address` to: its upstream in the access log line of a tagged request. */
  async function upstreamFor(address: string): Promise<string> {
    const requestId = `probe-${randomUUID()}`;
    const res = await httpFrom(address, `${nginx.url}/healthz`, { headers: { 'x-request-id': requestId } });
    expect(res.status).toBe(200);
    const line = await eventually(
      () => nginx.accessLog().find((l) => l.request_id === requestId),
      `the access log line of ${requestId}`,
    );
    return line.upstream;
  }

  /** A fresh client address that nginx sends to `upstream` (each test's clients have budgets of their own). */
  function addressOn(upstream: string): string {
    const address = addressesOf.get(upstream)?.shift();
    if (address === undefined) throw new Error(`no client address left for ${upstream}`);
    return address;
  }

  /** A Socket.IO client through nginx from `address`, authenticated at the handshake and subscribed to comments. */
  async function sioClient(address: string, transports: string[], userId: string): Promise<TestClient> {
    const agent = new Agent({ localAddress: address });
    agents.add(agent);
    const socket = new TestClient(
      io(nginx.url, {
        transports,
        forceNew: true,
        reconnection: false,
        auth: { token: mintToken({ userId, accountIds: [ACCOUNT] }, { expiresIn: 600 }) },
        // engine.io-client hands `agent` to the polling requests and to the WebSocket (its type says string).
        agent: agent as unknown as string,
      }) as TestSocket,
    );
    sockets.add(socket);
    await socket.next('auth_success', 5000);
    await socket.request('subscribe', { eventTypes: ['comments'] }, 5000);
    return socket;
  }

  /** Opens a raw WebSocket through nginx from `address`: 101 when it opened (then closes it), else the refusal. */
  function wsUpgradeFrom(address: string, headers: Record<string, string> = {}): Promise<number> {
    const ws = new WebSocket(`${nginx.url.replace('http', 'ws')}/ws/notifications`, { localAddress: address, headers });
    ws.on('error', () => undefined);
    return bounded(
      new Promise<number>((resolve) => {
        ws.once('open', () => {
          ws.terminate();
          resolve(101);
        });
        ws.once('unexpected-response', (req, res) => {
          resolve(res.statusCode ?? 0);
          req.destroy();
        });
      }),
      `the WebSocket upgrade from ${address}`,
      5000,
    );
  }

  beforeAll(async () => {
    redis = await startRedis();
    instances = await Promise.all([0, 1].map(() => spawnServer(productionEnv(redis), { waitFor: '/readyz' })));
    upstreams = instances.map((instance) => new URL(instance.url).host);
    nginx = await startNginx(upstreams);

    // Sort loopback addresses by the instance nginx hashes them to, until each instance has enough (bounded).
    for (const upstream of upstreams) addressesOf.set(upstream, []);
    for (let host = 2; host < 120; host++) {
      const address = `127.0.0.${host}`;
      addressesOf.get(await upstreamFor(address))?.push(address);
      if ([...addressesOf.values()].every((list) => list.length >= 8)) break;
    }
    for (const [upstream, list] of addressesOf) expect(list.length, `client addresses hashed to ${upstream}`).toBeGreaterThanOrEqual(8);
  }, 60_000);

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    for (const agent of agents) agent.destroy();
    for (const client of wsClients) client.close();
    await nginx?.stop();
    await Promise.all(
      instances.map(async (instance) => {
        if (instance.child.exitCode === null && instance.child.signalCode === null) instance.child.kill('SIGINT');
        await instance.exited;
      }),
    );
    await redis?.stop();
  }, 30_000);

  it('Socket.IO over WebSocket, over long-polling only, and upgrading from polling, and a raw WebSocket client, spread over both instances, each receive a signed Meta webhook POSTed through nginx', async () => {
    const [first, second] = upstreams as [string, string];
    const [webSocketAddress, pollingAddress, upgradingAddress] = [addressOn(first), addressOn(second), addressOn(second)];
    const overWebSocket = await sioClient(webSocketAddress, ['websocket'], 'nginx-ws');
    const overPolling = await sioClient(pollingAddress, ['polling'], 'nginx-polling');
    const upgrading = await sioClient(upgradingAddress, ['polling', 'websocket'], 'nginx-upgrade');
    if (upgrading.socket.io.engine.transport.name !== 'websocket') {
      await bounded(new Promise((resolve) => upgrading.socket.io.engine.once('upgrade', resolve)), 'the upgrade to WebSocket', 5000);
    }
    const raw = new WsTestClient(nginx.url);
    wsClients.push(raw);
    await raw.opened();
    raw.send({ type: 'authenticate', token: mintToken({ userId: 'nginx-raw', accountIds: [ACCOUNT] }, { expiresIn: 600 }), userId: 'nginx-raw' });
    await raw.next('auth_success');
    raw.send({ type: 'subscribe', eventTypes: ['comments'] });
    await raw.next('subscription_confirmed');

    const arrivals = [overWebSocket, overPolling, upgrading].map((socket) => socket.next('webhook_event', 5000));
    const envelope = buildEnvelope({ type: 'comments', accountId: ACCOUNT, text: 'Through nginx', from: 'marta' });
    const body = Buffer.from(JSON.stringify(envelope));
    const res = await httpFrom(addressOn(first), `${nginx.url}/api/webhooks/instagram`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signatureHeader(body, TEST_APP_SECRET) },
      body,
    });
    expect(res.status, res.text).toBe(200);
    expect(res.text).toBe('EVENT_RECEIVED');

    const commentId = (envelope as { entry: [{ changes: [{ value: { id: string } }] }] }).entry[0].changes[0].value.id;
    const expected = { id: commentId, eventType: 'comments', accountId: ACCOUNT, content: 'Through nginx' };
    for (const notification of await Promise.all(arrivals)) expect(notification).toMatchObject(expected);
    expect((await raw.next('webhook_event', 5000)).payload).toMatchObject(expected);

    // nginx logs a WebSocket's upgrade request when the connection ends.
    for (const socket of [overWebSocket, overPolling, upgrading]) socket.close();
    for (const address of [webSocketAddress, upgradingAddress]) {
      await eventually(() => nginx.accessLog().find((l) => l.client === address && l.status === 101), `the upgrade from ${address}`);
    }
    // Stickiness, seen from nginx: every request of each Socket.IO session (the polling session's many requests, the
    // upgrading one's polling requests and its upgrade) went to one instance; and the clients were on both instances,
    // so the webhook, received by one, reached the other's clients through Redis.
    const socketIoUpstreams = (address: string) => {
      const lines = nginx.accessLog().filter((l) => l.client === address && l.path === '/socket.io/');
      return { requests: lines.length, upstreams: new Set(lines.map((l) => l.upstream)) };
    };
    expect(socketIoUpstreams(webSocketAddress)).toEqual({ requests: 1, upstreams: new Set([first]) });
    expect(socketIoUpstreams(pollingAddress).requests).toBeGreaterThanOrEqual(3);
    expect(socketIoUpstreams(pollingAddress).upstreams).toEqual(new Set([second]));
    expect(socketIoUpstreams(upgradingAddress).requests).toBeGreaterThanOrEqual(3);
    expect(socketIoUpstreams(upgradingAddress).upstreams).toEqual(new Set([second]));
  });

  it('the metrics and the admin API are refused through nginx, however the path is spelled, but served on an instance directly', async () => {
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const refusedPaths = [
      ['/metrics', METRICS_TOKEN],
      ['/METRICS', METRICS_TOKEN],
      ['/metrics/', METRICS_TOKEN],
      ['//metrics', METRICS_TOKEN],
      ['/%6Detrics', METRICS_TOKEN],
      ['/metrics?name=x', METRICS_TOKEN],
      ['/api/admin/clients', ADMIN_TOKEN],
      ['/API/Admin/clients', ADMIN_TOKEN],
      ['/api/admin/clients/', ADMIN_TOKEN],
    ] as const;
    for (const [path, token] of refusedPaths) {
      const res = await fetch(`${nginx.url}${path}`, { headers: bearer(token) });
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toEqual({ error: 'not_found', message: 'Not found' });
    }
    const publish = await fetch(`${nginx.url}/api/admin/events`, {
      method: 'POST',
      headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'admin-through-nginx', eventType: 'comments', accountId: ACCOUNT }),
    });
    expect(publish.status).toBe(404);
    const lines = nginx.accessLog().filter((l) => /metrics|admin/i.test(l.path));
    expect(lines.length).toBeGreaterThanOrEqual(refusedPaths.length + 1);
    expect(lines.every((l) => l.upstream === ''), 'no refused request reached an instance').toBe(true);

    // Positive controls: nginx passes public paths, and each instance serves what nginx refuses, spelled either way
    // (its router is case-insensitive: the reason nginx's rule is too).
    expect((await fetch(`${nginx.url}/healthz`)).status).toBe(200);
    for (const instance of instances) {
      for (const path of ['/metrics', '/METRICS']) {
        const metrics = await fetch(`${instance.url}${path}`, { headers: bearer(METRICS_TOKEN) });
        expect(metrics.status, path).toBe(200);
        expect(await metrics.text()).toContain('instantchat_webhooks_total');
      }
      const clients = await fetch(`${instance.url}/API/Admin/clients`, { headers: bearer(ADMIN_TOKEN) });
      expect(clients.status).toBe(200);
      expect(await clients.json()).toHaveProperty('clients');
    }
  });

  it('an instance sees the real client address: each address has its own connection budget, and a forged X-Forwarded-For changes nothing', async () => {
    const [first] = upstreams as [string];
    const spender = addressOn(first);
    const neighbour = addressOn(first);
    for (let i = 0; i < CONNECT_RATE_LIMIT; i++) expect(await wsUpgradeFrom(spender), `connection ${i + 1}`).toBe(101);
    // The limit is enforced through nginx (the negative check that the budget is spent) ...
    expect(await wsUpgradeFrom(spender)).toBe(429);
    // ... and a client cannot escape it by claiming another address: nginx appends the one it saw, and the instance
    // trusts nginx (TRUST_PROXY) and nothing to its left.
    expect(await wsUpgradeFrom(spender, { 'x-forwarded-for': '203.0.113.9' })).toBe(429);
    // Positive control: another client on the same instance, behind the same proxy address, still connects, so the
    // instance counted the client's address, not nginx's.
    expect(await wsUpgradeFrom(neighbour)).toBe(101);
  });

  it('a webhook body of exactly the instances\' WEBHOOK_BODY_LIMIT passes nginx; one byte more is refused by nginx with 413 in the server\'s error format', async () => {
    const limit = 1024 * 1024; // WEBHOOK_BODY_LIMIT's default, 1mb; nginx's client_max_body_size 1m
    const bodyOf = (length: number) => {
      const event = { id: `big-${randomUUID()}`, eventType: 'comments', accountId: '17841400000000999', content: 'big', pad: '' };
      event.pad = 'x'.repeat(length - JSON.stringify(event).length);
      return Buffer.from(JSON.stringify(event));
    };
    const post = (body: Buffer) =>
      fetch(`${nginx.url}/api/webhooks/instagram`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signatureHeader(body, TEST_APP_SECRET) },
        body: new Uint8Array(body),
      });

    const atLimit = await post(bodyOf(limit));
    expect(atLimit.status).toBe(200);
    expect(await atLimit.text()).toBe('EVENT_RECEIVED');

    const over = await post(bodyOf(limit + 1));
    expect(over.status).toBe(413);
    expect(await over.json()).toEqual({ error: 'payload_too_large', message: 'Request body too large' });
  });

  it('WebSocket upgrades through nginx keep the browser origin check: the page\'s own origin and CLIENT_URL are allowed, another site is refused', async () => {
    const [, second] = upstreams as [string, string];
    // nginx passes the Host the browser sent, port included, so an instance recognises its own public origin.
    expect(await wsUpgradeFrom(addressOn(second), { origin: nginx.url })).toBe(101);
    expect(await wsUpgradeFrom(addressOn(second), { origin: APP_ORIGIN })).toBe(101);
    expect(await wsUpgradeFrom(addressOn(second), { origin: 'https://evil.example' })).toBe(403);
  });

  it('one request id from nginx to the instance: the client\'s own when well formed, else nginx\'s, in the answer and in both logs', async (context) => {
    const direct = await fetch(`${instances[0]?.url}/healthz`, { headers: { 'x-request-id': 'direct-probe' } });
    if (direct.headers.get('x-request-id') !== 'direct-probe') {
      // SPEC's X-Request-Id is being added to the server in parallel (issue 13); nginx's half is ready for it.
      console.warn('\n*** the server does not answer X-Request-Id yet: SKIPPING the request-id check through nginx ***\n');
      context.skip();
    }
    const answers = [
      await fetch(`${nginx.url}/nope`, { headers: { 'x-request-id': 'client-chosen.id:42' } }),
      await fetch(`${nginx.url}/nope`),
      await fetch(`${nginx.url}/nope`, { headers: { 'x-request-id': 'x'.repeat(129) } }),
    ];
    const ids = answers.map((res) => res.headers.get('x-request-id') ?? '');
    expect(ids[0]).toBe('client-chosen.id:42');
    expect(ids[1]).toMatch(/^[0-9a-f]{32}$/); // nginx's $request_id
    expect(ids[2]).toMatch(/^[0-9a-f]{32}$/); // malformed: replaced by nginx, as the server would have
    for (const id of ids) {
      await eventually(() => nginx.accessLog().find((l) => l.request_id === id), `nginx's line of ${id}`);
      await eventually(() => (instances.some((instance) => instance.output().includes(id)) ? true : undefined), `an instance's line of ${id}`);
    }
  });

  it('the instances log the client\'s address, not nginx\'s', async (context) => {
    const probe = '127.0.0.250';
    await httpFrom(probe, `${instances[0]?.url}/nope-direct`);
    const logsAddresses = await eventually(() => (instances[0]?.output().includes(probe) ? true : undefined), 'a log line', 1000).catch(
      () => false,
    );
    if (!logsAddresses) {
      // SPEC's client address on log lines is being added to the server in parallel (issue 13).
      console.warn('\n*** the server does not log client addresses yet: SKIPPING the log check through nginx ***\n');
      context.skip();
    }
    const [first] = upstreams as [string];
    const client = addressOn(first);
    const res = await httpFrom(client, `${nginx.url}/nope-through-nginx`);
    expect(res.status).toBe(404);
    const instance = instances[upstreams.indexOf(first)] as SpawnedServer;
    await eventually(() => (instance.output().includes(client) ? true : undefined), `a log line naming ${client}`);
  });
});
