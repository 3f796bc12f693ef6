import { ALL_ACCOUNTS, type Entitlement } from '../notifications/entitlement.js';
import type { Notification } from '../notifications/notification.js';

/**
 * Delivery rooms. A connection joins one room per (account, event type) it may receive, or one per event type when
 * it sees every account; a notification is emitted once to the union of its two rooms. Entitlement is enforced here,
 * when rooms are computed, so a connection is never in a room of an account it may not see.
 */
export const accountRoom = (accountId: string, eventType: string): string => `a:${accountId}:${eventType}`;
export const allAccountsRoom = (eventType: string): string => `t:${eventType}`;

export const roomsForNotification = (n: Pick<Notification, 'accountId' | 'eventType'>): string[] => [
  accountRoom(n.accountId, n.eventType),
  allAccountsRoom(n.eventType),
];

/**
 * The rooms of a connection, as the two lists they are the product of. Rooms are never listed whole: a change is
 * computed dimension by dimension (`roomsOnlyIn`), so that its cost is the rooms it adds or removes, not the rooms held.
 */
export interface RoomPlan {
  readonly accounts: Entitlement;
  readonly types: readonly string[];
}

export const NO_ROOMS: RoomPlan = { accounts: [], types: [] };

/** The rooms of `from` that `to` does not have, one at a time: O(|from.accounts| + rooms yielded). */
export function* roomsOnlyIn(from: RoomPlan, to: RoomPlan): Generator<string> {
  const toTypes = new Set(to.types);
  if (from.accounts === ALL_ACCOUNTS) {
    for (const type of from.types) if (to.accounts !== ALL_ACCOUNTS || !toTypes.has(type)) yield allAccountsRoom(type);
    return;
  }
  const toAccounts = to.accounts === ALL_ACCOUNTS ? undefined : new Set(to.accounts);
  // An account both plans share keeps the types both share: only the types `to` dropped are yielded for it.
  const dropped = from.types.filter((type) => !toTypes.has(type));
  for (const account of from.accounts) {
    const types = toAccounts?.has(account) ? dropped : from.types;
    for (const type of types) yield accountRoom(account, type);
  }
}

/** How many rooms moving from `from` to `to` joins and leaves, counted without listing them: O(accounts). */
export function roomChangeCount(from: RoomPlan, to: RoomPlan): number {
  return onlyInCount(from, to) + onlyInCount(to, from);
}

function onlyInCount(from: RoomPlan, to: RoomPlan): number {
  const toTypes = new Set(to.types);
  if (from.accounts === ALL_ACCOUNTS) {
    return to.accounts === ALL_ACCOUNTS ? from.types.filter((type) => !toTypes.has(type)).length : from.types.length;
  }
  if (to.accounts === ALL_ACCOUNTS) return from.accounts.length * from.types.length;
  const toAccounts = new Set(to.accounts);
  const dropped = from.types.filter((type) => !toTypes.has(type)).length;
  let count = 0;
  for (const account of from.accounts) count += toAccounts.has(account) ? dropped : from.types.length;
  return count;
}
