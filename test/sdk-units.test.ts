import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay } from '../client/src/backoff.js';
import { CatchUp, catchUpFromEmpty, catchUpSince, newestId, type CatchUpDeps } from '../client/src/catch-up.js';
import { notificationKey, RecentKeys } from '../client/src/dedupe.js';
import { Delivery, MAX_HELD } from '../client/src/delivery.js';
import { Heartbeat, heartbeatInterval, DEFAULT_HEARTBEAT_INTERVAL_MS } from '../client/src/heartbeat.js';
import type { HistoryPayload, HistoryRequest, Notification } from '../client/src/protocol.js';
import { afterClose, isPermanentSubscribeError, SESSION_REVOKED } from '../client/src/reconnect-policy.js';
import { decodeToken } from '../client/src/token.js';
import { refreshDelay, retryDelay, TokenSchedule } from '../client/src/token-schedule.js';
import { mintToken, unsignedToken } from './helpers/tokens.js';

const note = (id: string, over: Partial<Notification> = {}): Notification => ({
  id,
  eventType: 'comments',
  accountId: '17841400000000001',
  sender: {},
  timestamp: '2024-01-01T12:00:00.000Z',
  ...over,
});

describe('backoff', () => {
  it('when attempts fail in a row, then each delay is drawn from the upper half of a ceiling that doubles up to the max', () => {
    const options = { initialMs: 500, maxMs: 30_000 };
    const ceilings = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000];
    ceilings.forEach((ceiling, attempt) => {
      expect(backoffDelay(attempt, options, () => 0)).toBe(ceiling / 2);
      expect(backoffDelay(attempt, options, () => 0.999_999)).toBe(ceiling);
    });
    const backoff = new Backoff(options, () => 0.5);
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([375, 750, 1500]);
    backoff.reset();
    expect(backoff.next()).toBe(375);
  });

  it('when many clients drop at once, then their first retries spread over the window instead of one burst', () => {
    const delays = Array.from({ length: 1000 }, () => backoffDelay(0, { initialMs: 500, maxMs: 30_000 }));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(250);
    expect(Math.max(...delays)).toBeLessThanOrEqual(500);
    expect(new Set(delays).size).toBeGreaterThan(100);
  });
});

describe('token', () => {
  it('when a JWT is decoded, then its user (userId, else sub), expiry and accounts are read without verifying it', () => {
    const token = mintToken({ userId: 'zoë', accountIds: ['1', '2'] }, { expiresIn: 60 });
    const decoded = decodeToken(token);
    expect(decoded?.userId).toBe('zoë');
    expect(decoded?.accountIds).toEqual(['1', '2']);
    expect(decoded?.expiresAt).toBeGreaterThan(Date.now() + 55_000);
    expect(decodeToken(unsignedToken({ sub: 'bob' }))?.userId).toBe('bob');
    expect(decodeToken(mintToken({ userId: 'no-exp' }))?.expiresAt).toBeUndefined();
  });

  it('when the token is not a JWT, then nothing is decoded (the server will say what is wrong)', () => {
    for (const bad of ['', 'opaque-token', 'a.b.c', 'a.bm90IGpzb24.c', `a.${Buffer.from('[1]').toString('base64url')}.c`]) {
      expect(decodeToken(bad), bad).toBeUndefined();
    }
  });

  it('when a token expires, then the refresh is planned a minute before, or at 70% of a short lifetime', () => {
    const now = 1_000_000;
    expect(refreshDelay(now + 3_600_000, now)).toBe(3_540_000);
    expect(refreshDelay(now + 2_000, now)).toBe(1_400);
    expect(refreshDelay(now - 1, now)).toBe(0);
    expect(retryDelay(now + 60_000, now)).toBe(5_000);
    expect(retryDelay(now + 1_000, now)).toBe(500);
    expect(retryDelay(now - 1, now)).toBeUndefined();
  });

  it('when the planned time comes, then the schedule asks for a refresh once; cancel stops it', async () => {
    let due = 0;
    const schedule = new TokenSchedule(() => due++);
    schedule.schedule(Date.now() + 100);
    expect(schedule.pending).toBe(true);
    await expect.poll(() => due, { timeout: 2000 }).toBe(1);
    expect(schedule.pending).toBe(false);
    schedule.schedule(Date.now() + 100);
    schedule.cancel();
    schedule.schedule(undefined);
    expect(schedule.pending).toBe(false);
    expect(schedule.retry(Date.now() - 1)).toBe(false);
  });
});

describe('dedupe', () => {
  it('when one id stands for two notifications (a comment on one account mentioning another), then both are distinct', () => {
    expect(notificationKey(note('1'))).not.toBe(notificationKey(note('1', { eventType: 'mentions', accountId: '2' })));
    expect(notificationKey(note('a:b', { accountId: 'c' }))).not.toBe(notificationKey(note('a', { accountId: 'b:c' })));
  });

  it('when more keys than its bound arrive, then the least recently seen are forgotten and the size stays bounded', () => {
    const keys = new RecentKeys(3);
    expect(['a', 'b', 'c'].map((k) => keys.add(k))).toEqual([true, true, true]);
    expect(keys.add('a')).toBe(false); // seen again: now the most recent
    expect(keys.add('d')).toBe(true); // forgets b, the least recently seen
    expect(keys.size).toBe(3);
    expect(keys.has('b')).toBe(false);
    expect(keys.has('a')).toBe(true);
    for (let i = 0; i < 10_000; i++) keys.add(`k${i}`);
    expect(keys.size).toBe(3);
  });
});

