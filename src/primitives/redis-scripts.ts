// The Redis backend's server-side half: each operation is one Lua script, so it is atomic in Redis as each
// request is atomic in the master's memory backend. Time is Redis's clock (TIME), so masters on several
// machines agree on due times, leases and ttls. Key layout (P = the prefix, `shared_prefix`):
//
//   P:id                 task ids (INCR, floor TIME in ms; unique across queues and across a Redis restart)
//   P:queues             set of queue names
//   P:t:ID               one task: q queue, d data (JSON text), p priority, m max attempts, a attempts,
//                        e last nack error, o lease owner (while leased), dr/dt dead reason and time
//   P:q:Q:r              ready, zset: score −priority, member the zero-padded id (equal scores sort by
//                        member, so within a priority the oldest id comes first)
//   P:q:Q:d              delayed, zset by due time;  P:q:Q:l leased, zset by lease end
//   P:q:Q:x              dead letters, list of ids, oldest first;  P:q:Q:n counters (hash)
//   P:q:Q:wm             masters with takers the queue could not serve: pushes publish a wake only then
//   P:o:OWNER            ids leased by one worker process;  P:ol:OWNER lock names it holds
//   P:ms, P:m:MID        masters (set) and each one's liveness key (PX ttl, refreshed);  P:mo:MID its owners
//   P:hb                 some master beat within half a liveness (PX);  P:grace no master is taken for
//                        dead while it lives (PX a liveness + 2 s, set when P:hb had lapsed: Redis was away)
//   P:born               a mark set once: a different one, or none, tells a master the data was lost
//   P:s                  shared state, hash key → JSON text;  P:token lock tokens (INCR, floor TIME in µs)
//   P:L:NAME             a lock's holder (o owner, w waiter id, t token, u until ms or 0);
//   P:Lw:NAME            its waiters, list of "wid|ttl|owner";  P:locks names with a holder or waiters
//
// Channels: P:w:Q a queue has tasks to take (sent only when P:q:Q:wm is not empty); P:g:MID lock grants for master MID ("wid token name");
// P:sc:KEY a state key changed ("1" + JSON text, or "0" when deleted).
//
// Owners are "MID/group:name#pid", so any master can tell whose master a holder belongs to.

