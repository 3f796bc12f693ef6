import { ALL_ACCOUNTS, isEntitledTo, type Entitlement } from '../notifications/entitlement.js';
import type { HistoryPage, HistoryQuery, HistoryStore } from '../notifications/history.js';
import { EVENT_TYPES, type Notification } from '../notifications/notification.js';
import type { RedisClient } from './redis-connection.js';

/**
 * Bounds of one page's reads in Redis (measured by bench/redis-history.ts; README, "Performance, limits and
 * trade-offs"). A page of named accounts whose lists hold at most `list` entries in all reads them whole (exact);
 * otherwise it walks the type index, at most `scan` members, and says `complete: false` with what it found when the
 * budget runs out before `limit` matches.
 */
export const HISTORY_READ_BUDGET = { list: 3000, scan: 10_000 };

/**
 * Records one notification atomically: next sequence number, append to the account's list (trimmed to `size`),
 * store its json by seq, index it by event type and by id (for `since`), mark the account active, and forget the
 * least recently active accounts past `maxAccounts`. Trimmed and evicted entries leave every index. What is dropped
 * is noted in the drops hash, as the in-process store notes it: `a:<account>` (newest seq its list dropped),
 * `evicted` (newest seq of a forgotten account) and `anywhere` (newest of both).
 *
 * A list entry is `<seq>:<hex id>:<event type>`, small, so that a page can read and filter a list cheaply; the
 * notification json is in the entries hash under its seq, read only for the notifications a page answers. The script
 * never decodes JSON (cjson rejects a lone UTF-16 surrogate that JSON.stringify writes, and a failed script leaves its
 * earlier writes behind). The id index maps a hex id to space-separated `<seq>|<hex account>` tokens: one id may stand
 * for several notifications (a comment on one account is a mention on another). The type index is a sorted set per
 * event type, score the seq, member `<seq>:<account>`: a `*` page reads the first or last members of the asked types
 * instead of every account's list.
 * KEYS: seq, account list, id index, accounts zset, drops hash, entries hash.
 * ARGV: notification json, hex id, accountId, size, maxAccounts, list prefix, hex accountId, event type, type index
 * prefix.
 */
