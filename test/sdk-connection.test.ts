import { afterEach, describe, expect, it } from 'vitest';
import type { ClientOptions } from '../client/src/index.js';
import { closeClients, openClient } from './helpers/clients.js';
import { closeSdkClients, sdkClient, type SdkRecorder } from './helpers/sdk-client.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { mintToken } from './helpers/tokens.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';

const TRANSPORTS = ['socketio', 'websocket'] as const;
/** Socket.IO straight over WebSocket where a test is not about the transport's own negotiation. */
const direct = (transport: (typeof TRANSPORTS)[number]): Partial<ClientOptions> =>
  transport === 'socketio' ? { transport, socketioTransports: ['websocket'] } : { transport };

const servers: RunningServer[] = [];
const proxies: TcpProxy[] = [];
async function server(env: Record<string, string> = {}): Promise<RunningServer> {
  const srv = await startServer(env);
  servers.push(srv);
  return srv;
}

afterEach(async () => {
  await closeSdkClients();
  closeClients();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

/** Posts a fresh comment and waits until `recorder` delivered it. */
async function delivers(url: string, recorder: SdkRecorder, text = 'live'): Promise<string> {
  const event = flatEvent({ comment: { text } });
  expect((await postFlat(url, event)).status).toBe(200);
  await recorder.received(event.id as string);
  return event.id as string;
}

/** `instantchat_active_connections` summed over transports, as Prometheus reads it. */
async function activeConnections(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return [...text.matchAll(/^instantchat_active_connections\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

describe.each(TRANSPORTS)('the SDK over %s', (transport) => {
  it('when created, then it connects, authenticates, subscribes and delivers each webhook once', async () => {
    const srv = await server();
    const r = sdkClient(srv.url, { transport, claims: { userId: 'ada', accountIds: ['17841400000000001'] } });
    const auth: string[] = [];
    r.client.on('authenticated', (a) => auth.push(`${a.userId}:${a.accountIds.join(',')}`));
    await r.reached('connected');
    expect(r.states).toEqual(['connecting', 'connected']);
    expect(auth).toEqual(['ada:17841400000000001']);
    expect(r.client.transport).toBe(transport);

    const first = await delivers(srv.url, r, 'first');
    // The same webhook again (Meta retries): the server drops it; a second one arrives, once.
    expect((await postFlat(srv.url, flatEvent({ id: first }))).status).toBe(200);
    const second = await delivers(srv.url, r, 'second');
    expect(r.ids).toEqual([first, second]);
    expect(r.client.lastSeenId).toBe(second);
    expect(r.errors).toEqual([]);
  });

  it('when the token is about to expire, then it fetches a fresh one and re-authenticates the live connection, across several exp', async () => {
    const srv = await server();
    // Positive control: a client that does not refresh is told `Token expired` and disconnected at exp.
    const bare = openClient(srv.url, { token: mintToken({ userId: 'eve', accountIds: ['*'] }, { expiresIn: 2 }) });
    const r = sdkClient(srv.url, { ...direct(transport), claims: { userId: 'eve', accountIds: ['*'] }, tokenSeconds: 2 });
    const authenticated: number[] = [];
    r.client.on('authenticated', () => authenticated.push(Date.now()));
    await r.reached('connected');
    const firstExp = Date.now() + 2000;

    expect((await bare.next('auth_failed', 5000)).reason).toBe('Token expired');
    // Well past the first token's exp, and re-authenticated at least twice on the same connection.
    await expect.poll(() => Date.now() > firstExp + 500 && authenticated.length >= 3, { timeout: 8000, interval: 50 }).toBe(true);
    await delivers(srv.url, r, 'after exp');
    expect(r.states).toEqual(['connecting', 'connected']);
    expect(r.errors).toEqual([]);
    expect(r.issued.count).toBeGreaterThanOrEqual(3);
  });

  it('when a refresh fails and the token expires, then it reconnects with a fresh token after `Token expired` and catches up', async () => {
    const srv = await server();
    let calls = 0;
    const r = sdkClient(srv.url, {
      ...direct(transport),
      getToken: () => {
        calls++;
        // The first token lives 2 s; the refresh attempts fail until it has expired; then tokens work again.
        if (calls === 1) return mintToken({ userId: 'fay', accountIds: ['*'] }, { expiresIn: 2 });
        if (r.errors.every((e) => e.message !== 'Token expired')) throw new Error('identity provider down');
        return mintToken({ userId: 'fay', accountIds: ['*'] }, { expiresIn: 3600 });
      },
    });
    await r.reached('connected');
    await delivers(srv.url, r, 'before');
    await r.until(() => r.errors.some((e) => e.code === 'auth_failed' && e.message === 'Token expired'), 'Token expired', 8000);
    expect(r.errors.some((e) => e.code === 'token_unavailable' && e.message.includes('identity provider down'))).toBe(true);
    const missed = flatEvent({ comment: { text: 'while reconnecting' } });
    expect((await postFlat(srv.url, missed)).status).toBe(200);
    await r.reached('connected', 2, 8000);
    await r.received(missed.id as string);
    await delivers(srv.url, r, 'after');
    expect(r.states).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
    expect(new Set(r.ids).size).toBe(r.ids.length);
  });

  it('when close() is called, then it stays closed (state closed), while a client left open comes back after the same drop', async () => {
    const srv = await server();
    const proxy = await TcpProxy.start(srv.url);
    proxies.push(proxy);
    const closed = sdkClient(proxy.url, { ...direct(transport) });
    const control = sdkClient(proxy.url, { ...direct(transport) });
    await Promise.all([closed.reached('connected'), control.reached('connected')]);
    expect(await activeConnections(srv.url)).toBe(2);

    await closed.client.close();
    expect(closed.client.state).toBe('closed');
    proxy.cut();
    await control.reached('connected', 2);
    proxy.cut();
    await control.reached('connected', 3);
    expect(closed.states).toEqual(['connecting', 'connected', 'closed']);
    await expect.poll(() => activeConnections(srv.url)).toBe(1);
    // Closing again is harmless and resolves.
    await closed.client.close();
  });

  it('when close() resolves, then no timer, socket or handle of the client is left behind', async () => {
    const srv = await server();
    // Let the server's own handles settle first, then count ours.
    const before = resourceCounts();
    const r = sdkClient(srv.url, { ...direct(transport), tokenSeconds: 60 });
    await r.reached('connected');
    // The control: while connected, the client holds timers (heartbeat, refresh) and a socket (the server's own timers
    // come and go with its limiter windows, so the client's are judged by what closing it takes away).
    const during = resourceCounts();
    await r.client.close();
    await expect
      .poll(() => {
        const after = resourceCounts();
        return ['Timeout', 'TCPSocketWrap', 'TCPWRAP'].every((kind) => (after[kind] ?? 0) <= (before[kind] ?? 0));
      }, { timeout: 3000 })
      .toBe(true);
    const after = resourceCounts();
    expect((after.Timeout ?? 0) + (after.TCPSocketWrap ?? 0) + (after.TCPWRAP ?? 0)).toBeLessThan(
      (during.Timeout ?? 0) + (during.TCPSocketWrap ?? 0) + (during.TCPWRAP ?? 0),
    );
  });

  it('when the token is refused at connect, then `error` says why and it keeps retrying with a fresh token', async () => {
    const srv = await server();
    let good = false;
    const r = sdkClient(srv.url, {
      ...direct(transport),
      getToken: () => mintToken({ userId: 'gus', accountIds: ['*'] }, good ? { expiresIn: 3600 } : { secret: 'not-the-server-secret' }),
    });
    await r.until(() => r.errors.some((e) => e.code === 'auth_failed' && e.message === 'Invalid token'), 'Invalid token');
    await r.reached('reconnecting');
    expect(r.states).not.toContain('connected');
    good = true;
    await r.reached('connected');
    await delivers(srv.url, r);
  });
});

describe.each(TRANSPORTS)('subscriptions through the SDK over %s', (transport) => {
  it('when the event types change on a live connection, then the removed ones stop and the added ones arrive', async () => {
    const srv = await server();
    const r = sdkClient(srv.url, { ...direct(transport), eventTypes: ['comments'] });
    await r.reached('connected');
    await delivers(srv.url, r, 'a comment');
    await r.client.setEventTypes(['messages']);
    const comment = flatEvent({ comment: { text: 'no longer wanted' } });
    expect((await postFlat(srv.url, comment)).status).toBe(200);
    const dm = flatEvent({ eventType: 'messages', comment: undefined, message: { text: 'a DM' } });
    expect((await postFlat(srv.url, dm)).status).toBe(200);
    // Delivery is in order: once the DM is in, the comment would have been too.
    await r.received(dm.id as string);
    expect(r.ids).not.toContain(comment.id);
  });

  it('when the server refuses the subscription for good, then `error` says why and the client closes instead of looping', async () => {
    const srv = await server();
    const forbidden = sdkClient(srv.url, {
      ...direct(transport),
      claims: { userId: 'hal', accountIds: ['17841400000000001'] },
      accountIds: ['17841400000000999'],
    });
    await forbidden.reached('closed');
    expect(forbidden.errors.map((e) => e.code)).toEqual(['forbidden_account']);
    expect(forbidden.states).toEqual(['connecting', 'closed']);
    // Positive control: the same user within its entitlement is served.
    const allowed = sdkClient(srv.url, {
      ...direct(transport),
      claims: { userId: 'hal', accountIds: ['17841400000000001'] },
      accountIds: ['17841400000000001'],
    });
    await allowed.reached('connected');
    await delivers(srv.url, allowed);
  });
});

describe.each(TRANSPORTS)('heartbeats and server-decided disconnects over %s', (transport) => {
  const HEARTBEAT = { HEARTBEAT_TIMEOUT_MS: '1500', HEARTBEAT_SWEEP_MS: '100' };

  /** The SDK paces itself from `auth_success.heartbeatTimeoutMs`; a server that does not send it yet needs the option. */
  async function pacing(url: string): Promise<Partial<ClientOptions>> {
    const probe = openClient(url, { token: mintToken({ userId: 'probe' }, { expiresIn: 60 }) });
    const auth = (await probe.next('auth_success')) as { heartbeatTimeoutMs?: number };
    probe.close();
    if (auth.heartbeatTimeoutMs !== undefined) return {};
    console.warn('auth_success has no heartbeatTimeoutMs on this server: the SDK is given heartbeatIntervalMs: 500 instead');
    return { heartbeatIntervalMs: 500 };
  }

  it('when the heartbeat timeout is short, then the SDK stays connected while a client without heartbeats is disconnected', async () => {
    const srv = await server(HEARTBEAT);
    const r = sdkClient(srv.url, { ...direct(transport), ...(await pacing(srv.url)) });
    await r.reached('connected');
    // Positive control, twice in a row so that the SDK lives through several timeouts meanwhile.
    for (let i = 0; i < 2; i++) {
      const bare = openClient(srv.url, { token: mintToken({ userId: `bare-${i}` }, { expiresIn: 60 }) });
      await bare.next('auth_success');
      expect(await bare.disconnected(5000)).toBe('io server disconnect');
    }
    await delivers(srv.url, r);
    expect(r.states).toEqual(['connecting', 'connected']);
  });

  it('when the server disconnects it (heartbeats too slow), then it reconnects by itself and catches up what it missed', async () => {
    const srv = await server({ ...HEARTBEAT, RECOVERY_WINDOW_MS: '0' });
    // Beats far too rarely for this server: it is disconnected (Socket.IO: `io server disconnect`, which
    // socket.io-client would never retry by itself; raw WebSocket: close 1000 `Heartbeat timeout`).
    const r = sdkClient(srv.url, { ...direct(transport), heartbeatIntervalMs: 60_000 });
    await r.reached('connected');
    await delivers(srv.url, r, 'before');
    await r.reached('reconnecting', 1, 5000);
    const missed = flatEvent({ comment: { text: 'missed' } });
    expect((await postFlat(srv.url, missed)).status).toBe(200);
    await r.reached('connected', 2, 5000);
    await r.received(missed.id as string);
    await delivers(srv.url, r, 'after');
    expect(new Set(r.ids).size).toBe(r.ids.length);
    // Where the server announces it (SPEC: `error` heartbeat_timeout before the disconnect), the SDK passes it on.
    for (const error of r.errors) expect(error.code).toBe('heartbeat_timeout');
  });
});

/** Active handles of this process by kind (timers, sockets). */
function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}