/** Helpers the operations share. ARGV[1] is the prefix. */
const PRELUDE = `
local P = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- The next fencing token: one more than the last, and never below Redis's clock in µs, so that a counter
-- lost with the data (a restart without persistence, the last second of AOF everysec) does not go back
-- below tokens already granted. A string: Lua would print a number this large as 1.79e+15.
local function next_token()
  local t = redis.call('TIME')
  local floor = t[1] .. string.format('%06d', tonumber(t[2]))
  local token = redis.call('INCR', P .. ':token')
  if token < tonumber(floor) then
    redis.call('SET', P .. ':token', floor)
    return floor
  end
  return string.format('%.0f', token)
end
-- whether a master whose liveness key is missing may be taken for dead: heartbeats have been arriving
-- (P:hb), and the grace that follows a silence of every master (P:grace) is over
local function reap_ok()
  return redis.call('EXISTS', P .. ':hb') == 1 and redis.call('EXISTS', P .. ':grace') == 0
end
-- The next task id: one more than the last, and never below Redis's clock in ms: a counter lost with the
-- data must not hand out ids again, since a lease taken before the restart would then settle the new task
-- of the same id (same owner and attempt), and producers use ids as idempotency keys. Milliseconds, not
-- the tokens' µs: 13 digits, which Lua prints exactly (it prints 15 digits and more as 1.7e+15), so the
-- task keys an older drover's scripts build on the same prefix (a USR2 across an upgrade) stay right. The
-- cost: ids can run ahead of the clock only by pushing more than 1000 a second for a while.
local function next_id()
  local floor = now_ms()
  local id = redis.call('INCR', P .. ':id')
  if id < floor then
    redis.call('SET', P .. ':id', string.format('%.0f', floor))
    return floor
  end
  return id
end
-- 13 digits until the year 2286 (ids are ms since 1970); the ready zset sorts equal scores by this text
local function pad(id) return string.format('%016d', tonumber(id)) end
-- a task's key, its id written out in full whatever its size (Lua prints 15 digits and more in e-notation)
local function tkey(m) return P .. ':t:' .. string.format('%.0f', tonumber(m)) end
local function qkey(q, part) return P .. ':q:' .. q .. ':' .. part end
local function mid_of(owner) return string.match(owner, '^([^/]*)/') or '' end
-- tells the masters whose takers found the queue empty that it has a task now (no message otherwise)
local function wake(q)
  if redis.call('SCARD', qkey(q, 'wm')) > 0 then redis.call('PUBLISH', P .. ':w:' .. q, '1') end
end

-- a task whose lease ended without ack or nack: ready again, or dead when its attempts are used up
local function bury(q, m, reason, now)
  redis.call('HSET', tkey(m), 'dr', reason, 'dt', now)
  redis.call('RPUSH', qkey(q, 'x'), m)
end
local function lose(q, m, reason, now)
  local tk = tkey(m)
  redis.call('ZREM', qkey(q, 'l'), m)
  local owner = redis.call('HGET', tk, 'o')
  if owner then redis.call('SREM', P .. ':o:' .. owner, m) end
  redis.call('HDEL', tk, 'o')
  redis.call('HINCRBY', qkey(q, 'n'), 'lost', 1)
  local f = redis.call('HMGET', tk, 'a', 'm', 'p')
  if tonumber(f[1]) >= tonumber(f[2]) then bury(q, m, reason, now)
  else
    redis.call('ZADD', qkey(q, 'r'), -tonumber(f[3]), m)
    wake(q)
  end
end

-- due delayed tasks become ready, lapsed leases go back; tells takers everywhere when something is ready
local function promote(q, now)
  local due = redis.call('ZRANGEBYSCORE', qkey(q, 'd'), '-inf', now, 'LIMIT', 0, 1000)
  for _, m in ipairs(due) do
    redis.call('ZREM', qkey(q, 'd'), m)
    redis.call('ZADD', qkey(q, 'r'), -tonumber(redis.call('HGET', tkey(m), 'p')), m)
  end
  if #due > 0 then wake(q) end
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', qkey(q, 'l'), '-inf', now, 'LIMIT', 0, 1000)) do
    lose(q, m, 'lease expired', now)
  end
end

-- ms until the queue's next due task or lease end, or -1
local function next_deadline(q, now)
  local next = -1
  for _, part in ipairs({'d', 'l'}) do
    local first = redis.call('ZRANGE', qkey(q, part), 0, 0, 'WITHSCORES')
    if first[2] then
      local delta = math.max(0, tonumber(first[2]) - now)
      if next < 0 or delta < next then next = delta end
    end
  end
  return next
end

-- the lease of task m on queue q held by owner for delivery attempt (0: whichever it holds), or nil
-- (lapsed leases are lost here). A process whose lease lapsed can take the same task again (another of
-- its loops): the late settling of the first delivery must not settle the second, which still runs.
local function held(q, m, owner, now, attempt)
  local tk = tkey(m)
  if redis.call('HGET', tk, 'q') ~= q or redis.call('HGET', tk, 'o') ~= owner then return nil end
  local untilMs = redis.call('ZSCORE', qkey(q, 'l'), m)
  if not untilMs then return nil end
  if tonumber(untilMs) <= now then
    lose(q, m, 'lease expired', now)
    return nil
  end
  -- 'a' counts deliveries, so while leased it is the attempt of the delivery holding the lease
  if attempt > 0 and tonumber(redis.call('HGET', tk, 'a')) ~= attempt then return nil end
  return tk
end

local function end_lease(q, m, owner)
  redis.call('ZREM', qkey(q, 'l'), m)
  redis.call('SREM', P .. ':o:' .. owner, m)
  redis.call('HDEL', tkey(m), 'o')
end

-- grants a free lock to its first waiter whose master is alive; returns {wid, token} when that waiter
-- belongs to master 'caller', else publishes the grant to the waiter's master
local function serve_lock(name, now, caller)
  local L = P .. ':L:' .. name
  local u = redis.call('HGET', L, 'u')
  if u and tonumber(u) > 0 and tonumber(u) <= now then
    redis.call('SREM', P .. ':ol:' .. redis.call('HGET', L, 'o'), name)
    redis.call('DEL', L)
  end
  local granted = nil
  while redis.call('EXISTS', L) == 0 do
    local entry = redis.call('LPOP', P .. ':Lw:' .. name)
    if not entry then break end
    local wid, ttl, owner = string.match(entry, '^([^|]*)|([^|]*)|(.*)$')
    local mid = mid_of(owner)
    -- the master asking is alive by definition (its liveness key may be missing after a Redis restart)
    if mid == caller or redis.call('EXISTS', P .. ':m:' .. mid) == 1 then
      local token = next_token()
      local untilMs = 0
      if tonumber(ttl) > 0 then untilMs = now + tonumber(ttl) end
      redis.call('HSET', L, 'o', owner, 'w', wid, 't', token, 'u', untilMs)
      redis.call('SADD', P .. ':ol:' .. owner, name)
      redis.call('SADD', P .. ':mo:' .. mid, owner)
      if mid == caller then granted = {wid, token}
      else redis.call('PUBLISH', P .. ':g:' .. mid, wid .. ' ' .. token .. ' ' .. name) end
    end
  end
  if redis.call('EXISTS', L) == 0 and redis.call('LLEN', P .. ':Lw:' .. name) == 0 then
    redis.call('SREM', P .. ':locks', name)
  end
  return granted
end

-- the owner's process has exited: its leases go back (an attempt spent), its locks are released
local function owner_gone(owner, now, caller)
  local ok = P .. ':o:' .. owner
  for _, m in ipairs(redis.call('SMEMBERS', ok)) do
    local q = redis.call('HGET', tkey(m), 'q')
    if q and redis.call('HGET', tkey(m), 'o') == owner then lose(q, m, 'worker exited', now) end
  end
  redis.call('DEL', ok)
  local grants = {}
  local ol = P .. ':ol:' .. owner
  for _, name in ipairs(redis.call('SMEMBERS', ol)) do
    if redis.call('HGET', P .. ':L:' .. name, 'o') == owner then
      redis.call('DEL', P .. ':L:' .. name)
      local g = serve_lock(name, now, caller)
      if g then grants[#grants + 1] = {g[1], g[2], name} end
    end
  end
  redis.call('DEL', ol)
  redis.call('SREM', P .. ':mo:' .. mid_of(owner), owner)
  return grants
end
`;

