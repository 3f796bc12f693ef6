import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { accountRoom, allAccountsRoom, roomChangeCount, roomsOnlyIn, type RoomPlan } from '../src/delivery/rooms.js';

const full = (plan: RoomPlan): Set<string> =>
  new Set(
    plan.types.flatMap((type) =>
      plan.accounts === '*' ? [allAccountsRoom(type)] : plan.accounts.map((account) => accountRoom(account, type)),
    ),
  );

const plan = fc.record({
  accounts: fc.oneof(fc.constant('*' as const), fc.uniqueArray(fc.constantFrom('1', '2', '3', '4', '5'))),
  types: fc.uniqueArray(fc.constantFrom('comments', 'messages', 'mentions', 'live_comments')),
});

describe('delivery rooms: a change is computed dimension by dimension', () => {
  it('roomsOnlyIn(from, to) yields exactly the rooms of `from` that `to` lacks, each once', () => {
    fc.assert(
      fc.property(plan, plan, (from, to) => {
        const yielded = [...roomsOnlyIn(from, to)];
        const expected = [...full(from)].filter((room) => !full(to).has(room));
        expect(new Set(yielded).size).toBe(yielded.length);
        expect(new Set(yielded)).toEqual(new Set(expected));
        expect(roomChangeCount(from, to)).toBe(yielded.length + [...roomsOnlyIn(to, from)].length);
      }),
      { numRuns: 500 },
    );
  });

  it('adding one type to 1 000 accounts yields 1 000 rooms and removes none', () => {
    const accounts = Array.from({ length: 1000 }, (_, i) => `acct${i}`);
    const from: RoomPlan = { accounts, types: ['comments'] };
    const to: RoomPlan = { accounts, types: ['comments', 'messages'] };
    expect([...roomsOnlyIn(to, from)]).toHaveLength(1000);
    expect([...roomsOnlyIn(from, to)]).toHaveLength(0);
  });
});
