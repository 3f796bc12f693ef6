import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_BODY_DEADLINE_MS } from '../src/webhooks/body-deadline.js';
import { signatureHeader } from '../src/webhooks/signature.js';
import { bounded, closeClients } from './helpers/clients.js';
import { destroyRawSockets, rawExchange, requestHead } from './helpers/raw-http.js';
import { startServer, TEST_APP_SECRET, type RunningServer } from './helpers/server.js';
import {
  countDelta,
  expectOnlyThenControl,
  watcher,
  webhookCounts,
  type Deliveries,
} from './helpers/webhook-deliveries.js';
import { flatEvent } from './helpers/webhooks.js';

const PATH = '/api/webhooks/instagram';
/** Longest wait for the cut-off: the deadline plus generous slack for a loaded machine (not a timing assertion). */
const CUT_OFF_WAIT_MS = WEBHOOK_BODY_DEADLINE_MS + 5_000;

describe('a webhook body that trickles in', () => {
  let srv: RunningServer;
  let all: Deliveries;

  beforeAll(async () => {
    srv = await startServer({ DEMO_PAGE: 'false' });
    all = await watcher(srv.url);
  });
  afterAll(async () => {
    destroyRawSockets();
    closeClients();
    await srv.stop();
  });

  it('when a correctly signed body stops short (declared length, or chunked), then after the deadline: 408 request_timeout in JSON, Connection: close, the socket closed, counted invalid_body, nothing delivered', async () => {
    const mark = all.events.length;
    const before = await webhookCounts(srv.url);
    const body = Buffer.from(JSON.stringify(flatEvent({ id: 'trickled-1' })));
    const chunkedBody = Buffer.from(JSON.stringify(flatEvent({ id: 'trickled-2' })));
    const half = Math.floor(body.length / 2);
    const declared = rawExchange(
      srv.url,
      requestHead('POST', PATH, {
        Host: 'localhost',
        'Content-Type': 'application/json',
        'Content-Length': body.length,
        'X-Hub-Signature-256': signatureHeader(body, TEST_APP_SECRET),
      }) + body.subarray(0, half).toString('latin1'),
    );
    // Chunked: the server cannot know the size, so only the deadline ends it.
    const firstChunk = chunkedBody.subarray(0, half);
    const chunked = rawExchange(
      srv.url,
      requestHead('POST', PATH, {
        Host: 'localhost',
        'Content-Type': 'application/json',
        'Transfer-Encoding': 'chunked',
        'X-Hub-Signature-256': signatureHeader(chunkedBody, TEST_APP_SECRET),
      }) + `${firstChunk.length.toString(16)}\r\n${firstChunk.toString('latin1')}\r\n`,
    );

    for (const exchange of [declared, chunked]) {
      const response = await bounded(exchange.response, 'the 408', CUT_OFF_WAIT_MS);
      expect(response?.status).toBe(408);
      expect(response?.headers['connection']).toBe('close');
      expect(response?.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(response?.body ?? '')).toEqual({ error: 'request_timeout', message: expect.any(String) });
      await bounded(exchange.closed, 'the server to close the socket', 2_000);
    }
    expect(countDelta(before, await webhookCounts(srv.url))).toEqual({ invalid_body: 2 });
    // Positive control: a whole body right after is delivered, and is the only thing delivered.
    await expectOnlyThenControl(srv.url, all, mark);
  });

  it('when the body arrives in pieces but within the deadline, then it is accepted and delivered', async () => {
    const mark = all.events.length;
    const event = flatEvent({ id: 'pieces-1' });
    const body = Buffer.from(JSON.stringify(event));
    const exchange = rawExchange(
      srv.url,
      requestHead('POST', PATH, {
        Host: 'localhost',
        'Content-Type': 'application/json',
        'Content-Length': body.length,
        'X-Hub-Signature-256': signatureHeader(body, TEST_APP_SECRET),
      }),
    );
    for (let at = 0; at < body.length; at += 16) await exchange.write(body.subarray(at, at + 16));
    const response = await bounded(exchange.response, 'the answer', CUT_OFF_WAIT_MS);
    expect(response).toMatchObject({ status: 200, body: 'EVENT_RECEIVED' });
    expect((await all.arrival('pieces-1')).id).toBe('pieces-1');
    await expectOnlyThenControl(srv.url, all, mark, ['pieces-1']);
  });
});
