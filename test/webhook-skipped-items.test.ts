import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SKIP_REASONS, type SkipReason } from '../src/notifications/normalize/index.js';
import { createLogger } from '../src/observability/logger.js';
import { createNotificationServer, type NotificationServer } from '../src/server/notification-server.js';
import { closeClients } from './helpers/clients.js';
import { testConfig } from './helpers/server.js';
import { countDelta, expectOnlyThenControl, watcher, webhookCounts, type Deliveries } from './helpers/webhook-deliveries.js';
import { flatEvent, postFlat, postSigned } from './helpers/webhooks.js';

const ACCOUNT = '17841400000000001';
const CUSTOMER = '2718459203385561';
/** Message text inside skipped items: it must never reach a log line. */
const MARKER = `private-text-${randomBytes(8).toString('hex')}`;

/** pino's numeric level of warn. */
const WARN = 40;

interface LogLine {
  readonly raw: string;
  readonly level: number;
  readonly msg?: string;
  readonly skips?: { kind: string; reason: SkipReason; count: number }[];
}

const envelope = (item: Record<string, unknown>) => JSON.stringify({ object: 'instagram', entry: [{ id: ACCOUNT, time: 1767609600, ...item }] });

describe('items of a signed webhook that deliver nothing are counted and logged with their reason', () => {
  const lines: LogLine[] = [];
  let server: NotificationServer;
  let url: string;
  let all: Deliveries;

  beforeAll(async () => {
    const config = testConfig({ DEMO_PAGE: 'false' });
    const destination = {
      write(chunk: string): void {
        for (const raw of chunk.split('\n').filter((l) => l.length > 0)) lines.push({ raw, ...(JSON.parse(raw) as Omit<LogLine, 'raw'>) });
      },
    };
    server = createNotificationServer(config, createLogger('warn', destination));
    url = `http://127.0.0.1:${(await server.listen()).port}`;
    all = await watcher(url);
  });
  afterAll(async () => {
    closeClients();
    await server.stop();
  });

  /** `instantchat_webhook_items_skipped_total` by reason, read from `GET /metrics` as Prometheus would. */
  async function skippedByReason(): Promise<Record<string, number>> {
    const text = await (await fetch(`${url}/metrics`)).text();
    const counts: Record<string, number> = {};
    for (const [, reason, value] of text.matchAll(/^instantchat_webhook_items_skipped_total\{reason="(\w+)"\} (\d+)$/gm)) {
      counts[reason as string] = Number(value);
    }
    return counts;
  }

  const delta = (before: Record<string, number>, after: Record<string, number>) =>
    Object.fromEntries(Object.entries(after).filter(([k, v]) => v !== (before[k] ?? 0)).map(([k, v]) => [k, v - (before[k] ?? 0)]));

  it('exposes the counter by reason, every reason at zero from the start', async () => {
    expect(Object.keys(await skippedByReason()).sort()).toEqual(Object.keys(SKIP_REASONS).sort());
  });

  it('when known and unusable items are mixed, then the known ones are delivered, and each other one is counted and logged at warn with its reason and kind, never its text', async () => {
    const mark = all.events.length;
    const before = await skippedByReason();
    const from = lines.length;
    const body = JSON.stringify({
      object: 'instagram',
      entry: [
        {
          id: ACCOUNT,
          time: 1767609600,
          changes: [
            { field: 'comments', value: { from: { id: CUSTOMER, username: 'u' }, media: { id: 'm' }, id: 'c-mixed-1', text: 'hi' } },
            { field: 'feed', value: { item: 'status', message: MARKER } },
          ],
        },
        {
          id: ACCOUNT,
          messaging: [
            { sender: { id: CUSTOMER }, recipient: { id: ACCOUNT }, timestamp: 1767615361127, delivery: { mids: ['x'] } },
            { sender: { id: CUSTOMER }, recipient: { id: ACCOUNT }, timestamp: 1767615361128, message: { text: MARKER } },
          ],
        },
      ],
    });
    expect((await postSigned(url, body)).status).toBe(200);
    await expectOnlyThenControl(url, all, mark, ['c-mixed-1']);

    expect(delta(before, await skippedByReason())).toEqual({ unknown_field: 1, unknown_kind: 1, missing_id: 1 });
    const warned = lines.slice(from).filter((l) => l.level === WARN && l.skips !== undefined);
    expect(warned).toHaveLength(1);
    expect(warned[0]?.skips).toEqual([
      { kind: 'changes.feed', reason: 'unknown_field', count: 1 },
      { kind: 'messaging.delivery', reason: 'unknown_kind', count: 1 },
      { kind: 'messaging.message', reason: 'missing_id', count: 1 },
    ]);
    expect(lines.some((l) => l.raw.includes(MARKER))).toBe(false);
  });

  it('when every item is skipped, then 200 and invalid_body, and the warn line says why', async () => {
    const mark = all.events.length;
    const before = await skippedByReason();
    const counts = await webhookCounts(url);
    const from = lines.length;
    expect((await postSigned(url, envelope({ changes: [{ field: 'feed', value: {} }, { field: 'comments' }] }))).status).toBe(200);
    expect(countDelta(counts, await webhookCounts(url))).toEqual({ invalid_body: 1 });
    expect(delta(before, await skippedByReason())).toEqual({ unknown_field: 1, missing_value: 1 });
    const warned = lines.slice(from).find((l) => l.level === WARN && l.skips !== undefined);
    expect(warned?.skips).toEqual([
      { kind: 'changes.feed', reason: 'unknown_field', count: 1 },
      { kind: 'changes.comments', reason: 'missing_value', count: 1 },
    ]);
    await expectOnlyThenControl(url, all, mark);
  });

  it('when a read receipt names no sender, then it is delivered with what it has, and nothing is counted as skipped', async () => {
    const before = await skippedByReason();
    const body = envelope({ messaging: [{ recipient: { id: ACCOUNT }, timestamp: 1767615361127, read: { mid: 'mid-read-1' } }] });
    expect((await postSigned(url, body)).status).toBe(200);
    expect(await all.arrival('mid-read-1:read')).toStrictEqual({
      id: 'mid-read-1:read',
      eventType: 'messaging_seen',
      accountId: ACCOUNT,
      sender: {},
      timestamp: '2026-01-05T12:16:01.127Z',
      details: { targetMid: 'mid-read-1' },
    });
    expect(delta(before, await skippedByReason())).toEqual({});
  });

  it('when a flat event has an unreadable timestamp, then it is delivered stamped with its arrival time', async () => {
    const event = flatEvent({ timestamp: 'yesterday-ish' });
    const before = Date.now();
    expect((await postFlat(url, event)).status).toBe(200);
    const after = Date.now();
    const delivered = await all.arrival(event.id as string);
    expect(Date.parse(delivered.timestamp)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(delivered.timestamp)).toBeLessThanOrEqual(after);
  });
});