const RECORD = `
local function forget(raw, account)
  local colon = string.find(raw, ':', 1, true)
  local seq = string.sub(raw, 1, colon - 1)
  local idEnd = string.find(raw, ':', colon + 1, true)
  local idHex = string.sub(raw, colon + 1, idEnd - 1)
  redis.call('ZREM', ARGV[9] .. string.sub(raw, idEnd + 1), seq .. ':' .. account)
  redis.call('HDEL', KEYS[6], seq)
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
redis.call('RPUSH', KEYS[2], seq .. ':' .. ARGV[2] .. ':' .. ARGV[8])
redis.call('HSET', KEYS[6], seq, ARGV[1])
redis.call('ZADD', ARGV[9] .. ARGV[8], seq, seq .. ':' .. ARGV[3])
local token = seq .. '|' .. ARGV[7]
local tokens = redis.call('HGET', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], tokens and (tokens .. ' ' .. token) or token)
local excess = redis.call('LLEN', KEYS[2]) - tonumber(ARGV[4])
if excess > 0 then
  local dropped = 0
  for _, raw in ipairs(redis.call('LRANGE', KEYS[2], 0, excess - 1)) do dropped = forget(raw, ARGV[3]) end
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
    for _, raw in ipairs(redis.call('LRANGE', list, 0, -1)) do forget(raw, gone[i]) end
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
 * One page, read atomically (a snapshot: it never holds a notification without the older ones that were already
 * there, whoever records meanwhile). Two ways, whichever is bounded:
 * - asked accounts that hold at most `listBudget` entries in all: their lists are read whole and filtered (exact);
 * - otherwise (`*`, or many busy accounts): the type indexes of the asked types are merged by seq, from after
 *   `afterSeq` forward or from the newest backward, keeping the members of the asked accounts, until `limit` match
 *   or `budget` members were read.
 * Then the json of the (at most `limit`) notifications found, in one read. Answers `{read, truncated, json...}`
 * oldest first: `read` counts list entries, index members and notifications read, `truncated` is 1 when the budget
 * ran out first (the matches are then exact up to the last member read, and the page incomplete).
 * KEYS: entries hash, then the type indexes of the asked types.
 * ARGV: list prefix, afterSeq (-1: the latest), limit, budget, size, `*` (every account) or `list`, listBudget,
 * then the asked types (one per type index), then the asked accounts.
 */
const PAGE = `
local prefix, after, limit, budget, size = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local forward = after >= 0
local listBudget = tonumber(ARGV[7])
local firstAccount = 7 + #KEYS
local read, truncated, seqs = 0, 0, {}
local function fetch()
  local out = { read + #seqs, truncated }
  if #seqs > 0 then
    for _, json in ipairs(redis.call('HMGET', KEYS[1], unpack(seqs))) do out[#out + 1] = json end
  end
  return out
end
local accounts = nil
if ARGV[6] == 'list' then
  accounts = {}
  local total = 0
  for i = firstAccount, #ARGV do accounts[ARGV[i]] = true end
  -- Counted only when the lists may hold more than the budget (a call per account).
  if (#ARGV - firstAccount + 1) * size > listBudget then
    for i = firstAccount, #ARGV do total = total + redis.call('LLEN', prefix .. ARGV[i]) end
  end
  if total <= listBudget then
    local types = {}
    for i = 8, firstAccount - 1 do types[ARGV[i]] = true end
    local found = {}
    for i = firstAccount, #ARGV do
      for _, raw in ipairs(redis.call('LRANGE', prefix .. ARGV[i], 0, -1)) do
        read = read + 1
        local a = string.find(raw, ':', 1, true)
        local seq = tonumber(string.sub(raw, 1, a - 1))
        if seq > after and types[string.sub(raw, string.find(raw, ':', a + 1, true) + 1)] then found[#found + 1] = seq end
      end
    end
    table.sort(found)
    local first = forward and 1 or math.max(1, #found - limit + 1)
    for i = first, math.min(#found, first + limit - 1) do seqs[#seqs + 1] = found[i] end
    return fetch()
  end
end
local chunk = math.min(budget, math.max(limit, 128))
local cursors = {}
for i = 2, #KEYS do
  cursors[#cursors + 1] = { key = KEYS[i], from = forward and ('(' .. after) or '+inf', members = {}, seqs = {}, at = 1, done = false }
end
local function head(c)
  if c.at > #c.members then
    if c.done then return nil end
    c.members = forward and redis.call('ZRANGE', c.key, c.from, '+inf', 'BYSCORE', 'LIMIT', 0, chunk)
      or redis.call('ZRANGE', c.key, c.from, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, chunk)
    read = read + #c.members
    c.at = 1
    if #c.members < chunk then c.done = true end
    if #c.members == 0 then return nil end
    for i, m in ipairs(c.members) do c.seqs[i] = tonumber(string.sub(m, 1, string.find(m, ':', 1, true) - 1)) end
    c.from = '(' .. c.seqs[#c.members]
  end
  return c.seqs[c.at]
end
local scanned = 0
while #seqs < limit do
  local best, bestSeq = nil, nil
  for _, c in ipairs(cursors) do
    local s = head(c)
    if s and (bestSeq == nil or (forward and s < bestSeq) or (not forward and s > bestSeq)) then best, bestSeq = c, s end
  end
  if best == nil then break end
  if scanned >= budget then truncated = 1 break end
  local m = best.members[best.at]
  best.at = best.at + 1
  scanned = scanned + 1
  if accounts == nil or accounts[string.sub(m, string.find(m, ':', 1, true) + 1)] then seqs[#seqs + 1] = bestSeq end
end
if not forward then
  for i = 1, math.floor(#seqs / 2) do seqs[i], seqs[#seqs - i + 1] = seqs[#seqs - i + 1], seqs[i] end
end
return fetch()
`;

/**
 * History shared by every process, with the in-process store's semantics: a list per account (`size`), accounts
 * bounded by recency (`maxAccounts`), one sequence for arrival order across accounts, `complete: false` when entries
 * newer than `since` were dropped. Single Redis (or Sentinel): the scripts touch keys they compute, which Redis
 * Cluster would not allow.
 *
 * A query reads at most `HISTORY_READ_BUDGET` list entries or index members, whatever the filter and `since` (before
 * the type index, a filtered `*` page after a forgotten `since` read every kept entry of every account: 1.7 s of
 * Redis at 500 accounts). Where the budget runs out before `limit` matches (asked accounts that are a sliver of a
 * busy history, or a type they rarely receive), the page holds the matches found and says `complete: false`: the
 * one case where it differs from the in-process store, which answers exactly at any bound.
 */
export class RedisHistoryStore implements HistoryStore {
  readonly #keys: {
    seq: string;
    ids: string;
    accounts: string;
    listPrefix: string;
    drops: string;
    typePrefix: string;
    entries: string;
  };
  readonly #budget: { list: number; scan: number };
  /** Index members and entries the last query read from Redis (what the budget bounds; for tests and benchmarks). */
  lastQueryReads = 0;

  constructor(
    private readonly client: RedisClient,
    private readonly options: { size: number; maxAccounts: number; prefix: string; budget?: { list: number; scan: number } },
  ) {
    // `history2`: lists of small entries and an entries hash (issue 11); the lists of `history:` held the json.
    const p = `${options.prefix}history2:`;
    this.#keys = {
      seq: `${p}seq`,
      ids: `${p}ids`,
      accounts: `${p}accounts`,
      listPrefix: `${p}account:`,
      drops: `${p}drops`,
      typePrefix: `${p}type:`,
      entries: `${p}entries`,
    };
    this.#budget = options.budget ?? HISTORY_READ_BUDGET;
  }

  async record(notification: Notification): Promise<void> {
    const k = this.#keys;
    await this.client.eval(RECORD, {
      keys: [k.seq, k.listPrefix + notification.accountId, k.ids, k.accounts, k.drops, k.entries],
      arguments: [
        JSON.stringify(notification),
        hex(notification.id),
        notification.accountId,
        String(this.options.size),
        String(this.options.maxAccounts),
        k.listPrefix,
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
    const reply = (await this.client.eval(PAGE, {
      keys: [this.#keys.entries, ...types.map((type) => this.#keys.typePrefix + type)],
      arguments: [
        this.#keys.listPrefix,
        String(afterSeq ?? -1),
        String(query.limit),
        String(this.#budget.scan),
        String(this.options.size),
        accounts === undefined ? '*' : 'list',
        String(this.#budget.list),
        ...types,
        ...(accounts ?? []),
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
