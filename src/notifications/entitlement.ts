/** `accountIds: ["*"]` entitles a user to every Instagram account. */
export const ALL_ACCOUNTS = '*';

/** Which Instagram accounts a user may see: every one, or a list (possibly empty: authenticated but sees nothing). */
export type Entitlement = typeof ALL_ACCOUNTS | readonly string[];

/** How an entitlement is echoed to clients: the claim's list, or `["*"]`. */
export const entitlementToList = (e: Entitlement): string[] => (e === ALL_ACCOUNTS ? [ALL_ACCOUNTS] : [...e]);

export const isEntitledTo = (e: Entitlement, accountId: string): boolean =>
  e === ALL_ACCOUNTS || e.includes(accountId);
