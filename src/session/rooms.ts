import { ALL_ACCOUNTS } from '../auth/claims.js';
import type { Notification } from '../notifications/notification.js';
import { effectiveAccounts, isAuthenticated, type SessionState } from './state.js';

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

export function roomsForSession(state: SessionState): Set<string> {
  const rooms = new Set<string>();
  if (!isAuthenticated(state)) return rooms;
  const accounts = effectiveAccounts(state);
  for (const type of state.subscriptions) {
    if (accounts === ALL_ACCOUNTS) rooms.add(allAccountsRoom(type));
    else for (const id of accounts) rooms.add(accountRoom(id, type));
  }
  return rooms;
}

export const isDeliveryRoom = (room: string): boolean => room.startsWith('a:') || room.startsWith('t:');
