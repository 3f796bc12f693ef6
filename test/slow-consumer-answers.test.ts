import type { Socket as NetSocket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectedClients, publishAsAdmin } from './helpers/admin-api.js';
import { spawnMeasuredServer, type SpawnedServer } from './helpers/server.js';
import { describeUsage, measureUsage, type UsageDelta } from './helpers/process-usage.js';
import { ACCOUNT_A, closeClients, openClient, type TestClient } from './helpers/clients.js';
import { mintToken } from './helpers/tokens.js';
import { flatEvent } from './helpers/webhooks.js';
import { WsTestClient, type WsFrame } from './helpers/ws-client.js';

/**
 * Issue 9, SPEC "Limits and bad input": a client that stops reading is disconnected whatever it is sent, answers
 * included, once its unsent data passes MAX_CLIENT_BUFFER_BYTES, and the disconnect is announced
 * (`error {code: "slow_consumer"}`) as far as it can still be sent. The attacker authenticates, stops reading (its
 * TCP socket paused) and asks `get_history` for large notifications many times a second; today the answers pile up
 * in the server's memory and it is never disconnected. Judged by the server's own state (`GET /api/admin/clients`)
 * and its resident memory, read from /proc.
 */

/** Small, so that a fixed server disconnects early; each answer stays well under it (see ANSWER_EVENTS). */
const MAX_CLIENT_BUFFER_BYTES = 262_144;
/** Raised from SPEC's default 50 so that the attack can ask faster than its answers drain (SPEC lets operators). */
const SOCKET_EVENT_RATE_LIMIT = 500;
/** Each kept notification's text: large, as a DM or a long comment thread may be (admin API bodies are <= 100 KB). */
const CONTENT_BYTES = 40_000;
/** Notifications per `get_history` answer: about 120 KB, under half the limit, so one answer alone never trips it. */
const ANSWER_EVENTS = 3;
/**
 * The attack: bursts of requests at a fixed pace, 100 a second (under the raised rate limit): about 12 MB of answers
 * a second, so that a check once a second (Socket.IO's today) still keeps memory within MAX_RSS_GROWTH_MB.
 */
const BURST = 5;
const BURST_INTERVAL_MS = 50;
/** At most this many requests (about 96 MB of answers) and this long: bounded however the server behaves. */
const MAX_REQUESTS = 800;
const MAX_ATTACK_MS = 12_000;
/** How often the attack asks the server whether the attacker is still connected (admin API). */
const CHECK_EVERY_BURSTS = 2;
/**
 * What the server's resident memory may grow by during the attack: a fixed server holds at most about
 * MAX_CLIENT_BUFFER_BYTES for the attacker (the kernel's socket buffers hold a few MB more, outside the process), plus
 * garbage from encoding the answers. Today: about 1 MB per 10 requests, never released (the issue measured +103 MB).
 */
const MAX_RSS_GROWTH_MB = 32;
/** The positive control: a client that reads, one request at a time (as the SDK pages history), as many requests. */
const READER_REQUESTS = 200;
/** Waiting bounds: a resumed attacker reads its whole backlog before the server's goodbye. */
const CLOSE_AFTER_RESUME_MS = 30_000;
const ANSWER_TIMEOUT_MS = 10_000;

const HISTORY_REQUEST = { limit: ANSWER_EVENTS };

