import { afterEach, describe, expect, it } from 'vitest';
import type { ClientOptions } from '../client/src/index.js';
import { ACCOUNT_A, ACCOUNT_B, closeClients } from './helpers/clients.js';
import { closeSdkClients, sdkClient, type SdkRecorder } from './helpers/sdk-client.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';


const servers: RunningServer[] = [];
const proxies: TcpProxy[] = [];
async function server(env: Record<string, string> = {}): Promise<RunningServer> {
  const srv = await startServer(env);
  servers.push(srv);
  return srv;
}
async function proxyTo(url: string): Promise<TcpProxy> {
  const proxy = await TcpProxy.start(url);
  proxies.push(proxy);
  return proxy;
}

afterEach(async () => {
  await closeSdkClients();
  closeClients();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

/** Posts `count` fresh comments in order; returns their ids (each answered 200). */
async function post(url: string, count: number, over: Record<string, unknown> = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const event = flatEvent({ comment: { text: `n${i}` }, ...over });
    expect((await postFlat(url, event)).status).toBe(200);
    ids.push(event.id as string);
  }
  return ids;
}

/** What the client sent over the wire, to tell which way it caught up. */
function outgoing(r: SdkRecorder): string[] {
  const frames: string[] = [];
  r.client.on('frame', (f) => {
    if (f.direction === 'out') frames.push(f.data);
  });
  return frames;
}
const historyRequests = (frames: string[]) => frames.filter((f) => f.includes('get_history')).length;

/** Cuts the client's network and keeps it down until `resume()`; resolves once the client noticed. */
async function goAway(proxy: TcpProxy, r: SdkRecorder): Promise<void> {
  const drops = r.states.filter((s) => s === 'reconnecting').length;
  proxy.pause();
  proxy.cut();
  await r.reached('reconnecting', drops + 1);
}

const CASES: { name: string; options: Partial<ClientOptions>; env: Record<string, string>; way: 'recovery' | 'history' }[] = [
  { name: 'Socket.IO (connection state recovery)', options: { transport: 'socketio' }, env: {}, way: 'recovery' },
  { name: 'Socket.IO without recovery', options: { transport: 'socketio' }, env: { RECOVERY_WINDOW_MS: '0' }, way: 'history' },
  { name: 'raw WebSocket', options: { transport: 'websocket' }, env: {}, way: 'history' },
];

describe.each(CASES)('catch-up over $name', ({ options, env, way }) => {
  it('when notifications are sent while the client is away, then after it returns each arrives once, in order, then live ones', async () => {
    const srv = await server({ HISTORY_SIZE: '500', ...env });
    const proxy = await proxyTo(srv.url);
    const r = sdkClient(proxy.url, options);
    const frames = outgoing(r);
    await r.reached('connected');
    const before = await post(srv.url, 3);
    await r.until(() => r.notifications.length === 3, 'the first three');

    await goAway(proxy, r);
    // More than one page of history (100): the client must ask again from the last id of a full page.
    const missed = await post(srv.url, 150);
    const historyBefore = historyRequests(frames);
    proxy.resume();
    await r.reached('connected', 2, 10_000);
    const after = await post(srv.url, 2);
    await r.received(after[1] as string, 10_000);

    expect(r.ids).toEqual([...before, ...missed, ...after]);
    expect(r.gaps).toEqual([]);
    expect(r.client.lastSeenId).toBe(after[1]);
    // Told apart by what went over the wire: a recovered session needs no history; otherwise two pages.
    expect(historyRequests(frames) - historyBefore).toBe(way === 'recovery' ? 0 : 2);
  });

  it('when the server kept fewer notifications than were missed, then gap fires once and the kept ones still arrive in order', async () => {
    const srv = await server({ HISTORY_SIZE: '20', RECOVERY_WINDOW_MS: '0', ...env });
    const proxy = await proxyTo(srv.url);
    const r = sdkClient(proxy.url, options);
    await r.reached('connected');
    const [seen] = await post(srv.url, 1);
    await r.received(seen as string);

    await goAway(proxy, r);
    const missed = await post(srv.url, 50);
    proxy.resume();
    await r.until(() => r.gaps.length > 0, 'gap', 10_000);
    const [live] = await post(srv.url, 1);
    await r.received(live as string);

    expect(r.gaps).toEqual([{ since: seen }]);
    // The 20 kept (the last 20 of those missed) in order, then live; nothing twice.
    expect(r.ids).toEqual([seen, ...missed.slice(-20), live]);
    // The gap is reported before what history still had.
    expect(r.log.findIndex((l) => l.startsWith('gap'))).toBeLessThan(r.log.indexOf(`notification ${missed.at(-20)}`));
  });

  it('when created with the lastSeenId of an earlier page load, then it first delivers what came after it; an unknown one is a gap', async () => {
    const srv = await server(env);
    const earlier = await post(srv.url, 5);
    const r = sdkClient(srv.url, { ...options, lastSeenId: earlier[1] });
    await r.reached('connected');
    const [live] = await post(srv.url, 1);
    await r.received(live as string);
    expect(r.ids).toEqual([...earlier.slice(2), live]);
    expect(r.gaps).toEqual([]);

    const lost = sdkClient(srv.url, { ...options, lastSeenId: 'an-id-this-server-never-had' });
    await lost.until(() => lost.notifications.length === 6, 'all kept');
    expect(lost.gaps).toEqual([{ since: 'an-id-this-server-never-had' }]);
    expect(lost.ids).toEqual([...earlier, live]);
  });
});

describe.each(['socketio', 'websocket'] as const)('a server restart, over %s', (transport) => {
  it('when the server stops and another starts on the same port, then the client comes back by itself; gap says what memory lost', async () => {
    const first = await server();
    const port = new URL(first.url).port;
    const r = sdkClient(first.url, { transport });
    await r.reached('connected');
    const before = await post(first.url, 2);
    await r.until(() => r.notifications.length === 2, 'the first two');

    await first.stop();
    await r.reached('reconnecting');
    // SPEC: the drain tells every socket before closing it.
    expect(r.errors).toContainEqual({ code: 'server_shutdown', message: 'Server shutting down' });
    const second = await server({ PORT: port });
    // Sent to the new server before the client is back: its history has them.
    const early = await post(second.url, 2);
    await r.reached('connected', 2, 15_000);
    const late = await post(second.url, 1);
    await r.received(late[0] as string);

    // The new server's memory history does not know the last id the client saw: it cannot vouch for the gap.
    expect(r.gaps).toEqual([{ since: before[1] }]);
    expect(r.ids).toEqual([...before, ...early, ...late]);
  });
});

describe('dedupe where history and other deliveries overlap', () => {
  it('when one id stands for two notifications and history resumes from the older, then the newer is not delivered twice', async () => {
    const srv = await server({ RECOVERY_WINDOW_MS: '0' });
    const proxy = await proxyTo(srv.url);
    const r = sdkClient(proxy.url, { transport: 'websocket' });
    const pages: string[] = [];
    r.client.on('frame', (f) => {
      if (f.direction === 'in' && f.data.startsWith('{"type":"history"')) pages.push(f.data);
    });
    await r.reached('connected');
    // A comment on account A that mentions account B: two notifications with one id (SPEC: same id, distinct type/account).
    const twin = `twin_${Date.now()}`;
    await postFlat(srv.url, flatEvent({ id: twin, accountId: ACCOUNT_A }));
    await postFlat(srv.url, flatEvent({ id: twin, accountId: ACCOUNT_B, eventType: 'mentions', comment: undefined }));
    await r.until(() => r.notifications.length === 2, 'both twins');

    await goAway(proxy, r);
    const [missed] = await post(srv.url, 1);
    const pagesBefore = pages.length;
    proxy.resume();
    await r.received(missed as string, 10_000);
    const [live] = await post(srv.url, 1);
    await r.received(live as string);

    // History resumed from the older twin, so its page repeated the newer one (the overlap is real)...
    expect(pages.slice(pagesBefore).join('')).toContain(`"id":"${twin}","eventType":"mentions"`);
    // ...which the client delivered once.
    expect(r.notifications.map((n) => `${n.id}/${n.eventType}`)).toEqual([
      `${twin}/comments`,
      `${twin}/mentions`,
      `${missed}/comments`,
      `${live}/comments`,
    ]);
  });

  it('when the connection drops during a catch-up and Socket.IO recovers the session, then what recovery and history both bring arrives once', async () => {
    const srv = await server();
    const proxy = await proxyTo(srv.url);
    const earlier = await post(srv.url, 3);
    const r = sdkClient(proxy.url, { transport: 'socketio', socketioTransports: ['websocket'], lastSeenId: earlier[0] });
    // Cut the network the moment the first catch-up asks for history: the session is subscribed but not caught up.
    let cutOnce = false;
    r.client.on('frame', (f) => {
      if (!cutOnce && f.direction === 'out' && f.data.includes('"get_history"')) {
        cutOnce = true;
        proxy.pause();
        proxy.cut();
      }
    });
    await r.reached('reconnecting');
    expect(r.notifications).toEqual([]);
    // Missed while away: recovery replays these, and the catch-up that must still run brings them as well.
    const missed = await post(srv.url, 2);
    proxy.resume();
    await r.reached('connected', 1, 10_000);
    const [live] = await post(srv.url, 1);
    await r.received(live as string);
    expect(r.ids).toEqual([...earlier.slice(1), ...missed, live]);
    expect(r.gaps).toEqual([]);
  });
});
