import { ALL_ACCOUNTS, isEntitledTo, type Entitlement } from '../notifications/entitlement.js';
import type { Entry, HistoryPage, HistoryQuery, HistoryStore } from '../notifications/history.js';
import { mergeLists } from '../notifications/history-merge.js';
import type { Notification } from '../notifications/notification.js';
import type { RedisClient } from './redis-connection.js';

/**
 * Records one notification atomically: next sequence number, append to the account's list (trimmed to `size`),
 * index its id for `since`, mark the account active, and forget the least recently active accounts past
 * `maxAccounts`. Evicted entries leave the id index too. What is dropped is noted in the drops hash, as the in-process
 * store notes it: `a:<account>` (newest seq its list dropped), `evicted` (newest seq of a forgotten account) and
 * `anywhere` (newest of both).
 *
 * An entry is `<seq>:<hex id>:<event type>:<notification json>`: the script reads its seq and id with plain string
 * functions and never decodes JSON (cjson rejects a lone UTF-16 surrogate that JSON.stringify writes, and a failed script leaves
 * its earlier writes behind). The id index maps a hex id to space-separated `<seq>|<hex account>` tokens: one id may
 * stand for several notifications (a comment on one account is a mention on another).
 * KEYS: seq, account list, id index, accounts zset, drops hash.
 * ARGV: event type and notification json (`<type>:<json>`), hex id, accountId, size, maxAccounts, list prefix, hex
 * accountId.
 */
const RECORD = `
local function forget(raw)
  local colon = string.find(raw, ':', 1, true)
  local seq = string.sub(raw, 1, colon - 1)
  local idHex = string.sub(raw, colon + 1, string.find(raw, ':', colon + 1, true) - 1)
  local tokens = redis.call('HGET', KEYS[3], idHex)
  if tokens then
    local kept, prefix = {}, seq .. '|'
    for token in string.gmatch(tokens, '%S+') do
      if string.sub(token, 1, #prefix) ~= prefix then kept[#kept + 1] = token end
    end
    if #kept == 0 then redis.call('HDEL', KEYS[3], idHex) else redis.call('HSET', KEYS[3], idHex, table.concat(kept, ' ')) end
  end
  return tonumber(seq)
end
local function raise(field, seq)
  if seq > tonumber(redis.call('HGET', KEYS[5], field) or '0') then redis.call('HSET', KEYS[5], field, seq) end
end
local seq = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], seq .. ':' .. ARGV[2] .. ':' .. ARGV[1])
local token = seq .. '|' .. ARGV[7]
local tokens = redis.call('HGET', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], tokens and (tokens .. ' ' .. token) or token)
local excess = redis.call('LLEN', KEYS[2]) - tonumber(ARGV[4])
if excess > 0 then
  local dropped = 0
  for _, raw in ipairs(redis.call('LRANGE', KEYS[2], 0, excess - 1)) do dropped = forget(raw) end
  redis.call('LTRIM', KEYS[2], excess, -1)
  raise('a:' .. ARGV[3], dropped)
  raise('anywhere', dropped)
end
redis.call('ZADD', KEYS[4], seq, ARGV[3])
local extra = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[5])
if extra > 0 then
  local gone = redis.call('ZPOPMIN', KEYS[4], extra)
  for i = 1, #gone, 2 do
    local list = ARGV[6] .. gone[i]
    for _, raw in ipairs(redis.call('LRANGE', list, 0, -1)) do forget(raw) end
    redis.call('DEL', list)
    -- The account's score is its last record: the newest entry it had.
    redis.call('HDEL', KEYS[5], 'a:' .. gone[i])
    raise('evicted', tonumber(gone[i + 1]))
    raise('anywhere', tonumber(gone[i + 1]))
  end
end
return seq
`;