/** A script body and how many of its ARGV it takes after the prefix (ioredis' numberOfKeys stays 0). */
export const SCRIPTS = {
  /** ARGV: P, queue, data, priority, maxAttempts, delayMs → id */
  push: `
local q, pri, delay = ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[6])
local id = next_id()
local m = pad(id)
redis.call('HSET', tkey(id), 'q', q, 'd', ARGV[3], 'p', pri, 'm', ARGV[5], 'a', 0)
redis.call('SADD', P .. ':queues', q)
redis.call('HINCRBY', qkey(q, 'n'), 'pushed', 1)
if delay > 0 then redis.call('ZADD', qkey(q, 'd'), now_ms() + delay, m)
else redis.call('ZADD', qkey(q, 'r'), -pri, m) end
-- a delayed task wakes waiting masters too: their take finds it not due and arms a timer for when it is
wake(q)
return id`,

  /**
   * ARGV: P, MID, queue, '1' when these are all of MID's waiting takers, then owner and leaseMs for each
   * waiting taker in order → { {id, data, priority, attempt, maxAttempts} per taker served, ms to the next
   * deadline or −1 }. A master left with unserved takers joins the queue's wake list (P:q:Q:wm).
   */
  take: `
local mid, q = ARGV[2], ARGV[3]
local now = now_ms()
redis.call('SADD', P .. ':queues', q)
promote(q, now)
local out = {}
local asked = (#ARGV - 4) / 2
for i = 5, #ARGV - 1, 2 do
  local popped = redis.call('ZPOPMIN', qkey(q, 'r'))
  if not popped[1] then break end
  local m, owner = popped[1], ARGV[i]
  local tk = tkey(m)
  local a = redis.call('HINCRBY', tk, 'a', 1)
  redis.call('HSET', tk, 'o', owner)
  redis.call('ZADD', qkey(q, 'l'), now + tonumber(ARGV[i + 1]), m)
  redis.call('SADD', P .. ':o:' .. owner, m)
  redis.call('SADD', P .. ':mo:' .. mid, owner)
  local f = redis.call('HMGET', tk, 'd', 'p', 'm')
  out[#out + 1] = {tonumber(m), f[1], f[2], a, f[3]}
end
if #out < asked then redis.call('SADD', qkey(q, 'wm'), mid)
elseif ARGV[4] == '1' then redis.call('SREM', qkey(q, 'wm'), mid) end
return {out, next_deadline(q, now)}`,

  /** ARGV: P, queue, id, owner, attempt (0: any) → 1 acked, 0 the lease was lost */
  ack: `
local q, m, owner = ARGV[2], pad(ARGV[3]), ARGV[4]
local tk = held(q, m, owner, now_ms(), tonumber(ARGV[5]))
if not tk then return 0 end
end_lease(q, m, owner)
redis.call('DEL', tk)
redis.call('HINCRBY', qkey(q, 'n'), 'acked', 1)
return 1`,

  /** ARGV: P, queue, id, owner, retryInMs, error ('' none), hasError, attempt (0: any) → 'requeued' | 'dead' | 'lost' */
  nack: `
local q, m, owner, retry = ARGV[2], pad(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local now = now_ms()
local tk = held(q, m, owner, now, tonumber(ARGV[8]))
if not tk then return 'lost' end
end_lease(q, m, owner)
redis.call('HINCRBY', qkey(q, 'n'), 'nacked', 1)
if ARGV[7] == '1' then redis.call('HSET', tk, 'e', ARGV[6]) else redis.call('HDEL', tk, 'e') end
local f = redis.call('HMGET', tk, 'a', 'm', 'p')
if tonumber(f[1]) >= tonumber(f[2]) then
  bury(q, m, 'nacked', now)
  return 'dead'
end
if retry > 0 then redis.call('ZADD', qkey(q, 'd'), now + retry, m)
else redis.call('ZADD', qkey(q, 'r'), -tonumber(f[3]), m) end
wake(q)
return 'requeued'`,

  /** ARGV: P, queue, id, owner, error → 1 moved to the dead letters (undeliverable), 0 not held */
  bury: `
local q, m, owner = ARGV[2], pad(ARGV[3]), ARGV[4]
local now = now_ms()
local tk = held(q, m, owner, now, 0)
if not tk then return 0 end
end_lease(q, m, owner)
redis.call('HSET', tk, 'e', ARGV[5])
bury(q, m, 'undeliverable', now)
return 1`,

  /** ARGV: P, queue, id, owner, attempt (0: any) → 1 given back without spending an attempt, 0 not held */
  release: `
local q, m, owner = ARGV[2], pad(ARGV[3]), ARGV[4]
local tk = held(q, m, owner, now_ms(), tonumber(ARGV[5]))
if not tk then return 0 end
end_lease(q, m, owner)
redis.call('HINCRBY', tk, 'a', -1)
redis.call('ZADD', qkey(q, 'r'), -tonumber(redis.call('HGET', tk, 'p')), m)
wake(q)
return 1`,

  /** ARGV: P, queue, id, owner, leaseMs, attempt (0: any) → 1 extended, 0 not held */
  extend: `
local q, m, owner = ARGV[2], pad(ARGV[3]), ARGV[4]
local now = now_ms()
if not held(q, m, owner, now, tonumber(ARGV[6])) then return 0 end
redis.call('ZADD', qkey(q, 'l'), 'XX', now + tonumber(ARGV[5]), m)
return 1`,

  /** ARGV: P, queue or '' for all → { {name, ready, delayed, leased, dead, pushed, acked, nacked, lost} } */
  stats: `
local names = {ARGV[2]}
if ARGV[2] == '' then names = redis.call('SMEMBERS', P .. ':queues') end
local now = now_ms()
local out = {}
for _, q in ipairs(names) do
  promote(q, now)
  local n = redis.call('HMGET', qkey(q, 'n'), 'pushed', 'acked', 'nacked', 'lost')
  out[#out + 1] = {q, redis.call('ZCARD', qkey(q, 'r')), redis.call('ZCARD', qkey(q, 'd')), redis.call('ZCARD', qkey(q, 'l')),
    redis.call('LLEN', qkey(q, 'x')), tonumber(n[1]) or 0, tonumber(n[2]) or 0, tonumber(n[3]) or 0, tonumber(n[4]) or 0}
end
return out`,

  /** ARGV: P, queue, limit → { {id, data, priority, attempts, reason, error or false, deadAt} } */
  dead: `
local q = ARGV[2]
promote(q, now_ms())
local out = {}
for _, m in ipairs(redis.call('LRANGE', qkey(q, 'x'), 0, tonumber(ARGV[3]) - 1)) do
  local f = redis.call('HMGET', tkey(m), 'd', 'p', 'a', 'dr', 'e', 'dt')
  out[#out + 1] = {tonumber(m), f[1], f[2], f[3], f[4], f[5], f[6]}
end
return out`,

  /** ARGV: P, queue → how many dead tasks went back with fresh attempts */
  retryDead: `
local q = ARGV[2]
promote(q, now_ms())
local ids = redis.call('LRANGE', qkey(q, 'x'), 0, -1)
for _, m in ipairs(ids) do
  local tk = tkey(m)
  local f = redis.call('HMGET', tk, 'a', 'p')
  redis.call('HSET', tk, 'a', 0, 'm', math.max(1, tonumber(f[1])))
  redis.call('HDEL', tk, 'e', 'dr', 'dt')
  redis.call('ZADD', qkey(q, 'r'), -tonumber(f[2]), m)
end
redis.call('DEL', qkey(q, 'x'))
if #ids > 0 then wake(q) end
return #ids`,

  /** ARGV: P, key → its JSON text, or false when absent */
  stateGet: `
return redis.call('HGET', P .. ':s', ARGV[2])`,

  /** ARGV: P, MID, queue → MID leaves the queue's wake list (it has no taker waiting there) */
  unwake: `
redis.call('SREM', qkey(ARGV[3], 'wm'), ARGV[2])
return 1`,

  /** ARGV: P, key, JSON text → nothing */
  stateSet: `
redis.call('HSET', P .. ':s', ARGV[2], ARGV[3])
redis.call('PUBLISH', P .. ':sc:' .. ARGV[2], '1' .. ARGV[3])
return 1`,

  /** ARGV: P, key → 1 when it existed */
  stateDelete: `
local n = redis.call('HDEL', P .. ':s', ARGV[2])
if n == 1 then redis.call('PUBLISH', P .. ':sc:' .. ARGV[2], '0') end
return n`,

  /** ARGV: P, key, by → the new value as JSON text; error 'E_NOT_A_NUMBER …' */
  stateIncrement: `
local cur = redis.call('HGET', P .. ':s', ARGV[2])
local n = 0
if cur then
  n = tonumber(cur)
  -- JSON numbers only: tonumber also reads hex and leading/trailing spaces
  if not n or not string.match(cur, '^-?%d') then
    return redis.error_reply('E_NOT_A_NUMBER state "' .. ARGV[2] .. '" holds ' .. cur .. ', not a number')
  end
end
n = n + tonumber(ARGV[3])
if n ~= n or n == math.huge or n == -math.huge then
  return redis.error_reply('E_NOT_A_NUMBER state "' .. ARGV[2] .. '" would not be a finite number')
end
local text
if n == math.floor(n) and math.abs(n) < 1e15 then text = string.format('%d', n) else text = string.format('%.17g', n) end
redis.call('HSET', P .. ':s', ARGV[2], text)
redis.call('PUBLISH', P .. ':sc:' .. ARGV[2], '1' .. text)
return text`,

  /**
   * ARGV: P, key, expected found ('1'/'0'), expected JSON text, next found, next JSON text → 1 set, 0 the
   * key no longer holds that exact text (the caller compares values and retries)
   */
  stateSwap: `
local cur = redis.call('HGET', P .. ':s', ARGV[2])
if ARGV[3] == '1' then
  if cur ~= ARGV[4] then return 0 end
elseif cur then return 0 end
if ARGV[5] == '1' then
  redis.call('HSET', P .. ':s', ARGV[2], ARGV[6])
  redis.call('PUBLISH', P .. ':sc:' .. ARGV[2], '1' .. ARGV[6])
else
  redis.call('HDEL', P .. ':s', ARGV[2])
  redis.call('PUBLISH', P .. ':sc:' .. ARGV[2], '0')
end
return 1`,

  /**
   * ARGV: P, MID, name, wid, owner, ttlMs → { token or 0, grants to other waiters of MID, ms until the
   * holder's ttl ends or −1 }
   */
  lockAcquire: `
local name = ARGV[3]
local now = now_ms()
redis.call('RPUSH', P .. ':Lw:' .. name, ARGV[4] .. '|' .. ARGV[6] .. '|' .. ARGV[5])
redis.call('SADD', P .. ':locks', name)
local g = serve_lock(name, now, ARGV[2])
local u = tonumber(redis.call('HGET', P .. ':L:' .. name, 'u') or '0')
local left = -1
if u > 0 then left = math.max(0, u - now) end
if g then return {g[1], g[2], left} end
return {'', 0, left}`,

  /**
   * ARGV: P, MID, name, then the waiter entries MID still waits with → the same shape as lockAcquire's
   * answer: a grant made now (ttl lapsed, holder's master gone), or the holder when it is one of MID's
   * waiters. An entry that is neither waiting nor holding (lost in a Redis restart, or skipped while MID's
   * liveness key was missing) is queued again at the end.
   */
  lockServe: `
local name = ARGV[3]
local now = now_ms()
local L = P .. ':L:' .. name
for k = 4, #ARGV do
  local wid = string.match(ARGV[k], '^([^|]*)|')
  if redis.call('HGET', L, 'w') ~= wid and not redis.call('LPOS', P .. ':Lw:' .. name, ARGV[k]) then
    redis.call('RPUSH', P .. ':Lw:' .. name, ARGV[k])
    redis.call('SADD', P .. ':locks', name)
  end
end
local o = redis.call('HGET', L, 'o')
-- a holder whose master is gone is released; the asking master is alive whatever its key says
if o and mid_of(o) ~= ARGV[2] and redis.call('EXISTS', P .. ':m:' .. mid_of(o)) == 0 and reap_ok() then
  redis.call('SREM', P .. ':ol:' .. o, name)
  redis.call('DEL', L)
end
local g = serve_lock(name, now, ARGV[2])
local u = tonumber(redis.call('HGET', L, 'u') or '0')
local left = -1
if u > 0 then left = math.max(0, u - now) end
if g then return {g[1], g[2], left} end
o = redis.call('HGET', L, 'o')
if o and mid_of(o) == ARGV[2] then return {redis.call('HGET', L, 'w'), tonumber(redis.call('HGET', L, 't')), left} end
return {'', 0, left}`,

  /**
   * ARGV: P, MID, name, token, owner → { 1 released or 0, grants to MID's waiters as {wid, token} or empty };
   * only the holder releases (a token alone can be guessed)
   */
  lockRelease: `
local name = ARGV[3]
local L = P .. ':L:' .. name
local now = now_ms()
local f = redis.call('HMGET', L, 't', 'o')
if f[1] ~= ARGV[4] or f[2] ~= ARGV[5] then return {0, false} end
local u = tonumber(redis.call('HGET', L, 'u'))
if u > 0 and u <= now then
  -- the ttl lapsed: the lock was no longer this holder's to release (as in the memory backend)
  redis.call('SREM', P .. ':ol:' .. redis.call('HGET', L, 'o'), name)
  redis.call('DEL', L)
  local g = serve_lock(name, now, ARGV[2])
  if g then return {0, g} end
  return {0, false}
end
redis.call('SREM', P .. ':ol:' .. redis.call('HGET', L, 'o'), name)
redis.call('DEL', L)
local g = serve_lock(name, now, ARGV[2])
if g then return {1, g} end
return {1, false}`,

  /** ARGV: P, MID, name, waiter entry, wid → withdraws a wait; a grant it crossed is released */
  lockWithdraw: `
local name = ARGV[3]
local L = P .. ':L:' .. name
local n = redis.call('LREM', P .. ':Lw:' .. name, 1, ARGV[4])
local g = nil
if n == 0 and redis.call('HGET', L, 'w') == ARGV[5] then
  redis.call('SREM', P .. ':ol:' .. redis.call('HGET', L, 'o'), name)
  redis.call('DEL', L)
end
g = serve_lock(name, now_ms(), ARGV[2])
if g then return g end
return false`,

  /** ARGV: P → { {name, owner or false, token or false, waiting} } */
  locks: `
local now = now_ms()
local out = {}
for _, name in ipairs(redis.call('SMEMBERS', P .. ':locks')) do
  local L = P .. ':L:' .. name
  local f = redis.call('HMGET', L, 'o', 't', 'u')
  if f[3] and tonumber(f[3]) > 0 and tonumber(f[3]) <= now then f = {false, false} end
  out[#out + 1] = {name, f[1], f[2] and tonumber(f[2]) or false, redis.call('LLEN', P .. ':Lw:' .. name)}
end
return out`,

  /** ARGV: P, MID, owner → grants made to MID's waiters {wid, token, name} */
  ownerGone: `
return owner_gone(ARGV[3], now_ms(), ARGV[2])`,

  /**
   * ARGV: P, MID, livenessMs, a mark for P:born should it be missing → keeps this master alive and clears
   * up after masters that are not → { grants to MID's waiters {wid, token, name}, P:born's value, masters
   * taken for dead {mid, leases, locks} }
   */
  heartbeat: `
local mid, lv = ARGV[2], tonumber(ARGV[3])
-- No master beat for half a liveness: Redis was away (stopped, restarted, out of reach), not the masters,
-- whose liveness keys lapsed meanwhile. None is taken for dead until each has had a liveness to beat again.
-- The grace is one liveness and 2 s: ioredis waits up to 2 s between two tries to reconnect, so a master
-- may come back that much after the first one did, and then beats at once.
if redis.call('EXISTS', P .. ':hb') == 0 then redis.call('SET', P .. ':grace', '1', 'PX', lv + 2000) end
redis.call('SET', P .. ':hb', '1', 'PX', math.max(1, math.floor(lv / 2)))
redis.call('SET', P .. ':m:' .. mid, '1', 'PX', lv)
redis.call('SADD', P .. ':ms', mid)
-- set once, never expires: another value than a master saw before means the data was lost meanwhile
redis.call('SET', P .. ':born', ARGV[4], 'NX')
local now = now_ms()
local grants, gone = {}, {}
if reap_ok() then
  for _, other in ipairs(redis.call('SMEMBERS', P .. ':ms')) do
    if redis.call('EXISTS', P .. ':m:' .. other) == 0 then
      local leases, locks = 0, 0
      for _, owner in ipairs(redis.call('SMEMBERS', P .. ':mo:' .. other)) do
        leases = leases + redis.call('SCARD', P .. ':o:' .. owner)
        locks = locks + redis.call('SCARD', P .. ':ol:' .. owner)
        for _, g in ipairs(owner_gone(owner, now, mid)) do grants[#grants + 1] = g end
      end
      gone[#gone + 1] = {other, leases, locks}
      redis.call('DEL', P .. ':mo:' .. other)
      redis.call('SREM', P .. ':ms', other)
      for _, q in ipairs(redis.call('SMEMBERS', P .. ':queues')) do redis.call('SREM', qkey(q, 'wm'), other) end
    end
  end
end
return {grants, redis.call('GET', P .. ':born'), gone}`,

  /** ARGV: P, MID → this master leaves: its owners' leases and locks go back (they have exited) */
  leave: `
local mid = ARGV[2]
local grants = {}
for _, owner in ipairs(redis.call('SMEMBERS', P .. ':mo:' .. mid)) do
  for _, g in ipairs(owner_gone(owner, now_ms(), mid)) do grants[#grants + 1] = g end
end
redis.call('DEL', P .. ':mo:' .. mid, P .. ':m:' .. mid)
redis.call('SREM', P .. ':ms', mid)
for _, q in ipairs(redis.call('SMEMBERS', P .. ':queues')) do redis.call('SREM', qkey(q, 'wm'), mid) end
return grants`,
} as const;

export type ScriptName = keyof typeof SCRIPTS;

/**
 * The one script the backend runs: every operation above as a function, and a loop that runs the
 * operations of one batch in order. ARGV: P, then for each operation its name, its argument count and
 * its arguments (the ARGV of the operation above, without P). Answers one {1, result} or {0, error} per
 * operation. One call per batch is what makes the Redis backend cheap for the master: each call costs the
 * client tens of microseconds of CPU whatever it carries, and a worker's ack, push and next take arrive
 * together. Operations see ARGV as their own (a local of the same name).
 */
export const BATCH_SCRIPT = `${PRELUDE}
local OPS = {}
${(Object.keys(SCRIPTS) as ScriptName[]).map((name) => `OPS['${name}'] = function(ARGV)${SCRIPTS[name]}\nend\n`).join('')}
local out = {}
local i = 2
while i <= #ARGV do
  local name, n = ARGV[i], tonumber(ARGV[i + 1])
  local args = {P}
  for j = 1, n do args[j + 1] = ARGV[i + 1 + j] end
  local r = OPS[name](args)
  if type(r) == 'table' and r.err then out[#out + 1] = {0, r.err} else out[#out + 1] = {1, r} end
  i = i + 2 + n
end
return out
`;
