import fc from 'fast-check';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisHistoryStore } from '../src/cluster/redis-history-store.js';
import type { RedisClient } from '../src/cluster/redis-connection.js';
import { MemoryHistoryStore, type HistoryQuery } from '../src/notifications/history.js';
import type { EventType, Notification } from '../src/notifications/notification.js';
import { redisAvailable, startRedis, type RedisServer } from './helpers/redis.js';

const HAS_REDIS = redisAvailable();

const notification = (id: string, accountId: string, eventType: EventType = 'comments'): Notification => ({
  id,
  eventType,
  accountId,
  sender: { id: '111', username: 'alice' },
  content: `text of ${id}`,
  timestamp: '2024-01-01T12:00:00.000Z',
});

/** A real redis-server of its own and a client connected to it, for one describe block. */
async function connectedRedis(): Promise<{ redis: RedisServer; client: RedisClient }> {
  const redis = await startRedis();
  const client: RedisClient = createClient({ url: redis.url });
  await client.connect();
  return { redis, client };
}

/**
 * RedisHistoryStore must answer exactly as MemoryHistoryStore (test/history-store.test.ts states its semantics): each
 * test drives both with the same records and compares every answer.
 */
describe.skipIf(!HAS_REDIS)('RedisHistoryStore', () => {
  let redis: RedisServer;
  let client: RedisClient;
  let nextPrefix = 0;

  beforeAll(async () => {
    ({ redis, client } = await connectedRedis());
  });
  afterAll(async () => {
    await client?.close();
    await redis?.stop();
  });

  /** The two stores side by side; a fresh key prefix isolates each pair in the one Redis. */
  function stores(options: { size: number; maxAccounts: number }) {
    const memory = new MemoryHistoryStore(options);
    const shared = new RedisHistoryStore(client, { ...options, prefix: `t${++nextPrefix}:` });
    return {
      shared,
      async record(n: Notification) {
        memory.record(n);
        await shared.record(n);
      },
      /** Answers from both stores, checked equal; resolves with the shared store's. */
      async query(query: HistoryQuery) {
        const [expected, actual] = await Promise.all([memory.query(query), shared.query(query)]);
        expect(actual, JSON.stringify(query)).toEqual(expected);
        return actual;
      },
    };
  }

  it('when a text holds a lone UTF-16 surrogate (a broken emoji), then it is kept, trimmed and evicted like any other', async () => {
    const pair = stores({ size: 2, maxAccounts: 2 });
    const broken = (id: string, accountId: string) => ({ ...notification(id, accountId), content: `half \ud83d of a heart` });
    for (const [id, account] of [['s1', 'A'], ['s2', 'A'], ['s3', 'A'], ['t1', 'B'], ['u1', 'C']] as const) {
      await pair.record(broken(id, account));
    }
    const page = await pair.query({ accounts: '*', limit: 100 });
    expect(page.events.map((e) => e.id)).toEqual(['t1', 'u1']);
    expect(page.events[0]?.content).toBe('half \ud83d of a heart');
    await pair.query({ accounts: '*', since: 's3', limit: 100 });
  });

  it('when one id stands for notifications of two accounts, then `since` resumes from the oldest the asker may see', async () => {
    const pair = stores({ size: 10, maxAccounts: 10 });
    await pair.record(notification('C1', 'A'));
    await pair.record(notification('x1', 'B'));
    await pair.record(notification('C1', 'B', 'mentions'));
    await pair.record(notification('x2', 'A'));
    const page = await pair.query({ accounts: ['A', 'B'], since: 'C1', limit: 100 });
    expect(page.events.map((e) => e.id)).toEqual(['x1', 'C1', 'x2']);
    await pair.query({ accounts: ['B'], since: 'C1', limit: 100 });
    await pair.query({ accounts: ['A'], since: 'C1', limit: 100 });
  });

  it('when records and queries come in any order, then every answer equals the in-process store’s', async () => {
    const accounts = ['a1', 'a2', 'a3', 'a4', 'a5'];
    const ids = Array.from({ length: 14 }, (_, i) => `n${i}`);
    const someAccounts = fc.subarray(accounts);
    const record = fc.record({
      kind: fc.constant('record' as const),
      // A small pool of ids: the same id recorded twice (past the dedupe window) is covered too.
      id: fc.constantFrom(...ids),
      accountId: fc.constantFrom(...accounts),
      eventType: fc.constantFrom<EventType>('comments', 'messages'),
    });
    const query = fc.record(
      {
        kind: fc.constant('query' as const),
        accounts: fc.oneof(fc.constant('*' as const), someAccounts),
        anchorAccounts: fc.oneof(fc.constant('*' as const), someAccounts),
        eventTypes: fc.subarray(['comments', 'messages', 'mentions']),
        since: fc.constantFrom(...ids, 'unknown'),
        limit: fc.integer({ min: -1, max: 8 }),
      },
      { requiredKeys: ['kind', 'accounts', 'limit'] },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.oneof({ arbitrary: record, weight: 3 }, { arbitrary: query, weight: 1 }), { maxLength: 30 }),
        async (size, maxAccounts, operations) => {
          const pair = stores({ size, maxAccounts });
          for (const op of operations) {
            if (op.kind === 'record') await pair.record(notification(op.id, op.accountId, op.eventType));
            else await pair.query(op);
          }
          // And a final look at everything kept, latest first and from the oldest.
          await pair.query({ accounts: '*', limit: 100 });
          await pair.query({ accounts: '*', since: 'unknown', limit: 100 });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('when the read budget is tiny, then every answer is the in-process store’s, or, marked incomplete, its oldest part (with `since`) or its newest (without)', async () => {
    const accounts = ['a1', 'a2', 'a3', 'a4', 'a5'];
    const types: EventType[] = ['comments', 'messages', 'mentions'];
    const record = fc.record({ accountId: fc.constantFrom(...accounts), eventType: fc.constantFrom(...types) });
    const query = fc.record(
      {
        accounts: fc.oneof(fc.constant('*' as const), fc.subarray(accounts, { minLength: 1 })),
        eventTypes: fc.subarray(types, { minLength: 1 }),
        since: fc.nat(40).map((i) => `n${i}`),
        limit: fc.integer({ min: 1, max: 8 }),
      },
      { requiredKeys: ['accounts', 'limit'] },
    );
    let incomplete = 0;
    let exact = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { maxLength: 40 }),
        fc.array(query, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 6 }),
        async (arrivals, queries, budget) => {
          const options = { size: 4, maxAccounts: 4 };
          const memory = new MemoryHistoryStore(options);
          const shared = new RedisHistoryStore(client, { ...options, prefix: `t${++nextPrefix}:`, budget });
          for (const [i, r] of arrivals.entries()) {
            const n = notification(`n${i}`, r.accountId, r.eventType);
            memory.record(n);
            await shared.record(n);
          }
          for (const q of queries) {
            const [expected, actual] = await Promise.all([memory.query(q), shared.query(q)]);
            const ids = actual.events.map((n) => n.id);
            const all = expected.events.map((n) => n.id);
            if (actual.complete === expected.complete && ids.length === all.length) {
              exact++;
              expect(ids).toEqual(all);
            } else {
              incomplete++;
              expect(actual.complete).toBe(false);
              const part = q.since === undefined ? all.slice(all.length - ids.length) : all.slice(0, ids.length);
              expect(ids).toEqual(part);
            }
          }
        },
      ),
      { numRuns: 100 },
    );
    // Both kinds of answer were seen.
    expect(exact).toBeGreaterThan(0);
    expect(incomplete).toBeGreaterThan(0);
  });

  describe('with more accounts than one read of the account index (100)', () => {
    const accounts = Array.from({ length: 230 }, (_, i) => `acc${String(i).padStart(3, '0')}`);

    it('when a `*` page is asked, then it is exact whether it needs the first batch of accounts or all of them', async () => {
      const pair = stores({ size: 3, maxAccounts: 1000 });
      for (let round = 0; round < 4; round++) {
        for (const [i, accountId] of accounts.entries()) {
          // Messages only on every seventh account, the oldest ones included: a `messages` page walks every batch.
          const type = i % 7 === 0 && round === 0 ? 'messages' : 'comments';
          if ((i + round) % 3 !== 0) await pair.record(notification(`${accountId}-${round}`, accountId, type));
        }
      }
      expect((await pair.query({ accounts: '*', limit: 100 })).events).toHaveLength(100);
      await pair.query({ accounts: '*', limit: 7 });
      const messages = await pair.query({ accounts: '*', eventTypes: ['messages'], limit: 100 });
      expect(messages.events.length).toBeGreaterThan(10);
      await pair.query({ accounts: '*', eventTypes: ['messages'], limit: 5 });
      await pair.query({ accounts: '*', since: `${accounts[10]}-1`, limit: 100 });
    });

    it('when notifications are recorded while a `*` page is read, then no account is read twice and none is skipped', async () => {
      const pair = stores({ size: 3, maxAccounts: 1000 });
      // Comments on every other account (75 of 150), oldest account first: a `comments` page walks every batch.
      for (const [i, accountId] of accounts.slice(0, 150).entries()) {
        await pair.record(notification(`${accountId}-0`, accountId, i % 2 === 0 ? 'comments' : 'messages'));
      }
      const expected = await pair.query({ accounts: '*', eventTypes: ['comments'], limit: 100 });
      expect(expected.events.map((n) => n.id)).toContain(`${accounts[0]}-0`);

      // The page's first read of the account index is already sent when the record runs, between two of its reads:
      // the least recently active account becomes the most recent one.
      const page = pair.shared.query({ accounts: '*', eventTypes: ['comments'], limit: 100 });
      const moved = pair.record(notification(`${accounts[0]}-1`, accounts[0] as string, 'messages'));
      const [answer] = await Promise.all([page, moved]);
      expect(answer.events.map((n) => n.id)).toEqual(expected.events.map((n) => n.id));
    });
  });

  it('when notifications are recorded while a page after `since` is read, then it never holds one without the older ones', async () => {
    let meanwhile: () => Promise<void> = async () => undefined;
    // The client as the store uses it, except that another process records right after `since` is resolved, before
    // the page is read.
    const interleaving = new Proxy(client, {
      get(target, property) {
        if (property === 'hGet') {
          return async (...args: Parameters<RedisClient['hGet']>) => {
            const reply = await target.hGet(...args);
            await meanwhile();
            return reply;
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const prefix = `t${++nextPrefix}:`;
    const options = { size: 10, maxAccounts: 10, prefix };
    const store = new RedisHistoryStore(interleaving, options);
    const other = new RedisHistoryStore(client, options);
    for (const n of [notification('a0', 'A'), notification('y1', 'Y')]) await store.record(n);
    let recorded = false;
    meanwhile = async () => {
      meanwhile = async () => undefined;
      await other.record(notification('x1', 'X'));
      await other.record(notification('y2', 'Y'));
      recorded = true;
    };

    const page = await store.query({ accounts: '*', since: 'a0', limit: 10 });
    expect(recorded).toBe(true);
    // y2 without x1 would be a gap for good: the next page, after y2, would never answer x1. The page is one atomic
    // read, made after both records: it holds both, in arrival order.
    expect(page).toMatchObject({ complete: true });
    expect(page.events.map((n) => n.id)).toEqual(['y1', 'x1', 'y2']);
    expect((await store.query({ accounts: '*', since: 'y1', limit: 10 })).events.map((n) => n.id)).toEqual(['x1', 'y2']);
  });
});

/**
 * The worst queries of issue 11 (a filter and a `since` no longer kept, over many accounts), on a real Redis: the page
 * is still exact, and what a query reads no longer grows with what is kept.
 */
describe.skipIf(!HAS_REDIS)('RedisHistoryStore: bounded pages', () => {
  let redis: RedisServer;
  let client: RedisClient;
  let nextPrefix = 0;
  const ACCOUNTS = Array.from({ length: 300 }, (_, i) => `acct${String(i).padStart(3, '0')}`);
  /** Arrival order, round-robin over the accounts; one in three a comment. */
  const arrivals: Notification[] = [];
  for (let round = 0; round < 8; round++) {
    for (const [i, accountId] of ACCOUNTS.entries()) {
      arrivals.push(notification(`${accountId}-${round}`, accountId, (i + round) % 3 === 0 ? 'comments' : 'messages'));
    }
  }
  const SIZE = 5;
  /** What a scan-everything reading of SPEC keeps: each account's latest SIZE, in arrival order. */
  const kept = arrivals.filter((n) => Number(n.id.split('-')[1]) >= 8 - SIZE);

  beforeAll(async () => {
    ({ redis, client } = await connectedRedis());
  });
  afterAll(async () => {
    await client?.close();
    await redis?.stop();
  });

  async function filled(options: { budget?: number } = {}) {
    const memory = new MemoryHistoryStore({ size: SIZE, maxAccounts: 1000 });
    const prefix = `b${++nextPrefix}:`;
    const shared = new RedisHistoryStore(client, { size: SIZE, maxAccounts: 1000, prefix, ...options });
    for (let i = 0; i < arrivals.length; i += 200) {
      await Promise.all(arrivals.slice(i, i + 200).map((n) => shared.record(n)));
    }
    for (const n of arrivals) memory.record(n);
    return { memory, shared, prefix };
  }

  /** Pages forward from `since` while they come full, as the client's catch-up does. */
  async function pageForward(store: RedisHistoryStore, query: HistoryQuery) {
    const pages: { ids: string[]; complete: boolean }[] = [];
    let since = query.since;
    for (let i = 0; i < 100; i++) {
      const page = await store.query({ ...query, ...(since !== undefined && { since }) });
      pages.push({ ids: page.events.map((n) => n.id), complete: page.complete });
      if (page.events.length < query.limit) break;
      since = page.events.at(-1)?.id;
    }
    return pages;
  }

  const commandCalls = async (): Promise<Record<string, number>> => {
    const stats = await client.info('commandstats');
    return Object.fromEntries([...stats.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].map((m) => [m[1] as string, Number(m[2])]));
  };

  it('when a `*` user asks one type after a forgotten `since`, then complete is false, the first page is the oldest kept, and paging forward brings every one once, oldest first', async () => {
    const { memory, shared } = await filled();
    const comments = kept.filter((n) => n.eventType === 'comments').map((n) => n.id);
    expect(comments.length).toBeGreaterThan(300);
    const query: HistoryQuery = { accounts: '*', eventTypes: ['comments'], since: 'long-gone', limit: 100 };

    const first = await shared.query(query);
    expect(first.complete).toBe(false);
    expect(first.events.map((n) => n.id)).toEqual(comments.slice(0, 100));
    expect(first).toEqual(await memory.query(query));

    const pages = await pageForward(shared, query);
    expect(pages.flatMap((p) => p.ids)).toEqual(comments);
    // Only the first page's `since` was forgotten; the others resume from a kept id.
    expect(pages.map((p) => p.complete)).toEqual([false, ...pages.slice(1).map(() => true)]);
    // Positive control for the filter: the other type is there too, and comes alone when asked.
    const messages = await shared.query({ ...query, eventTypes: ['messages'] });
    expect(messages.events.every((n) => n.eventType === 'messages') && messages.events.length === 100).toBe(true);
  });

  it('when many named accounts ask one type after a forgotten `since`, or the latest, then the pages are the in-process store’s', async () => {
    const { memory, shared } = await filled();
    const named = ACCOUNTS.filter((_, i) => i % 2 === 0);
    for (const query of [
      { accounts: named, eventTypes: ['comments'], since: 'long-gone', limit: 100 },
      { accounts: named, eventTypes: ['comments'], limit: 100 },
      { accounts: '*', eventTypes: ['comments', 'messages'], limit: 100 },
      { accounts: '*', since: 'long-gone', limit: 100 },
      { accounts: named.slice(0, 3), eventTypes: ['comments'], since: 'long-gone', limit: 100 },
    ] as HistoryQuery[]) {
      expect(await shared.query(query), JSON.stringify(query).slice(0, 200)).toEqual(await memory.query(query));
    }
    const pages = await pageForward(shared, { accounts: named, eventTypes: ['comments'], since: 'long-gone', limit: 100 });
    const expected = kept.filter((n) => n.eventType === 'comments' && named.includes(n.accountId)).map((n) => n.id);
    expect(pages.flatMap((p) => p.ids)).toEqual(expected);
  });

  it('when a `*` page after a forgotten `since` is read, then it reads O(limit) entries and index members, not every kept one', async () => {
    const { shared, prefix } = await filled();
    const before = await commandCalls();
    const page = await shared.query({ accounts: '*', eventTypes: ['comments'], since: 'long-gone', limit: 20 });
    const after = await commandCalls();
    expect(page.events).toHaveLength(20);
    // 1500 entries are kept (500 comments): the page read 20 members of the comments' index and the 20
    // notifications it answers.
    expect(shared.lastQueryReads).toBe(40);
    // Redis's own count of what ran, independent of the store's: one range of one index, one read of the json.
    const calls = (name: string) => (after[name] ?? 0) - (before[name] ?? 0);
    expect(calls('zrange')).toBe(1);
    expect(calls('hmget')).toBe(1);
    expect(calls('lrange') + calls('hgetall') + calls('hvals')).toBe(0);
    // Named accounts and a type whose index holds fewer members than the budget (500): that index is walked, once.
    const named = ACCOUNTS.slice(0, 200);
    const viaIndex = await shared.query({ accounts: named, eventTypes: ['comments'], since: 'long-gone', limit: 20 });
    const later = await commandCalls();
    expect(viaIndex.events).toHaveLength(20);
    expect((later.zrange ?? 0) - (after.zrange ?? 0)).toBe(1);
    // With a budget below it (300), three named accounts: a walk of a quarter of the budget finds too few of
    // theirs, so their own sets are read (five entries each), and the page is still exact.
    const sets = new RedisHistoryStore(client, { size: SIZE, maxAccounts: 1000, prefix, budget: 300 });
    const few = ACCOUNTS.slice(0, 3);
    const viaSets = await sets.query({ accounts: few, eventTypes: ['comments'], since: 'long-gone', limit: 20 });
    const { memory } = await filled();
    expect(viaSets).toEqual(await memory.query({ accounts: few, eventTypes: ['comments'], since: 'long-gone', limit: 20 }));
    expect(viaSets.events.length).toBeGreaterThan(0);
    expect(sets.lastQueryReads).toBeLessThanOrEqual(75 + 128 + 3 * 5 + viaSets.events.length);
  });

  it('when the read budget runs out before `limit` matches, then the page holds the first matches, says complete: false, and the next page goes on from there', async () => {
    const { memory, shared } = await filled({ budget: 100 });
    // Seventy named accounts, their comments only: one entry in three matches, so that a hundred merged entries
    // bring about 33 matches.
    const named = ACCOUNTS.slice(0, 70);
    const query: HistoryQuery = { accounts: named, eventTypes: ['comments'], limit: 100 };
    const all = (await memory.query({ ...query, since: 'long-gone', limit: 1000 })).events.map((n) => n.id);
    expect(all.length).toBeGreaterThan(100);
    const page = await shared.query({ ...query, since: `${ACCOUNTS[0]}-3` });
    const allAfter = all.slice(all.indexOf(`${ACCOUNTS[0]}-3`) + 1);
    expect(page.complete).toBe(false);
    expect(page.events.length).toBeGreaterThan(10);
    expect(page.events.length).toBeLessThan(100);
    expect(page.events.map((n) => n.id)).toEqual(allAfter.slice(0, page.events.length));
    // One read of the comments' index (a quarter of the budget finds too few of theirs), then the seventy sets (five
    // entries each, at most), the json answered.
    expect(shared.lastQueryReads).toBeLessThanOrEqual(100 + 70 * 5 + page.events.length);
    // The next page starts right after the last one found: nothing skipped, nothing twice.
    const next = await shared.query({ ...query, since: page.events.at(-1)?.id as string });
    expect(next.events.length).toBeGreaterThan(0);
    expect(next.events.map((n) => n.id)).toEqual(allAfter.slice(page.events.length, page.events.length + next.events.length));
    // The latest page, too, is the newest part of the whole one.
    const latest = await shared.query(query);
    const whole = (await memory.query(query)).events.map((n) => n.id);
    expect(latest.complete).toBe(false);
    expect(latest.events.map((n) => n.id)).toEqual(whole.slice(whole.length - latest.events.length));
    // Positive control: a `*` page of the same type is not bounded by the budget (every member it reads matches).
    const everyone = await shared.query({ accounts: '*', eventTypes: ['comments'], limit: 100 });
    expect(everyone).toEqual(await memory.query({ accounts: '*', eventTypes: ['comments'], limit: 100 }));
    expect(everyone.complete).toBe(true);
  });
});