/**
 * Reads, atomically, each list's entries after a seq: a binary search for the first one newer, then at most `cap`
 * entries from there (0: all). A page after `since` needs no more than `limit` entries of each list when nothing is
 * filtered out, so a far-back `since` no longer reads every kept entry.
 * KEYS: the account lists. ARGV: afterSeq, cap.
 */
const READ_AFTER = `
local after, cap, out = tonumber(ARGV[1]), tonumber(ARGV[2]), {}
for i, key in ipairs(KEYS) do
  local lo, hi = 0, redis.call('LLEN', key)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local raw = redis.call('LINDEX', key, mid)
    if tonumber(string.sub(raw, 1, string.find(raw, ':', 1, true) - 1)) > after then hi = mid else lo = mid + 1 end
  end
  out[i] = redis.call('LRANGE', key, lo, cap > 0 and lo + cap - 1 or -1)
end
return out
`;

/** Accounts read per round trip when a `*` query walks accounts from the most recently active. */
const ACCOUNT_BATCH = 100;

/**
 * History shared by every process, with the in-process store's semantics: a list per account (`size`), accounts
 * bounded by recency (`maxAccounts`), one sequence for arrival order across accounts, `complete: false` when entries
 * newer than `since` were dropped. Single Redis (or Sentinel): the record script touches keys it computes, which
 * Redis Cluster would not allow.
 *
 * Other processes record while a query reads (the in-process store never sees that): a page is a snapshot as of its
 * first read, so that it never holds a notification without an older one that was already there (the next page,
 * `since` its last id, would skip that one for good).
 */
export class RedisHistoryStore implements HistoryStore {
  readonly #keys: { seq: string; ids: string; accounts: string; listPrefix: string; drops: string };

  constructor(
    private readonly client: RedisClient,
    private readonly options: { size: number; maxAccounts: number; prefix: string },
  ) {
    const p = `${options.prefix}history:`;
    this.#keys = { seq: `${p}seq`, ids: `${p}ids`, accounts: `${p}accounts`, listPrefix: `${p}account:`, drops: `${p}drops` };
  }

  async record(notification: Notification): Promise<void> {
    const k = this.#keys;
    await this.client.eval(RECORD, {
      keys: [k.seq, k.listPrefix + notification.accountId, k.ids, k.accounts, k.drops],
      arguments: [
        `${notification.eventType}:${JSON.stringify(notification)}`,
        hex(notification.id),
        notification.accountId,
        String(this.options.size),
        String(this.options.maxAccounts),
        k.listPrefix,
        hex(notification.accountId),
      ],
    });
  }

