import { ALL_ACCOUNTS, isEntitledTo } from '../auth/claims.js';
import { mergeRings, type Entry, type HistoryPage, type HistoryQuery, type HistoryStore } from '../notifications/history.js';
import type { Notification } from '../notifications/notification.js';
import type { RedisClient } from './redis-connection.js';

/**
 * Records one notification atomically: next sequence number, append to the account's list (trimmed to `size`),
 * index its id for `since`, mark the account active, and forget the least recently active accounts past
 * `maxAccounts`. Evicted entries leave the id index too.
 * KEYS: seq, account list, id index, accounts zset. ARGV: entry json, id, accountId, size, maxAccounts, list prefix.
 */
const RECORD = `
local function forget(raw)
  local entry = cjson.decode(raw)
  local kept = redis.call('HGET', KEYS[3], entry.n.id)
  if kept and string.match(kept, '^(%d+)|') == tostring(entry.s) then redis.call('HDEL', KEYS[3], entry.n.id) end
end
local seq = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], '{"s":' .. seq .. ',"n":' .. ARGV[1] .. '}')
redis.call('HSET', KEYS[3], ARGV[2], seq .. '|' .. ARGV[3])
local excess = redis.call('LLEN', KEYS[2]) - tonumber(ARGV[4])
if excess > 0 then
  for _, raw in ipairs(redis.call('LRANGE', KEYS[2], 0, excess - 1)) do forget(raw) end
  redis.call('LTRIM', KEYS[2], excess, -1)
end
redis.call('ZADD', KEYS[4], seq, ARGV[3])
local extra = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[5])
if extra > 0 then
  local gone = redis.call('ZPOPMIN', KEYS[4], extra)
  for i = 1, #gone, 2 do
    local list = ARGV[6] .. gone[i]
    for _, raw in ipairs(redis.call('LRANGE', list, 0, -1)) do forget(raw) end
    redis.call('DEL', list)
  end
end
return seq
`;

/** Accounts read per round trip when a `*` query walks accounts from the most recently active. */
const ACCOUNT_BATCH = 100;

/**
 * History shared by every process, with the in-process store's semantics: a list per account (`size`), accounts
 * bounded by recency (`maxAccounts`), one sequence for arrival order across accounts. Single Redis (or Sentinel):
 * the record script touches keys it computes, which Redis Cluster would not allow.
 */
export class RedisHistoryStore implements HistoryStore {
  readonly #keys: { seq: string; ids: string; accounts: string; listPrefix: string };

  constructor(
    private readonly client: RedisClient,
    private readonly options: { size: number; maxAccounts: number; prefix: string },
  ) {
    const p = `${options.prefix}history:`;
    this.#keys = { seq: `${p}seq`, ids: `${p}ids`, accounts: `${p}accounts`, listPrefix: `${p}account:` };
  }

  async record(notification: Notification): Promise<void> {
    const k = this.#keys;
    await this.client.eval(RECORD, {
      keys: [k.seq, k.listPrefix + notification.accountId, k.ids, k.accounts],
      arguments: [
        JSON.stringify(notification),
        notification.id,
        notification.accountId,
        String(this.options.size),
        String(this.options.maxAccounts),
        k.listPrefix,
      ],
    });
  }

  async query(query: HistoryQuery): Promise<HistoryPage> {
    let afterSeq: number | undefined;
    let complete = true;
    if (query.since !== undefined) {
      const anchor = parseAnchor(await this.client.hGet(this.#keys.ids, query.since));
      if (anchor !== undefined && isEntitledTo(query.anchorAccounts ?? query.accounts, anchor.accountId)) {
        afterSeq = anchor.seq;
      } else {
        complete = false;
        afterSeq = 0;
      }
    }
    if (!(query.limit > 0)) return { events: [], complete };
    const types = query.eventTypes === undefined ? undefined : new Set(query.eventTypes);
    const matches = (entry: Entry) => types === undefined || types.has(entry.notification.eventType);
    const merge = (rings: Entry[][]) => mergeRings(rings, { afterSeq, limit: query.limit, matches });

    if (query.accounts !== ALL_ACCOUNTS) {
      return { events: merge(await this.#lists([...new Set(query.accounts)])).map((e) => e.notification), complete };
    }
    if (afterSeq !== undefined) {
      // Only accounts active after the anchor can hold newer entries.
      const active = await this.client.zRangeByScore(this.#keys.accounts, `(${afterSeq}`, '+inf');
      return { events: merge(await this.#lists(active)).map((e) => e.notification), complete };
    }
    return { events: (await this.#latestAcrossAccounts(merge, query.limit)).map((e) => e.notification), complete };
  }

  /**
   * The latest `limit` matches over every account, reading accounts from the most recently active: an account whose
   * last entry is older than the `limit` matches found so far cannot contribute, so the walk stops there.
   */
  async #latestAcrossAccounts(merge: (rings: Entry[][]) => Entry[], limit: number): Promise<Entry[]> {
    const rings: Entry[][] = [];
    let result: Entry[];
    for (let start = 0; ; start += ACCOUNT_BATCH) {
      // One more than the batch: its last activity bounds what the accounts after this batch can hold.
      const batch = await this.client.zRangeWithScores(this.#keys.accounts, start, start + ACCOUNT_BATCH, { REV: true });
      const next = batch[ACCOUNT_BATCH];
      rings.push(...(await this.#lists(batch.slice(0, ACCOUNT_BATCH).map((a) => a.value))));
      result = merge(rings);
      if (next === undefined || (result.length >= limit && (result[0]?.seq ?? 0) > next.score)) return result;
    }
  }

  /** Each account's kept entries, oldest first, in one round trip. */
  async #lists(accountIds: string[]): Promise<Entry[][]> {
    if (accountIds.length === 0) return [];
    const pipeline = this.client.multi();
    for (const id of accountIds) pipeline.lRange(this.#keys.listPrefix + id, 0, -1);
    const replies = (await pipeline.execAsPipeline()) as unknown as string[][];
    return replies.map((raw) => raw.map(parseEntry));
  }
}

function parseEntry(raw: string): Entry {
  const { s, n } = JSON.parse(raw) as { s: number; n: Notification };
  return { seq: s, notification: n };
}

function parseAnchor(value: string | null | undefined): { seq: number; accountId: string } | undefined {
  if (value === null || value === undefined) return undefined;
  const bar = value.indexOf('|');
  return bar === -1 ? undefined : { seq: Number(value.slice(0, bar)), accountId: value.slice(bar + 1) };
}
