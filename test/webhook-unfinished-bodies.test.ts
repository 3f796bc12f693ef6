import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_BODY_DEADLINE_MS } from '../src/webhooks/body-deadline.js';
import { signatureHeader } from '../src/webhooks/signature.js';
import { MAX_BODIES_QUEUED_PER_CLIENT, MAX_BODIES_READ_PER_CLIENT } from '../src/webhooks/unfinished-bodies.js';
import { bounded, closeClients } from './helpers/clients.js';
import { destroyRawSockets, rawExchange, requestHead, type RawExchange, type RawResponse } from './helpers/raw-http.js';
import { spawnServer, startServer, TEST_APP_SECRET, testEnv, type RunningServer, type SpawnedServer } from './helpers/server.js';
import { countDelta, watcher, webhookCounts } from './helpers/webhook-deliveries.js';
import { flatEvent } from './helpers/webhooks.js';

const PATH = '/api/webhooks/instagram';
const BOGUS_SIGNATURE = `sha256=${'ab'.repeat(32)}`;
const MiB = 1024 * 1024;

/** A signed flat event as raw bytes with the headers Meta would send, plus any extra ones. */
function signedPost(event: Record<string, unknown>, extra: Record<string, string> = {}): string {
  const body = JSON.stringify(event);
  return (
    requestHead('POST', PATH, {
      Host: 'localhost',
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
      'X-Hub-Signature-256': signatureHeader(body, TEST_APP_SECRET),
      ...extra,
    }) + body
  );
}

/** SPEC's error shape for a refusal of this bound, with the hint of when to come back. */
function expectTooManyRequests(response: RawResponse | undefined) {
  expect(response?.status).toBe(429);
  expect(response?.headers['retry-after']).toBe(String(Math.ceil(WEBHOOK_BODY_DEADLINE_MS / 1000)));
  expect(response?.headers['connection']).toBe('close');
  expect(JSON.parse(response?.body ?? '')).toEqual({ error: 'too_many_requests', message: expect.any(String) });
}

