"""The Lua scripts of quotas and billing. Each runs atomically; all its keys share one tenant's hash tag.

Per-minute limits are token buckets stored in the tenant's `rate` hash as `<dim>:l` (level * 60 000)
and `<dim>:t` (ms, Redis `TIME`), dims `rq` (requests), `in`, `out`, `tok` (input, output, total
tokens). Scaling the level by 60 000 makes draining exact integer arithmetic: a bucket of `limit` per
minute drains `limit` scaled units per millisecond. A request fits a bucket iff
`level_now + amount * 60 000 ≤ limit * 60 000`. The same hash keeps `rc` and `rt`: the reserved cost
(pico) and reserved tokens of every open reservation, so the budget and day/month checks are O(1).

A reservation (`resv` hash, field = request id) is stored as `"<cost> <prompt> <output> <json>"`;
its lease is the request id in the `inflight` zset, scored with the lease expiry in ms.

Exactness: counters are changed with HINCRBY from decimal strings (exact int64); Lua's doubles are
used only for comparisons and for values below 2^53 (one request's cost < 2^53 pico ≈ 9 007 units).

ADMIT   KEYS rate inflight resv usage_month usage_day ledger billed
        ARGV rid rpm itpm otpm tpm conc daily monthly budget_pico (''=none) prompt output
             cost('' = monthly overage, computed here) included overage_per_1m lease_ms resv_json
             reject_prefix reject_suffix dedupe_ttl_s usage_prefix month_ttl_s day_ttl_s
        Checks every dimension; admits iff all fit (buckets, live leases < conc, day/month tokens incl.
        open reservations, month spend + open reserved cost + cost ≤ budget); otherwise changes no
        counter and writes the REJECTED ledger record (once per request id).
        → {status(1 admitted, 0 refused, -1 duplicate id), dim, retry_ms(-1 never), rq limit, rq
           remaining, rq reset_ms, tok limit, tok remaining, tok reset_ms (limit -1 = none), cost,
           day_left, month_left, budget_left_pico ('' = no limit)}
SETTLE  KEYS billed rate inflight resv usage_month usage_day ledger
        ARGV rid mode('finish'|'reclaim') grace_ms dedupe_ttl_s itpm otpm tpm prompt completion
             cached cost('' = monthly overage) included overage_per_1m billable estimated usage_prefix
             record_prefix month_ttl_s day_ttl_s
        'reclaim' proceeds only if the lease exists and expired ≥ grace ago (ZREM-claim: one winner).
        Releases the reservation; then SET billed NX (already billed → stop); moves the token buckets
        from reserved to actual; adds usage (model and `*|*` fields, month and day); XADDs the record.
        → {1 billed | 0 not, cost or reason}
RENEW   KEYS inflight; ARGV lease_ms rid… → re-scores the leases that still exist (ZADD XX).
"""

from __future__ import annotations

__all__ = ["ADMIT", "RENEW", "SETTLE", "USAGE_DAY_TTL_S", "USAGE_MONTH_TTL_S"]

USAGE_MONTH_TTL_S = 400 * 86_400
"""Month usage hashes live ~13 months."""
USAGE_DAY_TTL_S = 62 * 86_400
"""Day usage hashes live ~2 months."""

_COMMON = """
local SCALE = 60000
local DAY_MS = 86400000
local function num(v) if not v then return 0 end return tonumber(v) or 0 end
local function lim(v) if v == nil or v == '' then return nil end return tonumber(v) end
local function int(x) return string.format('%.0f', x) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function drain(level, stamp, limit, now)
  local elapsed = now - stamp
  if elapsed < 0 then elapsed = 0 end
  level = level - elapsed * limit
  if level < 0 then level = 0 end
  return level
end
local function add_usage(keys, ttls, prefixes, metrics)
  for i, key in ipairs(keys) do
    for _, prefix in ipairs(prefixes) do
      for _, m in ipairs(metrics) do
        if m[2] ~= '0' and m[2] ~= '' then redis.call('HINCRBY', key, prefix .. m[1], m[2]) end
      end
    end
    redis.call('EXPIRE', key, ttls[i])
  end
end
"""

