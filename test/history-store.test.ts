import { describe, expect, it } from 'vitest';
import { MemoryHistoryStore, type HistoryQuery } from '../src/notifications/history.js';
import type { Notification } from '../src/notifications/notification.js';

const A = '17841400000000001';
const B = '17841400000000002';
const C = '17841400000000003';

const notification = (id: string, accountId = A, eventType: Notification['eventType'] = 'comments'): Notification => ({
  id,
  eventType,
  accountId,
  sender: { id: '111', username: 'alice' },
  content: `text of ${id}`,
  timestamp: '2024-01-01T12:00:00.000Z',
});

function storeWith(notifications: Notification[], options = { size: 100, maxAccounts: 100 }): MemoryHistoryStore {
  const store = new MemoryHistoryStore(options);
  for (const n of notifications) store.record(n);
  return store;
}

async function ids(store: MemoryHistoryStore, query: Partial<HistoryQuery> = {}): Promise<string[]> {
  const page = await store.query({ accounts: '*', limit: 100, ...query });
  return page.events.map((e) => e.id);
}

describe('MemoryHistoryStore', () => {
  describe('bounds', () => {
    it('when an account receives more than `size` notifications, then only its latest `size` are kept', async () => {
      const five = ['a1', 'a2', 'a3', 'a4', 'a5'].map((id) => notification(id));
      const store = storeWith(five, { size: 3, maxAccounts: 10 });
      expect(await ids(store)).toEqual(['a3', 'a4', 'a5']);
    });

    it("when one account fills its ring, then another account's notifications are untouched", async () => {
      const store = storeWith(
        [notification('b1', B), ...['a1', 'a2', 'a3', 'a4'].map((id) => notification(id)), notification('b2', B)],
        { size: 2, maxAccounts: 10 },
      );
      expect(await ids(store, { accounts: [B] })).toEqual(['b1', 'b2']);
      expect(await ids(store, { accounts: [A] })).toEqual(['a3', 'a4']);
    });

    it('when more than `maxAccounts` accounts are active, then the least recently active account is forgotten', async () => {
      // A is older than B, but becomes the most recently active again: B is the one to go when C arrives.
      const arrivals = [notification('a1', A), notification('b1', B), notification('a2', A), notification('c1', C)];
      const store = storeWith(arrivals, { size: 10, maxAccounts: 2 });
      expect(store.accountCount).toBe(2);
      expect(await ids(store, { accounts: [B] })).toEqual([]);
      expect(await ids(store)).toEqual(['a1', 'a2', 'c1']);
    });

    it('when history is read, then the read does not count as account activity', async () => {
      const store = storeWith([notification('a1', A), notification('b1', B)], { size: 10, maxAccounts: 2 });
      // Reading A (the least recently active) must not save it from eviction.
      expect(await ids(store, { accounts: [A] })).toEqual(['a1']);
      expect(await ids(store, { accounts: [A], since: 'a1' })).toEqual([]);
      expect(await ids(store)).toEqual(['a1', 'b1']);
      store.record(notification('c1', C));
      expect(await ids(store)).toEqual(['b1', 'c1']);
    });
  });

  describe('order and filters', () => {
    const interleaved = () =>
      storeWith([
        notification('a1', A),
        notification('b1', B, 'messages'),
        notification('a2', A, 'messages'),
        notification('c1', C),
        notification('b2', B),
        notification('a3', A),
      ]);

    it('when notifications of several accounts arrive, then history answers them in arrival order, oldest first', async () => {
      expect(await ids(interleaved())).toEqual(['a1', 'b1', 'a2', 'c1', 'b2', 'a3']);
      expect(await ids(interleaved(), { accounts: [A, B] })).toEqual(['a1', 'b1', 'a2', 'b2', 'a3']);
    });

    it('when `eventTypes` is given, then only those types are answered', async () => {
      expect(await ids(interleaved(), { eventTypes: ['messages'] })).toEqual(['b1', 'a2']);
      expect(await ids(interleaved(), { eventTypes: ['comments'], accounts: [A] })).toEqual(['a1', 'a3']);
      expect(await ids(interleaved(), { eventTypes: ['mentions'] })).toEqual([]);
    });

    it('when `accounts` lists some accounts, then only theirs are answered (duplicates and unknown ids harmless)', async () => {
      expect(await ids(interleaved(), { accounts: [C, C, 'unknown'] })).toEqual(['c1']);
      expect(await ids(interleaved(), { accounts: [] })).toEqual([]);
      expect(await ids(interleaved(), { accounts: [B] })).toEqual(['b1', 'b2']);
    });

    it('when the whole notification is answered, then it is the recorded one', async () => {
      const page = await interleaved().query({ accounts: [C], limit: 10 });
      expect(page).toEqual({ events: [notification('c1', C)], complete: true });
    });
  });

  describe('since and limit', () => {
    const many = (count: number, accountId = A) =>
      Array.from({ length: count }, (_, i) => notification(`${accountId}-${i + 1}`, accountId));

    it('without `since`, then the latest `limit` notifications are answered, oldest first', async () => {
      const store = storeWith(many(10));
      expect(await ids(store, { limit: 3 })).toEqual([`${A}-8`, `${A}-9`, `${A}-10`]);
    });

    it('with a kept `since`, then the first `limit` notifications after it are answered and complete is true', async () => {
      const store = storeWith(many(10));
      const page = await store.query({ accounts: '*', since: `${A}-2`, limit: 3 });
      expect(page.events.map((e) => e.id)).toEqual([`${A}-3`, `${A}-4`, `${A}-5`]);
      expect(page.complete).toBe(true);
      // The next page resumes from the last id of this one.
      expect(await ids(store, { since: `${A}-5`, limit: 3 })).toEqual([`${A}-6`, `${A}-7`, `${A}-8`]);
    });

    it('with `since` the newest id, then nothing is answered and complete is true', async () => {
      const page = await storeWith(many(3)).query({ accounts: '*', since: `${A}-3`, limit: 10 });
      expect(page).toEqual({ events: [], complete: true });
    });

    it('with `since` across accounts, then what came after it in arrival order is answered', async () => {
      const store = storeWith(['a1', 'b1', 'a2', 'b2'].map((id) => notification(id, id.startsWith('a') ? A : B)));
      expect(await ids(store, { since: 'b1' })).toEqual(['a2', 'b2']);
      expect(await ids(store, { since: 'b1', accounts: [B] })).toEqual(['b2']);
    });

    it('with `since` unknown, then complete is false and the oldest kept notifications are answered', async () => {
      const store = storeWith(many(5));
      const unknown = await store.query({ accounts: '*', since: 'never-seen', limit: 2 });
      expect(unknown.complete).toBe(false);
      expect(unknown.events.map((e) => e.id)).toEqual([`${A}-1`, `${A}-2`]);
      // Positive control: a kept id is complete.
      expect((await store.query({ accounts: '*', since: `${A}-1`, limit: 2 })).complete).toBe(true);
    });

    it('with `since` pushed out of its ring, then complete is false', async () => {
      const store = storeWith(many(5), { size: 3, maxAccounts: 10 });
      const evicted = await store.query({ accounts: '*', since: `${A}-2`, limit: 10 });
      expect(evicted.complete).toBe(false);
      expect(evicted.events.map((e) => e.id)).toEqual([`${A}-3`, `${A}-4`, `${A}-5`]);
      // Positive control: the oldest id still kept is a valid anchor.
      const kept = await store.query({ accounts: '*', since: `${A}-3`, limit: 10 });
      expect(kept.complete).toBe(true);
      expect(kept.events.map((e) => e.id)).toEqual([`${A}-4`, `${A}-5`]);
    });

    it("with `since` of an account forgotten by the account bound, then complete is false", async () => {
      const store = storeWith([notification('a1', A), notification('b1', B), notification('c1', C)], {
        size: 10,
        maxAccounts: 2,
      });
      expect((await store.query({ accounts: '*', since: 'a1', limit: 10 })).complete).toBe(false);
      expect(await store.query({ accounts: '*', since: 'b1', limit: 10 })).toEqual({
        events: [notification('c1', C)],
        complete: true,
      });
    });

    it('with `since` an id of an account the asker may not see, then it is treated as unknown', async () => {
      const store = storeWith([notification('a1', A), notification('b1', B), notification('a2', A)]);
      const hidden = await store.query({ accounts: [A], since: 'b1', limit: 10 });
      expect(hidden.complete).toBe(false);
      expect(hidden.events.map((e) => e.id)).toEqual(['a1', 'a2']);
      const hiddenByAnchorAccounts = await store.query({ accounts: [A], anchorAccounts: [A], since: 'b1', limit: 10 });
      expect(hiddenByAnchorAccounts.complete).toBe(false);
      // Positive controls: the asker's own id, and another account's id when the asker is entitled to it.
      expect(await store.query({ accounts: [A], since: 'a1', limit: 10 })).toEqual({
        events: [notification('a2')],
        complete: true,
      });
      expect(await store.query({ accounts: [A], anchorAccounts: [A, B], since: 'b1', limit: 10 })).toEqual({
        events: [notification('a2')],
        complete: true,
      });
    });

    it('when a kept notification is recorded again (a retried publish), then it is kept once, where it was', async () => {
      const store = storeWith([notification('x', A), notification('a1', A), notification('x', A)]);
      expect(await ids(store)).toEqual(['x', 'a1']);
      expect(await store.query({ accounts: '*', since: 'x', limit: 10 })).toEqual({
        events: [notification('a1', A)],
        complete: true,
      });
    });

    it('when the same id comes for another account or event type, then each is kept (one comment, two accounts)', async () => {
      const store = storeWith([notification('x', A), notification('x', B), notification('x', A, 'mentions')]);
      expect(await ids(store)).toEqual(['x', 'x', 'x']); // positive control of the idempotence above
    });

    it('when the same id is recorded again after it left the ring, then it is kept again and anchors there', async () => {
      const store = storeWith([notification('x', A), notification('a1', A), notification('a2', A), notification('x', A)], {
        size: 2,
        maxAccounts: 10,
      });
      // The first `x` has left the ring; the second is kept and anchors.
      expect(await store.query({ accounts: '*', since: 'x', limit: 10 })).toEqual({ events: [], complete: true });
      expect(await ids(store)).toEqual(['a2', 'x']);
    });

    it('when `limit` is not positive, then nothing is answered', async () => {
      const store = storeWith(many(3));
      expect(await ids(store, { limit: 0 })).toEqual([]);
      expect(await ids(store, { limit: -1 })).toEqual([]);
      expect(await ids(store, { limit: 1 })).toEqual([`${A}-3`]);
    });

    it('when many accounts are kept, then pages are still exact (merge across rings)', async () => {
      const accounts = Array.from({ length: 50 }, (_, i) => `acc${i}`);
      const all: Notification[] = [];
      for (let round = 0; round < 20; round++) {
        for (const [i, accountId] of accounts.entries()) {
          const type = round % 2 ? 'messages' : 'comments';
          if ((round + i) % 3 !== 0) all.push(notification(`${accountId}-${round}`, accountId, type));
        }
      }
      const store = storeWith(all, { size: 10, maxAccounts: 1000 });
      // The reference answer: what is kept (the last 10 of each account), in arrival order.
      const kept = all.filter((n) => all.filter((m) => m.accountId === n.accountId).slice(-10).includes(n));
      const some = new Set(accounts.slice(5, 25));
      const reference = (filter: (n: Notification) => boolean) => kept.filter(filter).map((n) => n.id);

      expect(await ids(store, { limit: 37 })).toEqual(reference(() => true).slice(-37));
      expect(await ids(store, { limit: 37, accounts: [...some], eventTypes: ['messages'] })).toEqual(
        reference((n) => some.has(n.accountId) && n.eventType === 'messages').slice(-37),
      );
      const anchor = kept[100]?.id as string;
      expect(await ids(store, { limit: 42, since: anchor })).toEqual(reference(() => true).slice(101, 143));
      const afterAnchor = reference((n) => some.has(n.accountId) && n.eventType === 'comments');
      const anchorIndex = kept.findIndex((n) => n.id === anchor);
      const narrowed = {
        limit: 1000,
        since: anchor,
        accounts: [...some],
        anchorAccounts: '*' as const,
        eventTypes: ['comments'],
      };
      expect(await ids(store, narrowed)).toEqual(
        afterAnchor.filter((id) => kept.findIndex((n) => n.id === id) > anchorIndex),
      );
    });
  });
});

