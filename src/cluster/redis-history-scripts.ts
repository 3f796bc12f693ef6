/**
 * The Lua scripts of the Redis history store (redis-history-store.ts): the atomic record of one notification in every
 * index, and the atomic read of one page. Kept apart from the store's TypeScript: they are its storage format.
 */
/**
 * Records one notification atomically: next sequence number, add it to the account's sorted set (trimmed to
 * `size`), store its json by seq, index it by event type and by id (for `since`), mark the account active, and forget
 * the least recently active accounts past `maxAccounts`. Trimmed and evicted entries leave every index. What is
 * dropped is noted in the drops hash, as the in-process store notes it: `a:<account>` (newest seq its set dropped),
 * `evicted` (newest seq of a forgotten account) and `anywhere` (newest of both).
 *
 * An account's entries are a sorted set by seq of `<seq>:<hex id>:<event type>`, small, so that a page finds where
 * `since` falls in one call and filters by type without reading json; the notification json is in the entries hash
 * under its seq, read only for the notifications a page answers. The script never decodes JSON (cjson rejects a lone
 * UTF-16 surrogate that JSON.stringify writes, and a failed script leaves its earlier writes behind). The id index
 * maps a hex id to space-separated `<seq>|<hex account>` tokens: one id may stand for several notifications (a
 * comment on one account is a mention on another). The type index is a sorted set per event type, score the seq,
 * member `<seq>:<account>`: a `*` page reads the first or last members of the asked types, not every account.
 * KEYS: seq, account set, id index, accounts zset, drops hash, entries hash.
 * ARGV: notification json, hex id, accountId, size, maxAccounts, account set prefix, hex accountId, event type, type
 * index prefix.
 *
 * Idempotent: a notification already kept (same id, account and event type) is left as it is and 0 returned (a
 * publish retried after its record's answer was lost); the new seq when recorded.
 */
