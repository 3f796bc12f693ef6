import { ALL_ACCOUNTS, isEntitledTo, type Entitlement } from '../notifications/entitlement.js';
import type { HistoryPage, HistoryQuery, HistoryStore } from '../notifications/history.js';
import { EVENT_TYPES, type Notification } from '../notifications/notification.js';
import type { RedisClient } from './redis-connection.js';
import { PAGE, RECORD } from './redis-history-scripts.js';

/**
 * Most members a page of named accounts merges (measured by bench/redis-history.ts; README, "Performance, limits and
 * trade-offs"). Past it, the page holds the matches found and says `complete: false`: only asked types that are
 * common elsewhere but rare on those accounts can get there (types rare everywhere are walked in their index). A `*`
 * page needs no budget: every member of the type index it reads matches.
 */
export const HISTORY_READ_BUDGET = 2000;

/**
 * History shared by every process, with the in-process store's semantics: a list per account (`size`), accounts
 * bounded by recency (`maxAccounts`), one sequence for arrival order across accounts, `complete: false` when entries
 * newer than `since` were dropped. One Redis server: the scripts touch keys they compute, which Redis
 * Cluster would not allow.
 *
 * A page reads O(limit) members of the type index (`*`), or O(accounts asked + limit) members of their sets, and at
 * most `HISTORY_READ_BUDGET` in all, whatever the filter and `since` (before, a filtered `*` page after a forgotten
 * `since` read every kept entry of every account: 0.3 s of Redis at 500 accounts, seconds at 10 000). Where the
 * budget runs out before `limit` matches (named accounts that rarely receive the asked types), the page holds the
 * matches found and says `complete: false`: the one case where it differs from the in-process store.
 */
export class RedisHistoryStore implements HistoryStore {
  readonly #keys: {
    seq: string;
    ids: string;
    accounts: string;
    accountPrefix: string;
    drops: string;
    typePrefix: string;
    entries: string;
  };
  readonly #budget: number;
  /** Index members and entries the last query read from Redis (what the budget bounds; for tests and benchmarks). */
  lastQueryReads = 0;

  constructor(
    private readonly client: RedisClient,
    private readonly options: { size: number; maxAccounts: number; prefix: string; budget?: number },
  ) {
    // `history2`: small entries in a sorted set per account, json by seq, a type index (issue 11); `history:` held
    // lists of json entries.
    const p = `${options.prefix}history2:`;
    this.#keys = {
      seq: `${p}seq`,
      ids: `${p}ids`,
      accounts: `${p}accounts`,
      accountPrefix: `${p}account:`,
      drops: `${p}drops`,
      typePrefix: `${p}type:`,
      entries: `${p}entries`,
    };
    this.#budget = options.budget ?? HISTORY_READ_BUDGET;
  }

  async record(notification: Notification): Promise<void> {
    const k = this.#keys;
    await this.client.eval(RECORD, {
      keys: [k.seq, k.accountPrefix + notification.accountId, k.ids, k.accounts, k.drops, k.entries],
      arguments: [
        JSON.stringify(notification),
        hex(notification.id),
        notification.accountId,
        String(this.options.size),
        String(this.options.maxAccounts),
        k.accountPrefix,
        hex(notification.accountId),
        notification.eventType,
        k.typePrefix,
      ],
    });
  }

  async query(query: HistoryQuery): Promise<HistoryPage> {
    this.lastQueryReads = 0;
    let afterSeq: number | undefined;
    let complete = true;
    if (query.since !== undefined) {
      const anchor = oldestVisible(await this.client.hGet(this.#keys.ids, hex(query.since)), query.anchorAccounts ?? query.accounts);
      if (anchor !== undefined) {
        afterSeq = anchor;
      } else {
        complete = false;
        afterSeq = 0;
      }
    }
    const page = query.limit > 0 ? await this.#page(query, afterSeq) : { entries: [], truncated: false };
    if (page.truncated) complete = false;
    // Checked after the page was read: drops only grow, so none that the page could have missed goes unnoticed.
    if (afterSeq !== undefined && complete && (await this.#droppedSince(query.accounts, afterSeq))) complete = false;
    return { events: page.entries.map((json) => JSON.parse(json) as Notification), complete };
  }

  async #page(query: HistoryQuery, afterSeq: number | undefined): Promise<{ entries: string[]; truncated: boolean }> {
    const types = [...new Set(query.eventTypes ?? EVENT_TYPES)];
    const accounts = query.accounts === ALL_ACCOUNTS ? undefined : [...new Set(query.accounts)];
    if (types.length === 0 || accounts?.length === 0) return { entries: [], truncated: false };
    const k = this.#keys;
    const reply = (await this.client.eval(PAGE, {
      keys: [k.entries, ...(accounts ?? []).map((id) => k.accountPrefix + id)],
      arguments: [
        String(afterSeq ?? -1),
        String(query.limit),
        String(this.#budget),
        k.typePrefix,
        k.accountPrefix,
        accounts === undefined ? '' : k.accounts,
        ...types,
      ],
    })) as [number, number, ...string[]];
    const [read, truncated, ...entries] = reply;
    this.lastQueryReads = read;
    return { entries, truncated: truncated === 1 };
  }

  /** Whether entries newer than `afterSeq` of these accounts may have been dropped (the in-process store's rule). */
  async #droppedSince(accounts: Entitlement, afterSeq: number): Promise<boolean> {
    const ids = accounts === ALL_ACCOUNTS ? [] : [...new Set(accounts)];
    const replies = await this.client.hmGet(this.#keys.drops, ['anywhere', 'evicted', ...ids.map((id) => `a:${id}`)]);
    const [anywhere = 0, evicted = 0, ...perAccount] = (replies as unknown as (string | null)[]).map(Number);
    if (anywhere <= afterSeq) return false;
    // A forgotten account's note is gone with it: any account evicted since the anchor may be one of these.
    if (accounts === ALL_ACCOUNTS || evicted > afterSeq) return true;
    return perAccount.some((seq) => seq > afterSeq);
  }
}

const hex = (value: string): string => Buffer.from(value, 'utf8').toString('hex');

/**
 * The seq `since` resolves to: of the notifications kept under that id, the oldest one the asker may see (answering
 * from it may repeat a notification, never skip one). Undefined when none is kept or visible.
 */
function oldestVisible(tokens: string | null | undefined, accounts: Entitlement): number | undefined {
  let oldest: number | undefined;
  for (const token of tokens?.split(' ') ?? []) {
    const bar = token.indexOf('|');
    const seq = Number(token.slice(0, bar));
    const accountId = Buffer.from(token.slice(bar + 1), 'hex').toString('utf8');
    if (isEntitledTo(accounts, accountId) && (oldest === undefined || seq < oldest)) oldest = seq;
  }
  return oldest;
}