describe('concurrent unfinished webhook bodies from one client address', () => {
  afterEach(() => destroyRawSockets());

  describe('150 connections from one address, each sending 999 999 of a declared 1 000 000 bytes (the real process)', () => {
    let proc: SpawnedServer;
    beforeAll(async () => {
      proc = await spawnServer(testEnv({ NODE_ENV: 'production', LOG_LEVEL: 'error', CONNECT_RATE_LIMIT: undefined }), {
        waitFor: '/healthz',
      });
    });
    afterAll(() => proc.stop());

    /** The server's own memory, as an operator's Prometheus reads it. */
    async function memory(): Promise<{ rss: number; external: number }> {
      const text = await (await fetch(`${proc.url}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      return { rss: value('process_resident_memory_bytes'), external: value('nodejs_external_memory_bytes') };
    }

    it(`then at most ${MAX_BODIES_READ_PER_CLIENT} bodies are read (and held in memory) at once, every one is cut off at the deadline, and a whole POST afterwards is accepted`, async () => {
      const declared = 1_000_000;
      const before = await memory();
      const countsBefore = await webhookCounts(proc.url);
      const filler = Buffer.alloc(declared - 1, 0x20);
      const exchanges: RawExchange[] = [];
      let settled = 0;
      for (let i = 0; i < 150; i++) {
        const head = requestHead('POST', PATH, {
          Host: 'localhost',
          'Content-Type': 'application/json',
          'Content-Length': declared,
          'X-Hub-Signature-256': BOGUS_SIGNATURE,
        });
        const exchange = rawExchange(proc.url, head);
        void exchange.write(filler).catch(() => undefined);
        void exchange.response.then(() => settled++);
        exchanges.push(exchange);
      }
      // Sample the server's memory while the bodies are held (until the first answer, at the deadline), then until
      // every connection has its answer: at the deadline, places freed by cut-off bodies go to waiting ones for their
      // last milliseconds, and cut-off buffers await garbage collection, so the overall peak is only reported.
      let held = before;
      let overall = before;
      const deadline = Date.now() + WEBHOOK_BODY_DEADLINE_MS + 15_000;
      while (settled < 150 && Date.now() < deadline) {
        const now = await memory();
        overall = { rss: Math.max(overall.rss, now.rss), external: Math.max(overall.external, now.external) };
        if (settled === 0) held = { rss: Math.max(held.rss, now.rss), external: Math.max(held.external, now.external) };
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(settled).toBe(150);
      const statuses = (await Promise.all(exchanges.map((e) => e.response))).map((r) => r?.status ?? 'reset');
      // The server answered every one 408 and counted it. A client whose body was left unread (it waited for a
      // place) may see the close as a reset before it reads its 408; none got anything else.
      expect(countDelta(countsBefore, await webhookCounts(proc.url))).toEqual({ invalid_body: 150 });
      expect(statuses.every((s) => s === 408 || s === 'reset')).toBe(true);
      // Memory held: the bodies read (64 × ~1 MB) and ~64 KB per waiting request; reading all 150 would be ~143 MiB
      // of buffers (156 MiB of RSS measured before this bound). Generous bounds: this is not a benchmark.
      expect(held.external - before.external).toBeLessThan(95 * MiB);
      expect(held.rss - before.rss).toBeLessThan(125 * MiB);
      const grew = (to: { rss: number; external: number }) =>
        `RSS +${Math.round((to.rss - before.rss) / MiB)} MiB, external +${Math.round((to.external - before.external) / MiB)} MiB`;
      console.log(
        `150 trickling bodies: while held ${grew(held)}; overall peak ${grew(overall)}; answers ${JSON.stringify(countBy(statuses))}`,
      );

      // Positive control: the places are free again; a whole signed POST is accepted.
      const control = await bounded(rawExchange(proc.url, signedPost(flatEvent())).response, 'the control POST');
      expect(control).toMatchObject({ status: 200, body: 'EVENT_RECEIVED' });
    }, 40_000);
  });

  describe('on one server (TRUST_PROXY: the address comes from X-Forwarded-For)', () => {
    let srv: RunningServer;
    beforeAll(async () => {
      srv = await startServer({ DEMO_PAGE: 'false', TRUST_PROXY: 'true' });
    });
    afterAll(async () => {
      closeClients();
      await srv.stop();
    });

    /** `count` requests from addresses of `prefix` (an IPv6 /64) that send headers and no body; resolves once taken. */
    async function holdBodies(prefix: string, count: number): Promise<RawExchange[]> {
      const held: RawExchange[] = [];
      const taken: Promise<void>[] = [];
      for (let i = 1; i <= count; i++) {
        // `Expect: 100-continue`: Node answers "100 Continue" as it hands the request to the app, which takes its
        // place (or its turn) in that same tick: once the interim answer is in, the request is in flight.
        const exchange = rawExchange(
          srv.url,
          requestHead('POST', PATH, {
            Host: 'localhost',
            'Content-Length': 100,
            'X-Hub-Signature-256': BOGUS_SIGNATURE,
            'X-Forwarded-For': `${prefix}:${i.toString(16)}:0:1`,
            Expect: '100-continue',
          }),
        );
        taken.push(interimContinue(exchange));
        held.push(exchange);
      }
      await bounded(Promise.all(taken), `${count} requests to be in flight`);
      return held;
    }

    const post = (xff: string, event = flatEvent()) =>
      rawExchange(srv.url, signedPost(event, { 'X-Forwarded-For': xff }));

    it('when Meta sends a burst of 200 parallel signed POSTs from one address, then every one is answered 200 and delivered to a subscribed socket', async () => {
      const all = await watcher(srv.url);
      const before = await webhookCounts(srv.url);
      // Realistic bodies: a few KB each, as Meta's batched entries are.
      const events = Array.from({ length: 200 }, (_, i) =>
        flatEvent({ id: `burst-${i}`, comment: { text: `burst ${i} ${'x'.repeat(4000)}` } }),
      );
      const statuses = await Promise.all(events.map((event) => postOnItsOwnConnection(srv.url, event)));
      expect(countBy(statuses)).toEqual({ 200: 200 });
      await all.until(200, { timeoutMs: 10_000 });
      expect(new Set(all.ids)).toEqual(new Set(events.map((e) => e.id)));
      expect(countDelta(before, await webhookCounts(srv.url))).toEqual({ accepted: 200 });
    });

    it(`when ${MAX_BODIES_READ_PER_CLIENT} bodies of one /64 are being read, then its next POST waits unread and is served as soon as one of them ends`, async () => {
      const all = await watcher(srv.url, ['*'], 'queue-watcher');
      const held = await holdBodies('2001:db8:0:a:0', MAX_BODIES_READ_PER_CLIENT);
      const waiting = post('2001:db8:0:a::ffff', flatEvent({ id: 'waited-1' }));
      let answered = false;
      void waiting.response.then(() => (answered = true));
      // Positive control: another /64 is served meanwhile; by its answer the waiting POST had every chance to be.
      expect(await bounded(post('2001:db8:0:b::1').response, 'the other /64')).toMatchObject({ status: 200 });
      expect(answered).toBe(false);
      expect(all.ids).not.toContain('waited-1');

      held[0]?.socket.destroy();
      expect(await bounded(waiting.response, 'the POST that waited')).toMatchObject({ status: 200, body: 'EVENT_RECEIVED' });
      expect((await all.arrival('waited-1')).id).toBe('waited-1');
    });

    it(`when ${MAX_BODIES_READ_PER_CLIENT} bodies are read and ${MAX_BODIES_QUEUED_PER_CLIENT} wait from addresses of one /64, then another address of it is refused 429, while another /64 and an IPv4 client are served; once they leave, the /64 is served again`, async () => {
      const held = await holdBodies('2001:db8:0:c:0', MAX_BODIES_READ_PER_CLIENT + MAX_BODIES_QUEUED_PER_CLIENT);
      expectTooManyRequests(await bounded(post('2001:db8:0:c::ffff').response, 'the answer from the same /64'));
      expect(await bounded(post('::ffff:203.0.113.7').response, 'an IPv4 client')).toMatchObject({ status: 200 });
      expect(await bounded(post('2001:db8:0:d::1').response, 'another /64')).toMatchObject({ status: 200 });

      for (const exchange of held) exchange.socket.destroy();
      await Promise.all(held.map((e) => e.closed));
      const afterwards = await bounded(post('2001:db8:0:c::ffff').response, 'the answer once the /64 has left');
      expect(afterwards).toMatchObject({ status: 200, body: 'EVENT_RECEIVED' });
    });
  });
});

/** Resolves once the server sent `HTTP/1.1 100 Continue` on this connection. */
function interimContinue(exchange: RawExchange): Promise<void> {
  return new Promise((resolve) => {
    const onData = (chunk: Buffer) => {
      if (!chunk.toString('latin1').startsWith('HTTP/1.1 100')) return;
      exchange.socket.off('data', onData);
      resolve();
    };
    exchange.socket.on('data', onData);
  });
}

/** One POST on a connection of its own (no keep-alive pool): as many parallel connections as requests. */
function postOnItsOwnConnection(url: string, event: Record<string, unknown>): Promise<number> {
  const body = JSON.stringify(event);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      new URL(PATH, url),
      {
        method: 'POST',
        agent: false,
        headers: {
          'Content-Type': 'application/json',
          'X-Hub-Signature-256': signatureHeader(body, TEST_APP_SECRET),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('burst POST timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

function countBy<T extends string | number>(values: T[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
  return counts;
}