ADMIT = (
    _COMMON
    + """
local rate, inflight, resv, umonth, uday, ledger, billed =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local rid = ARGV[1]
if redis.call('HEXISTS', resv, rid) == 1 then
  return {-1, 'duplicate', -1, -1, -1, -1, -1, -1, -1, '0', '', '', ''}
end
local DIMS = {'rq', 'in', 'out', 'tok'}
local limits = {rq = lim(ARGV[2]), ['in'] = lim(ARGV[3]), out = lim(ARGV[4]), tok = lim(ARGV[5])}
local conc, daily, monthly, budget = lim(ARGV[6]), lim(ARGV[7]), lim(ARGV[8]), lim(ARGV[9])
local prompt, out = tonumber(ARGV[10]), tonumber(ARGV[11])
local want = prompt + out
local amount = {rq = 1, ['in'] = prompt, out = out, tok = want}
local now = now_ms()

local r = redis.call('HMGET', rate,
  'rq:l', 'rq:t', 'in:l', 'in:t', 'out:l', 'out:t', 'tok:l', 'tok:t', 'rc', 'rt')
local levels = {}
for i, d in ipairs(DIMS) do
  if limits[d] then levels[d] = drain(num(r[2 * i - 1]), num(r[2 * i]), limits[d], now) end
end
local resv_cost, resv_tok = num(r[9]), num(r[10])

local fail, retry, prio = nil, 0, 0
local function refuse(dim, wait, p)
  if fail == nil or p > prio or (p == prio and wait > retry) then fail, retry, prio = dim, wait, p end
end
for _, d in ipairs(DIMS) do
  local limit = limits[d]
  if limit then
    local need = levels[d] + amount[d] * SCALE - limit * SCALE
    if need > 0 then
      if amount[d] > limit or limit == 0 then refuse(d, -1, 2) else refuse(d, math.ceil(need / limit), 1) end
    end
  end
end
if conc then
  local live = redis.call('ZCOUNT', inflight, '(' .. int(now), '+inf')
  if live + 1 > conc then refuse('conc', 1000, 1) end
end
local m = redis.call('HMGET', umonth, '*|*|prompt_tokens', '*|*|completion_tokens', '*|*|cost_pico')
local month_tok, month_cost = num(m[1]) + num(m[2]), num(m[3])
local day_left, month_left, budget_left = nil, nil, nil
if daily then
  local d = redis.call('HMGET', uday, '*|*|prompt_tokens', '*|*|completion_tokens')
  day_left = daily - num(d[1]) - num(d[2]) - resv_tok
  if want > day_left then refuse('daily', -1, 3) end
end
if monthly then
  month_left = monthly - month_tok - resv_tok
  if want > month_left then refuse('monthly', -1, 3) end
end
local cost_str = ARGV[12]
if cost_str == '' then
  local inc, per_1m = tonumber(ARGV[13]), tonumber(ARGV[14])
  local before = month_tok + resv_tok
  cost_str = int((math.max(0, before + want - inc) - math.max(0, before - inc)) * per_1m)
end
local cost = tonumber(cost_str)
if budget then
  budget_left = budget - month_cost - resv_cost
  if cost > budget_left then refuse('budget', -1, 3) end
end

local function view(limit, level)
  if not limit then return -1, -1, -1 end
  local rem = math.floor((limit * SCALE - level) / SCALE)
  if rem < 0 then rem = 0 end
  local reset = 0
  if limit > 0 then reset = math.ceil(level / limit) end
  return limit, rem, reset
end
local tdim = 'tok'
if not limits.tok then if limits['in'] then tdim = 'in' elseif limits.out then tdim = 'out' end end
local function opt(x, minus) if x == nil then return '' end return int(x - minus) end

if fail then
  local code = 'rate_limit_exceeded'
  if prio == 3 then code = 'insufficient_quota' end
  if redis.call('SET', billed, '1', 'NX', 'EX', ARGV[19]) then
    redis.call('XADD', ledger, '*', 'r', ARGV[17] .. code .. ARGV[18])
    add_usage({umonth, uday}, {ARGV[21], ARGV[22]}, {ARGV[20], '*|*|'}, {{'requests', '1'}})
  end
  local rl, rr, rs = view(limits.rq, levels.rq or 0)
  local tl, tr, ts = view(limits[tdim], levels[tdim] or 0)
  return {0, fail, retry, rl, rr, rs, tl, tr, ts, cost_str,
          opt(day_left, 0), opt(month_left, 0), opt(budget_left, 0)}
end

for _, d in ipairs(DIMS) do
  if limits[d] then
    levels[d] = levels[d] + amount[d] * SCALE
    redis.call('HSET', rate, d .. ':l', int(levels[d]), d .. ':t', int(now))
  end
end
if cost_str ~= '0' then redis.call('HINCRBY', rate, 'rc', cost_str) end
if want > 0 then redis.call('HINCRBY', rate, 'rt', int(want)) end
redis.call('PEXPIRE', rate, DAY_MS)
redis.call('ZADD', inflight, int(now + tonumber(ARGV[15])), rid)
redis.call('PEXPIRE', inflight, DAY_MS)
redis.call('HSET', resv, rid, cost_str .. ' ' .. int(prompt) .. ' ' .. int(out) .. ' ' .. ARGV[16])
redis.call('PEXPIRE', resv, DAY_MS)
local rl, rr, rs = view(limits.rq, levels.rq or 0)
local tl, tr, ts = view(limits[tdim], levels[tdim] or 0)
return {1, '', 0, rl, rr, rs, tl, tr, ts, cost_str,
        opt(day_left, want), opt(month_left, want), opt(budget_left, cost)}
"""
)