describe('delivery', () => {
  it('when live notifications arrive during a catch-up, then they come after it, in order, each once', () => {
    const out: string[] = [];
    const delivery = new Delivery((n) => out.push(n.id), { memory: 100, lastSeenId: 'start' });
    delivery.hold();
    delivery.live(note('3'));
    delivery.live(note('4'));
    expect(out).toEqual([]);
    // History brings what was missed, the first live one included.
    for (const id of ['1', '2', '3']) delivery.deliver(note(id));
    delivery.release();
    delivery.live(note('4'));
    delivery.live(note('5'));
    expect(out).toEqual(['1', '2', '3', '4', '5']);
    expect(delivery.lastSeenId).toBe('5');
  });

  it('when a fresh session starts, then what an earlier connection held is discarded (history is the authority)', () => {
    const out: string[] = [];
    const delivery = new Delivery((n) => out.push(n.id), { memory: 100 });
    delivery.hold();
    delivery.live(note('old'));
    delivery.discardHeld();
    delivery.release();
    expect(out).toEqual([]);
    expect(delivery.lastSeenId).toBeUndefined();
  });

  it('when more live notifications are held than the bound, then they are dropped and the overflow is reported once', () => {
    const delivery = new Delivery(() => {}, { memory: 10 });
    delivery.hold();
    for (let i = 0; i <= MAX_HELD; i++) delivery.live(note(String(i)));
    expect(delivery.heldCount).toBe(1);
    expect(delivery.takeOverflow()).toBe(true);
    expect(delivery.takeOverflow()).toBe(false);
  });
});

/** A history of `ids` (arrival order) answering like the server: after `since`, `limit` at a time. */
function history(ids: string[], options: { known?: (since: string) => boolean } = {}) {
  const asked: HistoryRequest[] = [];
  const fetchPage = async (query: HistoryRequest): Promise<HistoryPayload> => {
    asked.push(query);
    const limit = query.limit ?? 50;
    if (query.since === undefined) return { events: ids.slice(-limit).map((id) => note(id)), complete: true, timestamp: 0 };
    const at = ids.indexOf(query.since);
    const known = at !== -1 && (options.known?.(query.since) ?? true);
    return { events: ids.slice(known ? at + 1 : 0).slice(0, limit).map((id) => note(id)), complete: known, timestamp: 0 };
  };
  return { fetchPage, asked };
}

function recorder() {
  const delivered: string[] = [];
  let gaps = 0;
  const seen = new Set<string>();
  const deps = (fetchPage: CatchUpDeps['fetchPage']): CatchUpDeps => ({
    fetchPage,
    deliver: (n) => {
      if (seen.has(n.id)) return false;
      seen.add(n.id);
      delivered.push(n.id);
      return true;
    },
    onGap: () => gaps++,
  });
  return { delivered, deps, gaps: () => gaps };
}

const FILTER = { eventTypes: ['comments', 'messages'] as const };
const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `n${from + i}`);

describe('catch-up', () => {
  it('when more was missed than one page holds, then it pages from the last id until a short page, oldest first', async () => {
    const h = history(ids(1, 250));
    const r = recorder();
    const result = await catchUpSince('n10', FILTER, r.deps(h.fetchPage), 100);
    expect(r.delivered).toEqual(ids(11, 250));
    expect(result).toEqual({ gap: false, pages: 3, delivered: 240 });
    expect(h.asked.map((q) => q.since)).toEqual(['n10', 'n110', 'n210']);
    // History is not filtered by subscriptions: it asks for the client's types.
    expect(h.asked[0]).toMatchObject({ eventTypes: ['comments', 'messages'], limit: 100 });
  });

  it('when the page is exactly full at the end, then one more (empty) page confirms there is nothing newer', async () => {
    const h = history(ids(1, 200));
    const r = recorder();
    expect(await catchUpSince('n100', FILTER, r.deps(h.fetchPage), 100)).toMatchObject({ gap: false, pages: 2 });
    expect(r.delivered).toEqual(ids(101, 200));
  });

  it('when the server no longer keeps the id, then gap fires once, before what is kept, which is still delivered', async () => {
    const h = history(ids(50, 180), { known: (since) => since !== 'n50' });
    const r = recorder();
    const events: string[] = [];
    const deps = r.deps(h.fetchPage);
    const result = await catchUpSince('n50', FILTER, { ...deps, onGap: () => (events.push('gap'), deps.onGap()) }, 100);
    expect(result.gap).toBe(true);
    expect(r.gaps()).toBe(1);
    expect(r.delivered).toEqual(ids(50, 180));
    expect(events).toEqual(['gap']);
  });

  it('when history keeps answering a full page of what was already delivered, then it stops with a gap instead of looping', async () => {
    const r = recorder();
    const deps = r.deps(async () => ({ events: ids(1, 5).map((id) => note(id)), complete: true, timestamp: 0 }));
    expect(await catchUpSince('n0', FILTER, deps, 5)).toEqual({ gap: true, pages: 2, delivered: 5 });
    expect(r.gaps()).toBe(1);
  });

  it('when the client has seen nothing, then it only notes the newest kept id; from an empty history it takes the latest page', async () => {
    expect(await newestId(FILTER, history(ids(1, 30)))).toBe('n30');
    expect(await newestId(FILTER, history([]))).toBeUndefined();
    const r = recorder();
    expect(await catchUpFromEmpty(FILTER, r.deps(history(ids(1, 30)).fetchPage), 100)).toEqual({ gap: false, pages: 1, delivered: 30 });
    const full = recorder();
    expect((await catchUpFromEmpty(FILTER, full.deps(history(ids(1, 130)).fetchPage), 100)).gap).toBe(true);
    expect(full.delivered).toEqual(ids(31, 130));
  });
});

