import { z } from 'zod';

/** `accountIds: ["*"]` entitles a user to every Instagram account. */
export const ALL_ACCOUNTS = '*';

/** Which Instagram accounts a user may see: every one, or a list (possibly empty: authenticated but sees nothing). */
export type Entitlement = typeof ALL_ACCOUNTS | readonly string[];

const accountId = z.string().min(1).max(64);

/**
 * The claims we rely on (other claims are ignored). Ids are strings: Meta's account ids overflow JSON numbers, so a
 * numeric id in a token is a mistyped claim (it may already have lost digits), not something to coerce. At most
 * 1 000 accounts: the delivery rooms of one connection are bounded by accounts × event types (README, limits).
 */
export const claimsSchema = z.object({
  userId: z.string().min(1).max(256).optional(),
  sub: z.string().min(1).max(256).optional(),
  exp: z.number().optional(),
  accountIds: z.array(accountId).max(1000).optional(),
});

export interface VerifiedToken {
  readonly userId: string;
  readonly entitlement: Entitlement;
  /** Expiry in epoch milliseconds, when the token has one. */
  readonly expiresAt?: number;
}

export function toVerifiedToken(claims: z.infer<typeof claimsSchema>): VerifiedToken | undefined {
  const userId = claims.userId ?? claims.sub;
  if (userId === undefined) return undefined;
  const ids = claims.accountIds ?? [];
  const entitlement: Entitlement = ids.includes(ALL_ACCOUNTS) ? ALL_ACCOUNTS : Object.freeze([...new Set(ids)]);
  return { userId, entitlement, ...(claims.exp !== undefined && { expiresAt: claims.exp * 1000 }) };
}

/** How an entitlement is echoed to clients: the claim's list, or `["*"]`. */
export const entitlementToList = (e: Entitlement): string[] => (e === ALL_ACCOUNTS ? [ALL_ACCOUNTS] : [...e]);

export const isEntitledTo = (e: Entitlement, accountId: string): boolean =>
  e === ALL_ACCOUNTS || e.includes(accountId);