/** The TCP socket under a raw `ws` client. */
const wsTcp = (client: WsTestClient): NetSocket => (client.ws as unknown as { _socket: NetSocket })._socket;
/** The TCP socket under a socket.io-client connection on the websocket transport. */
const ioTcp = (client: TestClient): NetSocket =>
  (client.socket.io.engine.transport as unknown as { ws: { _socket: NetSocket } }).ws._socket;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('slow consumers of answers: a client that stops reading is disconnected at MAX_CLIENT_BUFFER_BYTES', () => {
  let srv: SpawnedServer;
  const paused: NetSocket[] = [];
  const wsClients: WsTestClient[] = [];

  beforeEach(async () => {
    srv = await spawnMeasuredServer({
      MAX_CLIENT_BUFFER_BYTES: String(MAX_CLIENT_BUFFER_BYTES),
      SOCKET_EVENT_RATE_LIMIT: String(SOCKET_EVENT_RATE_LIMIT),
    });
    // Kept history: what every `get_history` answers with (the latest ANSWER_EVENTS).
    for (let i = 0; i < ANSWER_EVENTS; i++) {
      await publishAsAdmin(srv, flatEvent({ accountId: ACCOUNT_A, comment: { text: String(i).repeat(CONTENT_BYTES) } }));
    }
  });

  afterEach(async () => {
    // A peer that never reads would hold its close handshake open: read again, then close.
    for (const socket of paused.splice(0)) socket.resume();
    for (const client of wsClients.splice(0)) client.close();
    closeClients();
    await srv.stop();
  });

  const isConnected = async (userId: string) => (await connectedClients(srv)).some((c) => c.userId === userId);

  /**
   * Sends `request()` in paced bursts until the server no longer lists `userId` as connected, or the bounds. Returns
   * how many were sent and whether the server disconnected the client.
   */
  async function attack(userId: string, request: () => void): Promise<{ sent: number; disconnected: boolean }> {
    let sent = 0;
    let bursts = 0;
    const deadline = Date.now() + MAX_ATTACK_MS;
    while (sent < MAX_REQUESTS && Date.now() < deadline) {
      for (let i = 0; i < BURST; i++) request();
      sent += BURST;
      await pause(BURST_INTERVAL_MS);
      if (++bursts % CHECK_EVERY_BURSTS === 0 && !(await isConnected(userId))) return { sent, disconnected: true };
    }
    return { sent, disconnected: !(await isConnected(userId)) };
  }

  function report(what: string, reader: UsageDelta, attacker: UsageDelta, result: { sent: number; disconnected: boolean }) {
    console.log(
      `${what}:\n  ${describeUsage(`reader, ${READER_REQUESTS} requests`, reader)}\n  ` +
        `${describeUsage(`attacker, ${result.sent} requests`, attacker)}; disconnected: ${result.disconnected}`,
    );
  }

  /** For the report: what reached the attacker once it read again (what the kernel and the server still held). */
  function reportAfterResume(what: string, frames: WsFrame[]) {
    const answers = frames.filter((f) => f.type === 'history').length;
    console.log(`${what}: after resuming, ${answers} answers then ${JSON.stringify(frames.slice(frames.map((f) => f.type).lastIndexOf('history') + 1))}`);
  }

  function expectBounded(attacker: UsageDelta, result: { sent: number; disconnected: boolean }) {
    expect(srv.alive(), srv.output()).toBe(true);
    expect(result.disconnected, `still connected after ${result.sent} get_history requests it never read`).toBe(true);
    expect(attacker.rssGrowthMb, 'server RSS growth (MB) during the attack').toBeLessThanOrEqual(MAX_RSS_GROWTH_MB);
  }

  describe('raw WebSocket', () => {
    async function authed(userId: string): Promise<WsTestClient> {
      const client = new WsTestClient(srv.url);
      wsClients.push(client);
      await client.opened();
      client.send({ type: 'authenticate', token: mintToken({ userId, accountIds: ['*'] }, { expiresIn: 3600 }), userId });
      await client.next('auth_success');
      return client;
    }

    it('a client that stops reading and keeps asking get_history is disconnected, memory stays bounded; a reader is not', async () => {
      // Positive control: a client that reads gets every answer and stays connected.
      const reader = await authed('reader');
      const { usage: readerUsage } = await measureUsage(srv.pid, async () => {
        for (let i = 0; i < READER_REQUESTS; i++) {
          reader.send({ type: 'get_history', ...HISTORY_REQUEST });
          const answer = await reader.next('history', ANSWER_TIMEOUT_MS);
          expect((answer.events as unknown[]).length).toBe(ANSWER_EVENTS);
        }
      });
      expect(await isConnected('reader')).toBe(true);
      reader.send({ type: 'heartbeat', timestamp: Date.now() });
      await reader.next('heartbeat_response');

      const attacker = await authed('slow-ws');
      const tcp = wsTcp(attacker);
      tcp.pause();
      paused.push(tcp);
      const { result, usage } = await measureUsage(srv.pid, () =>
        attack('slow-ws', () => attacker.send({ type: 'get_history', ...HISTORY_REQUEST })),
      );
      report('raw WebSocket, get_history while not reading', readerUsage, usage, result);
      expectBounded(usage, result);
      // The reader was not disconnected meanwhile.
      expect(await isConnected('reader')).toBe(true);

      // Reading again, the attacker finds what was sent before the disconnect, then the close; anything after the
      // answers is the announcement.
      tcp.resume();
      const closed = await attacker.closedWithin(CLOSE_AFTER_RESUME_MS);
      reportAfterResume(`raw WebSocket (close ${closed.code} ${closed.reason})`, attacker.frames);
      expectAnnouncedLast(attacker.frames);
    }, 120_000);
  });

  describe('Socket.IO over the websocket transport', () => {
    async function authed(userId: string): Promise<TestClient> {
      const client = openClient(srv.url, { token: mintToken({ userId, accountIds: ['*'] }, { expiresIn: 3600 }) });
      await client.inbox.waitFor('auth_success', { failOn: ['connect_error', 'disconnect'] });
      return client;
    }

    it('a client that stops reading and keeps asking get_history is disconnected, memory stays bounded; a reader is not', async () => {
      const reader = await authed('reader');
      const { usage: readerUsage } = await measureUsage(srv.pid, async () => {
        for (let i = 0; i < READER_REQUESTS; i++) {
          const answer = await reader.request('get_history', HISTORY_REQUEST, ANSWER_TIMEOUT_MS);
          expect((answer as { events: unknown[] }).events).toHaveLength(ANSWER_EVENTS);
        }
      });
      expect(await isConnected('reader')).toBe(true);
      await reader.settle();

      const attacker = await authed('slow-io');
      // Everything it receives from now on, in order, as raw WebSocket frames would show it.
      const received: WsFrame[] = [];
      attacker.socket.onAny((event: string, payload: unknown) => received.push({ ...(payload as object), type: event }));
      const tcp = ioTcp(attacker);
      tcp.pause();
      paused.push(tcp);
      const { result, usage } = await measureUsage(srv.pid, () =>
        attack('slow-io', () => attacker.emitRaw('get_history', HISTORY_REQUEST)),
      );
      report('Socket.IO, get_history while not reading', readerUsage, usage, result);
      expectBounded(usage, result);
      expect(await isConnected('reader')).toBe(true);
      await reader.settle();

      tcp.resume();
      const reason = await attacker.disconnected(CLOSE_AFTER_RESUME_MS);
      reportAfterResume(`Socket.IO (${reason})`, received);
      expectAnnouncedLast(received);
    }, 120_000);
  });
});

/** SPEC: if anything arrives after the answers, the last thing is the announcement `error {code: "slow_consumer"}`. */
function expectAnnouncedLast(frames: WsFrame[]): void {
  const lastAnswer = frames.map((f) => f.type).lastIndexOf('history');
  const after = frames.slice(lastAnswer + 1);
  if (after.length > 0) expect(after.at(-1)).toMatchObject({ type: 'error', code: 'slow_consumer' });
}