describe('MemoryHistoryStore: no silent gaps', () => {
  it("when another account's ring dropped notifications newer than `since`, then the page says complete: false", async () => {
    // The client saw a1; then B received b1..b4 with a ring of 2: b1 and b2 are gone.
    const store = storeWith([notification('a1', A), ...['b1', 'b2', 'b3', 'b4'].map((id) => notification(id, B))], {
      size: 2,
      maxAccounts: 10,
    });
    const page = await store.query({ accounts: '*', since: 'a1', limit: 100 });
    expect(page.events.map((e) => e.id)).toEqual(['b3', 'b4']);
    expect(page.complete).toBe(false);
    // Positive control: a client of A only lost nothing of A, and an anchor after the drops is complete.
    expect((await store.query({ accounts: [A], since: 'a1', limit: 100 })).complete).toBe(true);
    expect((await store.query({ accounts: '*', since: 'b3', limit: 100 })).complete).toBe(true);
  });

  it('when an account was forgotten with notifications newer than `since`, then the page says complete: false', async () => {
    // The client saw a1. B receives b1, A receives a2 (B is now the least recently active), C arrives: B is forgotten
    // with b1, which the client never got.
    const store = storeWith(
      [notification('a1', A), notification('b1', B), notification('a2', A), notification('c1', C)],
      { size: 10, maxAccounts: 2 },
    );
    const page = await store.query({ accounts: '*', since: 'a1', limit: 100 });
    expect(page.events.map((e) => e.id)).toEqual(['a2', 'c1']);
    expect(page.complete).toBe(false);
    // Positive control: an anchor newer than everything forgotten is complete.
    expect((await store.query({ accounts: '*', since: 'a2', limit: 100 })).complete).toBe(true);
  });
});

describe('MemoryHistoryStore: one id, several notifications', () => {
  it('resolves `since` to the oldest visible notification with that id, so that nothing after it is skipped', async () => {
    // A comment C1 on A, then B's x1, then C1 as a mention on B, then A's x2.
    const store = storeWith([
      notification('C1', A),
      notification('x1', B),
      notification('C1', B, 'mentions'),
      notification('x2', A),
    ]);
    const page = await store.query({ accounts: [A, B], since: 'C1', limit: 100 });
    expect(page.events.map((e) => `${e.accountId === A ? 'A' : 'B'}/${e.id}`)).toEqual(['B/x1', 'B/C1', 'A/x2']);
    expect(page.complete).toBe(true);
    // An asker who sees only B resumes from B's C1.
    const onlyB = await store.query({ accounts: [B], since: 'C1', limit: 100 });
    expect(onlyB.events.map((e) => e.id)).toEqual([]);
    expect(onlyB.complete).toBe(true);
  });
});
