import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryHistoryStore, type HistoryQuery } from '../src/notifications/history.js';
import { EVENT_TYPES, type Notification } from '../src/notifications/notification.js';

/**
 * The in-process history against the plainest possible model of SPEC's rules: keep the latest `size` notifications
 * of each account and the `maxAccounts` most recently active accounts; a page is the kept notifications the asker
 * may see, of the asked types, in arrival order, the first `limit` after `since` or the latest `limit`. The store
 * answers from per-type indexes and a walk by recency; the model scans everything.
 */
const ACCOUNTS = ['a1', 'a2', 'a3', 'a4', 'a5'];
const TYPES = EVENT_TYPES.slice(0, 4);

interface Kept {
  seq: number;
  n: Notification;
}

function model(records: Notification[], size: number, maxAccounts: number) {
  const rings = new Map<string, Kept[]>(); // insertion order = recency (re-inserted on record)
  records.forEach((n, i) => {
    const ring = rings.get(n.accountId) ?? [];
    rings.delete(n.accountId);
    ring.push({ seq: i + 1, n });
    if (ring.length > size) ring.shift();
    rings.set(n.accountId, ring);
    if (rings.size > maxAccounts) rings.delete(rings.keys().next().value as string);
  });
  return (query: HistoryQuery): string[] => {
    const visible = (account: string) => query.accounts === '*' || query.accounts.includes(account);
    const kept = [...rings.values()].flat().filter((k) => visible(k.n.accountId));
    kept.sort((a, b) => a.seq - b.seq);
    const typed = kept.filter((k) => query.eventTypes === undefined || query.eventTypes.includes(k.n.eventType));
    if (query.since === undefined) return typed.slice(Math.max(0, typed.length - query.limit)).map((k) => k.n.id);
    const anchor = kept.find((k) => k.n.id === query.since);
    const after = anchor?.seq ?? 0;
    return typed.filter((k) => k.seq > after).slice(0, query.limit).map((k) => k.n.id);
  };
}

const record = fc.record({ accountId: fc.constantFrom(...ACCOUNTS), eventType: fc.constantFrom(...TYPES) });
const query = fc.record({
  accounts: fc.oneof(fc.constant('*' as const), fc.subarray(ACCOUNTS, { minLength: 1 })),
  eventTypes: fc.option(fc.subarray([...TYPES], { minLength: 1 }), { nil: undefined }),
  since: fc.option(fc.nat(60), { nil: undefined }),
  limit: fc.integer({ min: 1, max: 12 }),
});

describe('MemoryHistoryStore against a scan-everything model', () => {
  it('answers every query as the model does: same notifications, same order, whatever the filters and anchor', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { maxLength: 60 }),
        fc.array(query, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        async (arrivals, queries, size, maxAccounts) => {
          // Ids are unique here: `since` names the arrival with that index (or one never recorded).
          const records = arrivals.map((r, i): Notification => ({ id: `n${i}`, ...r, sender: {}, timestamp: new Date(0).toISOString() }));
          const store = new MemoryHistoryStore({ size, maxAccounts });
          for (const n of records) store.record(n);
          const expected = model(records, size, maxAccounts);
          for (const q of queries) {
            const asked: HistoryQuery = {
              accounts: q.accounts,
              limit: q.limit,
              ...(q.eventTypes !== undefined && { eventTypes: q.eventTypes }),
              ...(q.since !== undefined && { since: `n${q.since}` }),
            };
            const page = await store.query(asked);
            expect(page.events.map((e) => e.id)).toEqual(expected(asked));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
