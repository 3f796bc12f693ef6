import { request as httpRequest, type ClientRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { signatureHeader } from '../src/webhooks/signature.js';
import { closeClients, openClient } from './helpers/clients.js';
import { redisAvailable, startRedis } from './helpers/redis.js';
import { spawnServer, TEST_APP_SECRET, TEST_JWT_SECRET, testEnv, type SpawnedServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';

/** Production, with the test secrets (long enough for it) and its own per-IP connect limit. */
const PRODUCTION = testEnv({ NODE_ENV: 'production', LOG_LEVEL: 'warn', CONNECT_RATE_LIMIT: undefined });

/** Starts a signed webhook POST and sends only the first half of its body: an in-flight request. */
function halfSentWebhook(url: string, secret: string) {
  const body = Buffer.from(
    JSON.stringify({ id: 'drain-1', eventType: 'comments', accountId: '17841400000000001', content: 'late but kept' }),
  );
  let req!: ClientRequest;
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req = httpRequest(
      `${url}/api/webhooks/instagram`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          'x-hub-signature-256': signatureHeader(body, secret),
          // The server answers "100 Continue" once it has taken the request: proof that it is in flight.
          expect: '100-continue',
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.once('continue', () => req.write(body.subarray(0, 10), () => markStarted()));
  });
  return { response, started, finish: () => req.end(body.subarray(10)), abort: () => req.destroy() };
}

describe('the real process', () => {
  let proc: SpawnedServer | undefined;
  afterEach(async () => {
    closeClients();
    await proc?.stop();
    proc = undefined;
  });

  it('on SIGTERM: readiness turns 503 at once, in-flight requests finish and are delivered, then sockets get server_shutdown, exit 0', async () => {
    proc = await spawnServer({ ...PRODUCTION, SHUTDOWN_TIMEOUT_MS: '8000', SHUTDOWN_DELAY_MS: '0' }, { waitFor: '/healthz' });
    expect((await fetch(`${proc.url}/readyz`)).status).toBe(200);

    const token = mintToken({ userId: 'u1', accountIds: ['*'] }, { expiresIn: 60, secret: TEST_JWT_SECRET });
    const socket = openClient(proc.url, { token });
    await socket.next('auth_success', 5000);
    await socket.request('subscribe', { eventTypes: ['comments'] });
    const shutdownNotice = socket.next('server_shutdown', 8000);
    const inFlight = halfSentWebhook(proc.url, TEST_APP_SECRET);
    await inFlight.started;

    proc.child.kill('SIGTERM');
    await waitForStatus(`${proc.url}/readyz`, 503);
    // The listener stays open during the drain and says why it is not ready.
    const ready = await fetch(`${proc.url}/readyz`);
    expect(await ready.json()).toEqual({ status: 'not_ready', reason: expect.any(String) });
    // A new webhook is refused with 503 so that Meta retries it elsewhere; new sockets are refused.
    const late = await signedPost(proc.url, TEST_APP_SECRET, { id: 'drain-2', eventType: 'comments', accountId: '1' });
    expect(late.status).toBe(503);
    expect(await late.json()).toEqual({ error: 'not_ready', message: expect.any(String) });
    const lateSocket = openClient(proc.url, { token });
    expect((await lateSocket.next('connect_error', 5000)).message).toBeTruthy();

    // The request already in flight is accepted and delivered before the sockets are told to go.
    inFlight.finish();
    expect(await inFlight.response).toEqual({ status: 200, body: 'EVENT_RECEIVED' });
    expect(await shutdownNotice).toEqual({ reason: 'Server shutting down', timestamp: expect.any(Number) });
    expect(socket.deliveredIds()).toEqual(['drain-1']);
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeLessThan(8000);
  });

  it('a stalled upload is refused with 503 and cut, not waited for: sockets are told, the process exits 0 within SHUTDOWN_TIMEOUT_MS', async () => {
    proc = await spawnServer({ ...PRODUCTION, SHUTDOWN_TIMEOUT_MS: '4000', SHUTDOWN_DELAY_MS: '0' }, { waitFor: '/healthz' });
    const socket = openClient(proc.url, { token: mintToken({ userId: 'u1' }, { expiresIn: 60, secret: TEST_JWT_SECRET }) });
    await socket.next('auth_success', 5000);
    const notice = socket.next('server_shutdown', 5000);
    const stuck = halfSentWebhook(proc.url, TEST_APP_SECRET);
    await stuck.started;
    proc.child.kill('SIGTERM');

    expect(await notice).toMatchObject({ reason: 'Server shutting down' });
    // Nothing of the stalled upload was accepted: Meta retries it (elsewhere, or after the restart).
    expect(await stuck.response.catch(() => ({ status: 0, body: '' }))).toMatchObject({ status: 503 });
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeLessThan(4000);
  });

  it('SHUTDOWN_DELAY_MS: after SIGTERM readiness is 503 while webhooks and new sockets are still served; then the drain; SIGINT skips the delay', async () => {
    proc = await spawnServer({ ...PRODUCTION, SHUTDOWN_TIMEOUT_MS: '8000', SHUTDOWN_DELAY_MS: '1500' }, { waitFor: '/healthz' });
    const token = mintToken({ userId: 'u1', accountIds: ['*'] }, { expiresIn: 60, secret: TEST_JWT_SECRET });
    proc.child.kill('SIGTERM');
    await waitForStatus(`${proc.url}/readyz`, 503);
    expect(await (await fetch(`${proc.url}/readyz`)).json()).toEqual({ status: 'not_ready', reason: 'shutting_down' });
    // Still serving as before: a load balancer that has not noticed yet loses nothing.
    const during = await signedPost(proc.url, TEST_APP_SECRET, { id: 'delay-1', eventType: 'comments', accountId: '1' });
    expect(during.status).toBe(200);
    const socket = openClient(proc.url, { token });
    expect(await socket.next('auth_success', 3000)).toMatchObject({ userId: 'u1' });
    const notice = socket.next('server_shutdown', 5000);
    // Then the drain: the socket is told, the process ends cleanly, after the delay.
    expect(await notice).toMatchObject({ reason: 'Server shutting down' });
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeGreaterThanOrEqual(1400);

    proc = await spawnServer({ ...PRODUCTION, SHUTDOWN_TIMEOUT_MS: '8000', SHUTDOWN_DELAY_MS: '5000' }, { waitFor: '/healthz' });
    proc.child.kill('SIGINT');
    const quick = await proc.exited;
    expect(quick.code).toBe(0);
    expect(quick.afterMs).toBeLessThan(4000);
  });

  it.skipIf(!redisAvailable())(
    'a webhook still being processed at SHUTDOWN_TIMEOUT_MS (Redis frozen) is cut: exit 1, on time; readiness changes are logged once each',
    async () => {
      const redis = await startRedis();
      try {
        proc = await spawnServer({ ...PRODUCTION, LOG_LEVEL: 'info', REDIS_URL: redis.url, SHUTDOWN_TIMEOUT_MS: '1500', SHUTDOWN_DELAY_MS: '0' });
        await waitForStatus(`${proc.url}/readyz`, 200, 10_000);
        // Positive control: Redis answers, the webhook is accepted.
        expect((await signedPost(proc.url, TEST_APP_SECRET, { id: 'ok-1', eventType: 'comments', accountId: '1' })).status).toBe(200);
        redis.freeze();
        const stuck = signedPost(proc.url, TEST_APP_SECRET, { id: 'stuck-1', eventType: 'comments', accountId: '1' }).catch(
          () => undefined,
        );
        await new Promise((r) => setTimeout(r, 200));
        proc.child.kill('SIGTERM');
        const exit = await proc.exited;
        await stuck;
        expect(exit.code).toBe(1);
        expect(exit.afterMs).toBeLessThan(3000);
        expect(proc.output()).toContain('shutdown deadline: cutting requests still being processed');
        // Polled many times meanwhile, "not ready" is said once.
        expect(proc.output().split('\n').filter((l) => l.includes('"msg":"not ready"')).length).toBeLessThanOrEqual(1);
      } finally {
        redis.thaw();
        await redis.stop();
      }
    },
  );

  it('a second signal during the drain exits 1 at once', async () => {
    proc = await spawnServer({ ...PRODUCTION, SHUTDOWN_TIMEOUT_MS: '20000', SHUTDOWN_DELAY_MS: '0' }, { waitFor: '/healthz' });
    const stuck = halfSentWebhook(proc.url, TEST_APP_SECRET);
    stuck.response.catch(() => undefined);
    await stuck.started;
    proc.child.kill('SIGTERM');
    await waitForStatus(`${proc.url}/readyz`, 503);
    proc.child.kill('SIGINT');
    const exit = await proc.exited;
    stuck.abort();
    expect(exit.code).toBe(1);
    expect(exit.afterMs).toBeLessThan(5000);
  });

  it('in production, refuses a development secret with one line naming it and exit code 1', async () => {
    proc = await spawnServer({ ...PRODUCTION, JWT_SECRET: 'dev-only-jwt-secret-change-me' });
    const exit = await proc.exited;
    expect(exit.code).toBe(1);
    expect(proc.output().trim()).toBe(
      'Invalid configuration: JWT_SECRET: still the development default; set a real secret for production',
    );
  });

  it('refuses a malformed value (PORT=abc) with exit code 1', async () => {
    proc = await spawnServer({ ...PRODUCTION, PORT: 'abc' });
    const exit = await proc.exited;
    expect(exit.code).toBe(1);
    expect(proc.output()).toMatch(/^Invalid configuration: PORT: /);
  });

  it('with no secrets and no NODE_ENV, starts on development defaults and warns about them', async () => {
    proc = await spawnServer({}, { waitFor: '/healthz' });
    const log = proc.output();
    expect(log).toContain('using development defaults for secrets');
    expect(log).not.toContain('dev-only-jwt-secret-change-me');
    proc.child.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
  });
});

function signedPost(url: string, secret: string, event: Record<string, unknown>) {
  const body = JSON.stringify(event);
  return fetch(`${url}/api/webhooks/instagram`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signatureHeader(body, secret) },
    body,
  });
}

async function waitForStatus(url: string, status: number, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await fetch(url).then((r) => r.status, () => 0)) !== status) {
    if (Date.now() > deadline) throw new Error(`${url} never answered ${status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