export const RECORD = `
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
local kept = redis.call('HGET', KEYS[3], ARGV[2])
if kept then
  local suffix = '|' .. ARGV[7]
  for token in string.gmatch(kept, '%S+') do
    if string.sub(token, -#suffix) == suffix then
      local keptSeq = string.sub(token, 1, #token - #suffix)
      if redis.call('ZSCORE', ARGV[9] .. ARGV[8], keptSeq .. ':' .. ARGV[3]) then return 0 end
    end
  end
end
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, seq .. ':' .. ARGV[2] .. ':' .. ARGV[8])
redis.call('HSET', KEYS[6], seq, ARGV[1])
redis.call('ZADD', ARGV[9] .. ARGV[8], seq, seq .. ':' .. ARGV[3])
local token = seq .. '|' .. ARGV[7]
local tokens = redis.call('HGET', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], tokens and (tokens .. ' ' .. token) or token)
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if excess > 0 then
  local dropped = 0
  for _, raw in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do dropped = forget(raw, ARGV[3]) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
  raise('a:' .. ARGV[3], dropped)
  raise('anywhere', dropped)
end
redis.call('ZADD', KEYS[4], seq, ARGV[3])
local extra = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[5])
if extra > 0 then
  local gone = redis.call('ZPOPMIN', KEYS[4], extra)
  for i = 1, #gone, 2 do
    local set = ARGV[6] .. gone[i]
    for _, raw in ipairs(redis.call('ZRANGE', set, 0, -1)) do forget(raw, gone[i]) end
    redis.call('DEL', set)
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
 * there, whoever records meanwhile). A k-way merge on a heap of cursors reads sorted sets whose members start with
 * `<seq>:`, by seq, from after `afterSeq` forward or from the newest backward, a few members a call, until `limit`
 * match, the sets run out, or a budget of merged members is spent. The sets are
 * - for a `*` page, the type indexes of the asked types: every member matches, so `limit` members at most;
 * - for named accounts (only those kept and, forward, active after `afterSeq`), the same indexes, keeping the
 *   members of those accounts (after the member's first colon), when the asked types hold at most `budget` members
 *   after `afterSeq` (the walk is exact) or when a walk of a quarter of the budget finds the page; else the accounts'
 *   own sets, keeping the asked types (after a member's second colon), within `budget` (the latest page opens them
 *   newest first, each once the merge reaches its last activity).
 * Then the json of the (at most `limit`) notifications found, in one read. Answers `{read, truncated, json...}`
 * oldest first: `read` counts members and notifications read, `truncated` is 1 when the budget ran out first (the
 * matches are then exact up to the last member merged, and the page incomplete).
 * KEYS: entries hash, then the asked accounts' sets (none for `*`).
 * ARGV: afterSeq (-1: the latest), limit, budget, type index prefix, account set prefix, the accounts zset (empty for
 * `*`), then the asked types.
 */
export const PAGE = `
local after, limit, budget, typePrefix, accountPrefix = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local forward = after >= 0
local read, seqs = 0, {}
local function seqOf(m) return tonumber(string.sub(m, 1, string.find(m, ':', 1, true) - 1)) end
local function load(c)
  c.members = forward and redis.call('ZRANGE', c.key, c.from, '+inf', 'BYSCORE', 'LIMIT', 0, c.count)
    or redis.call('ZRANGE', c.key, c.from, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, c.count)
  read = read + #c.members
  c.at = 1
  c.done = #c.members < c.count
  if #c.members == 0 then return false end
  c.from = '(' .. seqOf(c.members[#c.members])
  c.seq = seqOf(c.members[1])
  c.k = forward and c.seq or -c.seq
  c.count = math.min(c.count * 2, 128)
  return true
end
-- Merges the sources into seqs (emptied first) until limit match, they run out, or budget members were merged;
-- true when the budget ran out first. A min-heap on each cursor's key: its seq forward, minus its seq backward
-- (compared inline: this is the hot loop).
-- pending (latest only): more sources with their newest seq, newest first, each opened only once the merge reaches
-- its newest seq (a source whose newest is older than the page never costs a call).
local function merge(sources, matches, budget, pending)
  seqs = {}
  local heap = {}
  local function up(i)
    local c = heap[i]
    while i > 1 do
      local parent = math.floor(i / 2)
      if heap[parent].k <= c.k then break end
      heap[i] = heap[parent]
      i = parent
    end
    heap[i] = c
  end
  local function down(i)
    local n, c = #heap, heap[i]
    while true do
      local l = 2 * i
      if l > n then break end
      if l < n and heap[l + 1].k < heap[l].k then l = l + 1 end
      if heap[l].k >= c.k then break end
      heap[i] = heap[l]
      i = l
    end
    heap[i] = c
  end
  -- A first read of a few members each (enough for a page when they share it evenly), more as a source proves busy:
  -- a call costs more than a few members, so at least four.
  local count = #sources + (pending and #pending or 0)
  local first = math.max(4, math.min(limit, math.ceil(2 * limit / math.max(1, count))))
  for _, key in ipairs(sources) do
    local c = { key = key, from = forward and ('(' .. after) or '+inf', count = first }
    if load(c) then heap[#heap + 1] = c end
  end
  for i = math.floor(#heap / 2), 1, -1 do down(i) end
  local merged, opened = 0, 1
  local function open()
    while pending and pending[opened] and (#heap == 0 or pending[opened][2] > -heap[1].k) do
      local c = { key = pending[opened][1], from = '+inf', count = first }
      opened = opened + 1
      if load(c) then
        heap[#heap + 1] = c
        up(#heap)
      end
    end
  end
  open()
  while #seqs < limit and #heap > 0 do
    -- A source opened lazily costs a call, which costs about what merging four members does.
    if merged + 4 * (opened - 1) >= budget then return true end
    local c = heap[1]
    local m = c.members[c.at]
    merged = merged + 1
    if matches == nil or matches(m) then
      seqs[#seqs + 1] = c.seq
      if #seqs == limit then break end
    end
    c.at = c.at + 1
    local alive = c.at <= #c.members
    if alive then
      c.seq = seqOf(c.members[c.at])
      c.k = forward and c.seq or -c.seq
    elseif not c.done then
      alive = load(c)
    end
    if not alive then
      heap[1] = heap[#heap]
      heap[#heap] = nil
    end
    if #heap > 0 then down(1) end
    open()
  end
  return false
end
local function finish(truncated)
  if not forward then
    for i = 1, math.floor(#seqs / 2) do seqs[i], seqs[#seqs - i + 1] = seqs[#seqs - i + 1], seqs[i] end
  end
  local out = { read + #seqs, truncated and 1 or 0 }
  if #seqs > 0 then
    for _, json in ipairs(redis.call('HMGET', KEYS[1], unpack(seqs))) do out[#out + 1] = json end
  end
  return out
end
local typeIndexes = {}
for i = 7, #ARGV do typeIndexes[#typeIndexes + 1] = typePrefix .. ARGV[i] end
if ARGV[6] == '' then return finish(merge(typeIndexes, nil, limit)) end
-- Named accounts. Those not kept, or (forward) quiet since afterSeq, have nothing to answer.
local names, sets, newest, wanted = {}, {}, {}, {}
for k = 2, #KEYS do names[#names + 1] = string.sub(KEYS[k], #accountPrefix + 1) end
local active = redis.call('ZMSCORE', ARGV[6], unpack(names))
for i, name in ipairs(names) do
  local last = active[i] and tonumber(active[i])
  if last and last > after then
    sets[#sets + 1] = KEYS[i + 1]
    newest[#newest + 1] = { KEYS[i + 1], last }
    wanted[name] = true
  end
end
if #sets == 0 then return finish(false) end
local function ofAccount(m) return wanted[string.sub(m, string.find(m, ':', 1, true) + 1)] end
-- The type indexes, when the whole walk fits the budget (rare types), or when a short walk finds the page (accounts
-- that hold much of the history); else the accounts' sets, where the budget may run out (types rare on them only).
local indexed = 0
for _, key in ipairs(typeIndexes) do
  indexed = indexed + (forward and redis.call('ZCOUNT', key, '(' .. after, '+inf') or redis.call('ZCARD', key))
end
if indexed <= budget then return finish(merge(typeIndexes, ofAccount, budget)) end
if not merge(typeIndexes, ofAccount, math.floor(budget / 4)) then return finish(false) end
local types = {}
for i = 7, #ARGV do types[ARGV[i]] = true end
local function ofType(m) return types[string.sub(m, string.find(m, ':', string.find(m, ':', 1, true) + 1, true) + 1)] end
if forward then return finish(merge(sets, ofType, budget)) end
table.sort(newest, function(a, b) return a[2] > b[2] end)
return finish(merge({}, ofType, budget, newest))
`;