  async query(query: HistoryQuery): Promise<HistoryPage> {
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
    const entries = query.limit > 0 ? await this.#page(query, afterSeq) : [];
    // Checked after the page was read: drops only grow, so none that the page could have missed goes unnoticed.
    if (afterSeq !== undefined && complete && (await this.#droppedSince(query.accounts, afterSeq))) complete = false;
    return { events: entries.map((e) => e.notification), complete };
  }

  async #page(query: HistoryQuery, afterSeq: number | undefined): Promise<Entry[]> {
    const types = query.eventTypes === undefined ? undefined : new Set(query.eventTypes);
    // The type is read from the entry's prefix: only the entries of the page are ever parsed.
    const matches = (entry: Entry) => types === undefined || types.has((entry as StoredEntry).eventType);
    const cap = types === undefined ? query.limit : 0;
    if (query.accounts !== ALL_ACCOUNTS) {
      const accounts = [...new Set(query.accounts)];
      const rings = afterSeq === undefined ? await this.#lists(accounts) : await this.#listsAfter(accounts, afterSeq, cap);
      return mergeLists(rings, { afterSeq, limit: query.limit, matches });
    }
    if (afterSeq === undefined) return this.#latestAcrossAccounts(query.limit, matches);
    // Only accounts active after the anchor can hold newer entries. The most recent of them bounds the snapshot.
    const active = await this.client.zRangeByScoreWithScores(this.#keys.accounts, `(${afterSeq}`, '+inf');
    const upTo = active.at(-1)?.score ?? afterSeq;
    const rings = await this.#listsAfter(active.map((a) => a.value), afterSeq, cap);
    return mergeLists(rings, { afterSeq, limit: query.limit, matches: (e) => e.seq <= upTo && matches(e) });
  }

  /**
   * The latest `limit` matches over every account, as of the start of the walk. Accounts are read from the most
   * recently active, by score rather than rank, so that accounts recorded meanwhile shift nothing (by rank, one would
   * be read twice and another skipped); an account whose last entry is older than the `limit` matches found so far
   * cannot contribute, so the walk stops there. Accounts recorded during the walk jump above it: they are read at its
   * end, and entries newer than its start are left out.
   */
  async #latestAcrossAccounts(limit: number, matches: (entry: Entry) => boolean): Promise<Entry[]> {
    const rings: Entry[][] = [];
    const read = new Set<string>();
    const readLists = async (accountIds: string[]) => {
      const unread = accountIds.filter((id) => !read.has(id));
      for (const id of unread) read.add(id);
      rings.push(...(await this.#lists(unread)));
    };
    // One more than the batch: its last activity bounds what the accounts after this batch can hold.
    const batchFrom = (max: string) =>
      this.client.zRangeWithScores(this.#keys.accounts, max, '-inf', {
        BY: 'SCORE',
        REV: true,
        LIMIT: { offset: 0, count: ACCOUNT_BATCH + 1 },
      });
    let batch = await batchFrom('+inf');
    // The last sequence number when the walk starts (the record script is atomic: every entry up to it is there).
    const upTo = batch[0]?.score ?? 0;
    const merge = () => mergeLists(rings, { afterSeq: undefined, limit, matches: (e) => e.seq <= upTo && matches(e) });
    for (;;) {
      await readLists(batch.slice(0, ACCOUNT_BATCH).map((a) => a.value));
      const next = batch[ACCOUNT_BATCH];
      const result = merge();
      if (next === undefined || (result.length >= limit && (result[0]?.seq ?? 0) > next.score)) break;
      batch = await batchFrom(String(next.score));
    }
    await readLists(await this.client.zRangeByScore(this.#keys.accounts, `(${upTo}`, '+inf'));
    return merge();
  }

  /** Each account's kept entries, oldest first, read in one transaction (one instant for every list). */
  async #lists(accountIds: string[]): Promise<Entry[][]> {
    if (accountIds.length === 0) return [];
    const transaction = this.client.multi();
    for (const id of accountIds) transaction.lRange(this.#keys.listPrefix + id, 0, -1);
    const replies = (await transaction.exec()) as unknown as string[][];
    return replies.map((raw) => raw.map(parseEntry));
  }

  /** Each account's entries after `afterSeq`, oldest first, at most `cap` of each (0: all), at one instant. */
  async #listsAfter(accountIds: string[], afterSeq: number, cap: number): Promise<Entry[][]> {
    if (accountIds.length === 0) return [];
    const replies = (await this.client.eval(READ_AFTER, {
      keys: accountIds.map((id) => this.#keys.listPrefix + id),
      arguments: [String(afterSeq), String(cap)],
    })) as string[][];
    return replies.map((raw) => raw.map(parseEntry));
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

/** A kept entry as read from Redis: seq and type from its prefix, the notification parsed only when used. */
interface StoredEntry extends Entry {
  readonly eventType: string;
}

function parseEntry(raw: string): StoredEntry {
  const first = raw.indexOf(':');
  const second = raw.indexOf(':', first + 1);
  const third = raw.indexOf(':', second + 1);
  let notification: Notification | undefined;
  return {
    seq: Number(raw.slice(0, first)),
    eventType: raw.slice(second + 1, third),
    get notification() {
      return (notification ??= JSON.parse(raw.slice(third + 1)) as Notification);
    },
  };
}

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
