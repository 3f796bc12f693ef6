import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { BENCH_APP_SECRET } from './servers.js';

/** Real Meta envelopes (test/fixtures/instagram), one `changes` comment and one `messaging` message. */
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../test/fixtures/instagram/${name}`, import.meta.url), 'utf8')) as MetaEnvelope;

interface MetaEnvelope {
  object: string;
  entry: Array<{
    id: string;
    time: number;
    changes?: Array<{ field: string; value: Record<string, unknown> }>;
    messaging?: Array<Record<string, unknown> & { recipient: { id: string }; message: Record<string, unknown> }>;
  }>;
}

const COMMENT = fixture('comments.json');
const MESSAGE = fixture('messages_messaging.json');

export const nowMicros = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

/**
 * A signed Meta envelope for `accountId` whose notification id is `<prefix><seq>_<send time, epoch µs>`: the
 * comment id (`changes`, field `comments`) on even `seq`, the message `mid` (`messaging`) on odd ones.
 */
export function metaWebhook(accountId: string, prefix: string, seq: number): { body: string; signature: string } {
  const id = `${prefix}${seq}_${nowMicros()}`;
  const now = Math.floor(Date.now() / 1000);
  let envelope: MetaEnvelope;
  if (seq % 2 === 0) {
    const [entry] = COMMENT.entry;
    const [change] = entry?.changes ?? [];
    envelope = {
      object: 'instagram',
      entry: [{ ...entry, id: accountId, time: now, changes: [{ field: 'comments', value: { ...change?.value, id } }] }],
    };
  } else {
    const [entry] = MESSAGE.entry;
    const [item] = entry?.messaging ?? [];
    envelope = {
      object: 'instagram',
      entry: [
        {
          ...entry,
          id: accountId,
          time: now * 1000,
          messaging: [{ ...item, recipient: { id: accountId }, timestamp: now * 1000, message: { ...item?.message, mid: id } }],
        },
      ],
    };
  }
  const body = JSON.stringify(envelope);
  return { body, signature: `sha256=${createHmac('sha256', BENCH_APP_SECRET).update(body).digest('hex')}` };
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface Answer {
  status: number;
  ms: number;
}

/** POSTs one webhook over a kept-alive connection; resolves with the status and the answer time. */
export function postWebhook(url: string, webhook: { body: string; signature: string }): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(
      `${url}/api/webhooks/instagram`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(webhook.body),
          'x-hub-signature-256': webhook.signature,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      },
    );
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started }));
    req.end(webhook.body);
  });
}

/** GETs `path`; resolves with the answer time (status 0 on a network error). */
export function probe(url: string, path: string): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(`${url}${path}`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started }));
    req.end();
  });
}

/** Drops the kept-alive connections (between servers). */
export function forgetConnections(): void {
  agent.destroy();
}
