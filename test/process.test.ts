import { request as httpRequest, type ClientRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { signatureHeader } from '../src/webhooks/signature.js';
import { closeAllClients, createClient, nextEvent } from './helpers/clients.js';
import { spawnServer, waitForOk, type SpawnedServer } from './helpers/process.js';
import { mintToken } from './helpers/tokens.js';

const SECRETS = {
  NODE_ENV: 'production',
  JWT_SECRET: 'process-test-jwt-secret-0123456789',
  INSTAGRAM_APP_SECRET: 'process-test-app-secret',
  INSTAGRAM_WEBHOOK_VERIFY_TOKEN: 'process-test-verify-token',
  LOG_LEVEL: 'warn',
};

/** Starts a signed webhook POST and sends only the first half of its body: an in-flight request. */
function halfSentWebhook(url: string, secret: string) {
  const body = Buffer.from(
    JSON.stringify({ id: 'drain-1', eventType: 'comments', accountId: '17841400000000001', content: 'late but kept' }),
  );
  let req!: ClientRequest;
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req = httpRequest(
      `${url}/api/webhooks/instagram`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          'x-hub-signature-256': signatureHeader(body, secret),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.write(body.subarray(0, 10));
  });
  return { response, finish: () => req.end(body.subarray(10)), abort: () => req.destroy() };
}

describe('the real process', () => {
  let proc: SpawnedServer | undefined;
  afterEach(async () => {
    closeAllClients();
    if (proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    proc = undefined;
  });

  it('on SIGTERM: readiness turns 503 at once, sockets get server_shutdown, in-flight requests finish, exit 0', async () => {
    proc = await spawnServer({ ...SECRETS, SHUTDOWN_TIMEOUT_MS: '8000' });
    await waitForOk(`${proc.url}/healthz`);
    expect((await fetch(`${proc.url}/readyz`)).status).toBe(200);

    const socket = createClient(proc.url, { token: mintToken({ userId: 'u1' }, { expiresIn: 60, secret: SECRETS.JWT_SECRET }) });
    await nextEvent(socket, 'auth_success', 5000);
    const shutdownNotice = nextEvent(socket, 'server_shutdown', 5000);
    const inFlight = halfSentWebhook(proc.url, SECRETS.INSTAGRAM_APP_SECRET);
    await new Promise((r) => setTimeout(r, 200)); // let the request reach the server before the signal

    proc.child.kill('SIGTERM');
    expect(await shutdownNotice).toEqual({ reason: 'Server shutting down', timestamp: expect.any(Number) });

    // The listener stays open during the drain and says it is not ready.
    const ready = await fetch(`${proc.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not_ready', reason: expect.any(String) });
    // New socket connections are refused.
    const late = createClient(proc.url, { token: mintToken({ userId: 'u2' }, { expiresIn: 60, secret: SECRETS.JWT_SECRET }) });
    await expect(nextEvent(late, 'auth_success', 1500)).rejects.toThrow();

    inFlight.finish();
    expect(await inFlight.response).toEqual({ status: 200, body: 'EVENT_RECEIVED' });
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeLessThan(8000);
  });

  it('exits 1 when the drain takes longer than SHUTDOWN_TIMEOUT_MS', async () => {
    proc = await spawnServer({ ...SECRETS, SHUTDOWN_TIMEOUT_MS: '800' });
    await waitForOk(`${proc.url}/healthz`);
    const stuck = halfSentWebhook(proc.url, SECRETS.INSTAGRAM_APP_SECRET);
    stuck.response.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    proc.child.kill('SIGTERM');
    const exit = await proc.exited;
    stuck.abort();
    expect(exit.code).toBe(1);
    expect(exit.afterMs).toBeGreaterThanOrEqual(700);
  });

  it('a second signal during the drain exits 1 at once', async () => {
    proc = await spawnServer({ ...SECRETS, SHUTDOWN_TIMEOUT_MS: '20000' });
    await waitForOk(`${proc.url}/healthz`);
    const stuck = halfSentWebhook(proc.url, SECRETS.INSTAGRAM_APP_SECRET);
    stuck.response.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    proc.child.kill('SIGTERM');
    await waitForStatus(`${proc.url}/readyz`, 503);
    proc.child.kill('SIGINT');
    const exit = await proc.exited;
    stuck.abort();
    expect(exit.code).toBe(1);
    expect(exit.afterMs).toBeLessThan(5000);
  });

  it('in production, refuses a development secret with one line naming it and exit code 1', async () => {
    proc = await spawnServer({ ...SECRETS, JWT_SECRET: 'dev-only-jwt-secret-change-me' });
    const exit = await proc.exited;
    expect(exit.code).toBe(1);
    expect(proc.output().trim()).toBe(
      'Invalid configuration: JWT_SECRET still has its development default; set a real secret for production',
    );
  });

  it('refuses a malformed value (PORT=abc) with exit code 1', async () => {
    proc = await spawnServer({ ...SECRETS, PORT: 'abc' });
    const exit = await proc.exited;
    expect(exit.code).toBe(1);
    expect(proc.output()).toMatch(/^Invalid configuration: PORT: /);
  });

  it('with no secrets and no NODE_ENV, starts on development defaults and warns about them', async () => {
    proc = await spawnServer({});
    await waitForOk(`${proc.url}/healthz`);
    const log = proc.output();
    expect(log).toContain('using development defaults for secrets');
    expect(log).not.toContain('dev-only-jwt-secret-change-me');
    proc.child.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
  });
});

async function waitForStatus(url: string, status: number, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await fetch(url).then((r) => r.status, () => 0)) !== status) {
    if (Date.now() > deadline) throw new Error(`${url} never answered ${status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
