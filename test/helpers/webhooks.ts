import { readFileSync, readdirSync } from 'node:fs';
import request from 'supertest';
import { signatureHeader } from '../../src/webhooks/signature.js';
import { TEST_APP_SECRET } from './server.js';

export const FIXTURE_DIR = new URL('../fixtures/instagram/', import.meta.url);

/** The raw bytes of a fixture, exactly as Meta would send them. */
export const fixtureBytes = (name: string): Buffer => readFileSync(new URL(name, FIXTURE_DIR));

export const fixtureNames = (): string[] => readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.json')).sort();

/**
 * POSTs raw bytes with a correct `X-Hub-Signature-256`. superagent JSON-serializes a Buffer sent as JSON, so the
 * bytes go as a UTF-8 string, checked to round-trip exactly (use `fetch` for bodies that are not UTF-8).
 */
export function postSigned(url: string, body: Buffer | string, secret = TEST_APP_SECRET, headers: Record<string, string> = {}) {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : body;
  if (Buffer.isBuffer(body) && !Buffer.from(text, 'utf8').equals(body)) throw new Error('postSigned: body is not UTF-8');
  return request(url)
    .post('/api/webhooks/instagram')
    .set('Content-Type', 'application/json')
    .set('X-Hub-Signature-256', signatureHeader(body, secret))
    .set(headers)
    .send(text);
}

/** A flat-shape notification body (the guide's shape), unique by default. */
export function flatEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `evt_${Math.random().toString(36).slice(2)}`,
    eventType: 'comments',
    accountId: '17841400000000001',
    sender: { id: '111', username: 'alice' },
    comment: { text: 'Great post!' },
    timestamp: '2024-01-01T12:00:00.000Z',
    ...overrides,
  };
}

export const postFlat = (url: string, event: Record<string, unknown>, headers: Record<string, string> = {}) =>
  postSigned(url, JSON.stringify(event), TEST_APP_SECRET, headers);
