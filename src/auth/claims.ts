import { z } from 'zod';
import { ALL_ACCOUNTS, type Entitlement } from '../notifications/entitlement.js';

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
  iat: z.number().optional(),
  accountIds: z.array(accountId).max(1000).optional(),
});

export interface VerifiedToken {
  readonly userId: string;
  readonly entitlement: Entitlement;
  /** Expiry in epoch milliseconds, when the token has one. */
  readonly expiresAt?: number;
  /** `iat` in epoch milliseconds, when the token has one: what a revocation is compared with. */
  readonly issuedAt?: number;
}

export function toVerifiedToken(claims: z.infer<typeof claimsSchema>): VerifiedToken | undefined {
  const userId = claims.userId ?? claims.sub;
  if (userId === undefined) return undefined;
  const ids = claims.accountIds ?? [];
  const entitlement: Entitlement = ids.includes(ALL_ACCOUNTS) ? ALL_ACCOUNTS : Object.freeze([...new Set(ids)]);
  return {
    userId,
    entitlement,
    ...(claims.exp !== undefined && { expiresAt: claims.exp * 1000 }),
    ...(claims.iat !== undefined && { issuedAt: claims.iat * 1000 }),
  };
}
