import { createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signatureHeader } from '../src/webhooks/signature.js';
import { closeClients } from './helpers/clients.js';
import { startServer, TEST_APP_SECRET, type RunningServer } from './helpers/server.js';
import {
  countDelta,
  expectOnlyThenControl,
  watcher,
  webhookCounts,
  type Deliveries,
} from './helpers/webhook-deliveries.js';
import { fixtureBytes, fixtureNames, flatEvent, postSigned } from './helpers/webhooks.js';

const WEBHOOK_PATH = '/api/webhooks/instagram';
const UNICODE_TEXT = 'Olá! Café às 9h? ❤️😀 привет مرحبا 日本';

/** POSTs `body` as JSON with exactly the given headers: no signature is added. */
const postWithHeaders = (url: string, body: Buffer | string, headers: Record<string, string>) => {
  let req = request(url).post(WEBHOOK_PATH).set('Content-Type', 'application/json');
  for (const [name, value] of Object.entries(headers)) req = req.set(name, value);
  return req.send(Buffer.isBuffer(body) ? body.toString('utf8') : body);
};

/** POSTs `body` in 256-byte chunks with `Transfer-Encoding: chunked`, so the server cannot know its size up front. */
function postChunked(url: string, body: Buffer, signature: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers = { 'Content-Type': 'application/json', 'X-Hub-Signature-256': signature };
    const req = httpRequest(new URL(WEBHOOK_PATH, url), { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.setTimeout(3000, () => req.destroy(new Error('chunked POST timed out')));
    req.on('error', reject);
    for (let at = 0; at < body.length; at += 256) req.write(body.subarray(at, at + 256));
    req.end();
  });
}

/** Asserts SPEC's JSON error shape with the given status and code. */
function expectError(res: { status: number; headers: Record<string, string>; body: unknown }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body).toEqual({ error: code, message: expect.any(String) });
  expect((res.body as { message: string }).message.length).toBeGreaterThan(0);
}