SETTLE = (
    _COMMON
    + """
local billed, rate, inflight, resv, umonth, uday, ledger =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local rid = ARGV[1]
local now = now_ms()
if ARGV[2] == 'reclaim' then
  local score = redis.call('ZSCORE', inflight, rid)
  if not score or tonumber(score) > now - tonumber(ARGV[3]) then return {0, 'not_expired'} end
end
local rp, ro = 0, 0
local stored = redis.call('HGET', resv, rid)
if stored then
  local c, p, o = string.match(stored, '^(%d+) (%d+) (%d+) ')
  rp, ro = tonumber(p), tonumber(o)
  redis.call('HDEL', resv, rid)
  if c ~= '0' then redis.call('HINCRBY', rate, 'rc', '-' .. c) end
  if rp + ro > 0 then redis.call('HINCRBY', rate, 'rt', int(-(rp + ro))) end
end
redis.call('ZREM', inflight, rid)
if not redis.call('SET', billed, '1', 'NX', 'EX', ARGV[4]) then return {0, 'duplicate'} end

local limits = {['in'] = lim(ARGV[5]), out = lim(ARGV[6]), tok = lim(ARGV[7])}
local P, C = tonumber(ARGV[8]), tonumber(ARGV[9])
local delta = {['in'] = P - rp, out = C - ro, tok = P + C - rp - ro}
for _, d in ipairs({'in', 'out', 'tok'}) do
  local limit = limits[d]
  if limit and delta[d] ~= 0 then
    local b = redis.call('HMGET', rate, d .. ':l', d .. ':t')
    local level = drain(num(b[1]), num(b[2]), limit, now) + delta[d] * SCALE
    if level < 0 then level = 0 end
    redis.call('HSET', rate, d .. ':l', int(level), d .. ':t', int(now))
  end
end
if redis.call('EXISTS', rate) == 1 then redis.call('PEXPIRE', rate, DAY_MS) end
local cost_str = ARGV[11]
if cost_str == '' then
  local m = redis.call('HMGET', umonth, '*|*|prompt_tokens', '*|*|completion_tokens')
  local before = num(m[1]) + num(m[2])
  local inc, per_1m = tonumber(ARGV[12]), tonumber(ARGV[13])
  cost_str = int((math.max(0, before + P + C - inc) - math.max(0, before - inc)) * per_1m)
end
add_usage({umonth, uday}, {ARGV[18], ARGV[19]}, {ARGV[16], '*|*|'}, {
  {'requests', '1'}, {'billable_requests', ARGV[14]}, {'prompt_tokens', ARGV[8]},
  {'completion_tokens', ARGV[9]}, {'cached_tokens', ARGV[10]}, {'cost_pico', cost_str},
  {'estimated_requests', ARGV[15]}})
redis.call('XADD', ledger, '*', 'r', ARGV[17] .. cost_str .. '}')
return {1, cost_str}
"""
)

RENEW = """
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
local renewed = 0
for i = 2, #ARGV do
  renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', string.format('%.0f', expiry), ARGV[i])
end
return renewed
"""