describe('catch-up across connections', () => {
  it('when a client that has seen nothing drops, then it resumes from the newest id kept when it first connected', async () => {
    const kept = ids(1, 5);
    const h = history(kept);
    const out: string[] = [];
    const delivery = new Delivery((n) => out.push(n.id), { memory: 100 });
    const catchUp = new CatchUp(delivery);
    let gaps = 0;
    const deps = { fetchPage: h.fetchPage, onGap: () => gaps++ };
    // First connection: only notes where "after" starts; what was kept before is not this client's.
    await catchUp.run(FILTER, deps);
    expect(out).toEqual([]);
    expect(catchUp.resumePoint).toBe('n5');
    // Missed while away, then the next connection's catch-up.
    kept.push('n6', 'n7');
    await catchUp.run(FILTER, deps);
    expect(out).toEqual(['n6', 'n7']);
    expect(catchUp.resumePoint).toBe('n7');
    expect(gaps).toBe(0);
  });

  it('when history was empty at the first connect, then everything kept later is new: the latest page is delivered', async () => {
    const kept: string[] = [];
    const h = history(kept);
    const out: string[] = [];
    const catchUp = new CatchUp(new Delivery((n) => out.push(n.id), { memory: 100 }));
    await catchUp.run(FILTER, { fetchPage: h.fetchPage, onGap: () => {} });
    expect(catchUp.resumePoint).toBeUndefined();
    kept.push('n1', 'n2');
    await catchUp.run(FILTER, { fetchPage: h.fetchPage, onGap: () => {} });
    expect(out).toEqual(['n1', 'n2']);
  });

  it('when the client subscribes to nothing, then there is nothing to catch up (history would answer every type)', async () => {
    const h = history(ids(1, 3));
    await new CatchUp(new Delivery(() => {}, { memory: 10, lastSeenId: 'n1' })).run({ eventTypes: [] }, { fetchPage: h.fetchPage, onGap: () => {} });
    expect(h.asked).toEqual([]);
  });
});

describe('reconnect policy', () => {
  it('when the server revokes the session, then the client stops; after any other drop it reconnects', () => {
    expect(afterClose({ byClient: false, authFailure: SESSION_REVOKED })).toBe('stop');
    expect(afterClose({ byClient: true })).toBe('stop');
    for (const authFailure of [undefined, 'Token expired', 'Invalid token', 'Too many connections', 'Authentication unavailable']) {
      expect(afterClose({ byClient: false, authFailure }), String(authFailure)).toBe('reconnect');
    }
    expect(isPermanentSubscribeError('forbidden_account')).toBe(true);
    expect(isPermanentSubscribeError('rate_limited')).toBe(false);
  });
});

describe('heartbeat', () => {
  it('when the server says its heartbeat timeout, then beats are three per timeout; otherwise a safe default', () => {
    expect(heartbeatInterval(60_000)).toBe(20_000);
    expect(heartbeatInterval(1_500)).toBe(500);
    expect(heartbeatInterval(undefined)).toBe(DEFAULT_HEARTBEAT_INTERVAL_MS);
    expect(DEFAULT_HEARTBEAT_INTERVAL_MS).toBeLessThan(60_000 / 3);
    expect(heartbeatInterval(60_000, 1_000)).toBe(1_000);
  });

  it('when two beats in a row get no answer, then the connection is reported dead; an answer resets the count', async () => {
    let sent = 0;
    let dead = 0;
    const heartbeat = new Heartbeat(
      () => sent++,
      () => dead++,
    );
    heartbeat.start(20);
    heartbeat.answered();
    await expect.poll(() => dead, { timeout: 2000 }).toBe(1);
    expect(heartbeat.running).toBe(false);
    expect(sent).toBeGreaterThanOrEqual(2);
  });
});