describe('webhook rejections', () => {
  let srv: RunningServer;
  let all: Deliveries;

  beforeAll(async () => {
    srv = await startServer({ DEMO_PAGE: 'false' });
    all = await watcher(srv.url);
  });
  afterAll(async () => {
    closeClients();
    await srv.stop();
  });

  /**
   * Runs `act`, which must be refused; then checks the counters moved by exactly `counted` and that nothing was
   * delivered: a valid POST afterwards (positive control) is the very next notification.
   */
  async function expectRefused(act: () => Promise<void>, counted: Record<string, number>) {
    const mark = all.events.length;
    const before = await webhookCounts(srv.url);
    await act();
    expect(countDelta(before, await webhookCounts(srv.url))).toEqual(counted);
    await expectOnlyThenControl(srv.url, all, mark);
  }

  describe('the signature header', () => {
    const body = fixtureBytes('comments.json');
    const hex = createHmac('sha256', TEST_APP_SECRET).update(body).digest('hex');
    const sha1 = createHmac('sha1', TEST_APP_SECRET).update(body).digest('hex');

    it.each<[string, Record<string, string>]>([
      ['no signature header', {}],
      ['only the legacy X-Hub-Signature (sha1), correct', { 'X-Hub-Signature': `sha1=${sha1}` }],
      ['sha256=xyz', { 'X-Hub-Signature-256': 'sha256=xyz' }],
      ['an empty sha256=', { 'X-Hub-Signature-256': 'sha256=' }],
      ['63 hex digits', { 'X-Hub-Signature-256': `sha256=${hex.slice(1)}` }],
      ['65 hex digits', { 'X-Hub-Signature-256': `sha256=${hex}0` }],
      ['64 characters that are not all hex', { 'X-Hub-Signature-256': `sha256=${hex.slice(1)}g` }],
      ['an md5= prefix', { 'X-Hub-Signature-256': `md5=${hex.slice(0, 32)}` }],
      ['the right digest without its sha256= prefix', { 'X-Hub-Signature-256': hex }],
      ['the right digest under a sha1= prefix', { 'X-Hub-Signature-256': `sha1=${hex}` }],
    ])('when the request has %s, then 401 invalid_signature and nothing is delivered', async (_case, headers) => {
      await expectRefused(async () => {
        expectError(await postWithHeaders(srv.url, body, headers), 401, 'invalid_signature');
      }, { invalid_signature: 1 });
    });

    it('when the well-formed signature was made with another secret, then 401 and nothing is delivered', async () => {
      await expectRefused(async () => {
        expectError(await postSigned(srv.url, body, 'not_the_app_secret'), 401, 'invalid_signature');
      }, { invalid_signature: 1 });
    });

    it('when the signature is of another body, then 401 and nothing is delivered', async () => {
      const other = signatureHeader(fixtureBytes('mentions.json'), TEST_APP_SECRET);
      await expectRefused(async () => {
        expectError(await postWithHeaders(srv.url, body, { 'X-Hub-Signature-256': other }), 401, 'invalid_signature');
      }, { invalid_signature: 1 });
    });

    it("when the signature covers the re-serialized JSON instead of Meta's \\u-escaped bytes, then 401", async () => {
      const raw = fixtureBytes('unicode_text.json');
      const reserialized = JSON.stringify(JSON.parse(raw.toString('utf8')));
      // The trap: same JSON value, different bytes (JSON.stringify writes the characters, Meta wrote \u escapes).
      expect(reserialized).toContain(UNICODE_TEXT);
      expect(Buffer.from(reserialized).equals(raw)).toBe(false);
      const header = { 'X-Hub-Signature-256': signatureHeader(reserialized, TEST_APP_SECRET) };

      await expectRefused(async () => {
        expectError(await postWithHeaders(srv.url, raw, header), 401, 'invalid_signature');
      }, { invalid_signature: 1 });

      // Positive control: the same bytes with the signature of those bytes are accepted and decoded.
      const from = all.events.length;
      expect((await postSigned(srv.url, raw)).status).toBe(200);
      expect((await all.until(1, { from }))[0]?.content).toBe(UNICODE_TEXT);
    });
  });

  describe('the body', () => {
    it.each([
      ['plain text', 'hello'],
      ['truncated JSON', '{"object":"instagram","entry":['],
      ['an empty body', ''],
      ['JSON with a trailing comma', '{"object":"instagram",}'],
    ])('when a signed body is %s, then 400 invalid_body and nothing is delivered', async (_case, body) => {
      await expectRefused(async () => {
        expectError(await postSigned(srv.url, body), 400, 'invalid_body');
      }, { invalid_body: 1 });
    });

    it.each([
      ['an empty object', '{}'],
      ['a page envelope', '{"object":"page","entry":[]}'],
      ['an instagram envelope without entries', '{"object":"instagram","entry":[]}'],
      ['an entry with no item list', '{"object":"instagram","entry":[{"id":"17841405822304914","time":1767620100}]}'],
      [
        'a change of a field it does not know',
        '{"object":"instagram","entry":[{"id":"17841405822304914","time":1767620100,"changes":[{"field":"feed","value":{"item":"status","verb":"add"}}]}]}',
      ],
      [
        'a messaging item of a kind it does not know',
        '{"object":"instagram","entry":[{"id":"17841405822304914","time":1767620100,"messaging":[{"sender":{"id":"1"},"recipient":{"id":"2"},"timestamp":1767620100000,"delivery":{"mids":["m"]}}]}]}',
      ],
      ['a JSON array', '[]'],
      ['JSON null', 'null'],
      ['a JSON string', '"EVENT"'],
      ['a JSON number', '42'],
    ])('when a signed body is %s, then 200 (so Meta does not retry), counted invalid_body, nothing delivered', async (_case, body) => {
      await expectRefused(async () => {
        const res = await postSigned(srv.url, body);
        expect(res.status).toBe(200);
        expect(res.text).toBe('EVENT_RECEIVED');
      }, { invalid_body: 1 });
    });
  });

  describe('a flipped bit anywhere in a signed body', () => {
    it('is always 401, while the body as signed is 200', async () => {
      const names = fixtureNames();
      const post = (body: Buffer, header: string) =>
        fetch(`${srv.url}${WEBHOOK_PATH}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': header },
          body: Uint8Array.from(body),
        });
      const before = await webhookCounts(srv.url);
      const mark = all.events.length;
      let runs = 0;

      // Bytes go through fetch: a flipped bit is often not UTF-8, which supertest cannot send as is.
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...names), fc.nat(), fc.nat(7), async (name, at, bit) => {
          const body = fixtureBytes(name);
          const flipped = Buffer.from(body);
          const index = at % flipped.length;
          flipped[index] = (flipped[index] as number) ^ (1 << bit);
          const res = await post(flipped, signatureHeader(body, TEST_APP_SECRET));
          runs += 1;
          expect(res.status).toBe(401);
          expect(await res.json()).toEqual({ error: 'invalid_signature', message: expect.any(String) });
        }),
        { numRuns: 40 },
      );

      expect(countDelta(before, await webhookCounts(srv.url))).toEqual({ invalid_signature: runs });
      await expectOnlyThenControl(srv.url, all, mark);
      // Positive control through the same path: the unflipped bytes of a fixture.
      const res = await post(fixtureBytes('unicode_text.json'), signatureHeader(fixtureBytes('unicode_text.json'), TEST_APP_SECRET));
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('EVENT_RECEIVED');
    });
  });
});

describe('WEBHOOK_BODY_LIMIT', () => {
  let srv: RunningServer;
  let all: Deliveries;

  beforeAll(async () => {
    srv = await startServer({ DEMO_PAGE: 'false', WEBHOOK_BODY_LIMIT: '1kb' });
    all = await watcher(srv.url);
  });
  afterAll(async () => {
    closeClients();
    await srv.stop();
  });

  it('when a signed body is over the limit, then 413 payload_too_large, counted invalid_body, nothing delivered', async () => {
    const body = JSON.stringify(flatEvent({ comment: { text: 'x'.repeat(2048) } }));
    expect(Buffer.byteLength(body)).toBeGreaterThan(1024);
    const before = await webhookCounts(srv.url);

    expectError(await postSigned(srv.url, body), 413, 'payload_too_large');

    expect(countDelta(before, await webhookCounts(srv.url))).toEqual({ invalid_body: 1 });
    await expectOnlyThenControl(srv.url, all, 0);
  });

  it('when an oversized signed body comes chunked, without Content-Length, then 413 all the same', async () => {
    const body = Buffer.from(JSON.stringify(flatEvent({ comment: { text: 'x'.repeat(4096) } })));
    const before = await webhookCounts(srv.url);
    const mark = all.events.length;

    const res = await postChunked(srv.url, body, signatureHeader(body, TEST_APP_SECRET));

    expect(res.status).toBe(413);
    expect(JSON.parse(res.text)).toEqual({ error: 'payload_too_large', message: expect.any(String) });
    expect(countDelta(before, await webhookCounts(srv.url))).toEqual({ invalid_body: 1 });
    await expectOnlyThenControl(srv.url, all, mark);
  });

  it('when a signed body is just under the limit, then it is accepted and delivered', async () => {
    const event = flatEvent();
    const padding = 1024 - Buffer.byteLength(JSON.stringify({ ...event, content: '' }));
    const body = JSON.stringify({ ...event, content: 'y'.repeat(padding) });
    expect(Buffer.byteLength(body)).toBe(1024);
    const from = all.events.length;

    expect((await postSigned(srv.url, body)).status).toBe(200);

    expect((await all.until(1, { from }))[0]?.id).toBe(event.id);
  });
});
