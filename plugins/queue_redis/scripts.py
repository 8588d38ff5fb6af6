"""The Lua scripts of the Redis queue: each operation is one script, so it is atomic.

Every script gets **one** key, ``KEYS[1]``: the hash tag ``{prefix}``, from which it derives
the names of the queue's keys (``{prefix}:v2:ready``...). A call carries one key name instead
of one per structure (the first layout passed eleven): each name the client need not encode and
send is time saved on every operation. Every derived name has the same hash tag, so Redis
Cluster keeps them all in the slot of ``KEYS[1]``, the node a call is routed to: a script only
touches keys of that slot, which Redis (Cluster included) allows for names it computes itself.

The keys (layout ``v2``; the first release's keys, without ``v2:``, are not read — drain a queue
before upgrading, see docs/builds.md):

- ``records``  HASH id -> ``attempts \\t token \\t deadline \\t dedup key \\t item JSON``: one
  value per item, so an operation reads or writes one field where it used to touch four hashes
  (token and deadline are empty unless the item is leased; JSON has no raw tab);
- ``dedup``    HASH dedup key -> id, for every pending (queued or leased) item;
- ``order``    ZSET id -> enqueue sequence number (listing, oldest waiting item);
- ``seq``      STRING the sequence counter;
- ``ready``    LIST of ids ready now: enqueue pushes left, lease pops right (FIFO);
- ``timers``   ZSET id -> when the item goes back to ``ready``: a lease's visibility deadline
  (the processing structure) or a delayed nack's end; one probe finds both kinds due;
- ``delayed``  ZSET id -> end of its delay, for the delayed items among ``timers`` (counts);
- ``redeliveries`` STRING count of leases of an item leased before.

Every id is in exactly one of ``ready`` and ``timers``. Times come from the caller's clock
(``ARGV``), never from the server's, so every handle agrees with its clock.
"""

from __future__ import annotations

KEY_NAMES = ("records", "dedup", "order", "seq", "ready", "timers", "delayed", "redeliveries")


def key_names(prefix: str) -> list[str]:
    """Every key of the queue under ``prefix`` (the names the scripts derive)."""
    return [f"{{{prefix}}}:v2:{name}" for name in KEY_NAMES]


# Each script defines only the names and helpers it uses: they are made again on every call.
_NAMES = """
local P = KEYS[1] .. ':v2:'
"""

# The positions of a record's first four tabs.
_TABS = """
local function tabs(rec)
  local a = string.find(rec, '\\t', 1, true)
  local b = string.find(rec, '\\t', a + 1, true)
  local c = string.find(rec, '\\t', b + 1, true)
  return a, b, c, string.find(rec, '\\t', c + 1, true)
end
"""

# The record without its lease (empty token and deadline).
_RELEASED = """
local function released(rec)
  local a, b, c = tabs(rec)
  return string.sub(rec, 1, a) .. '\\t' .. string.sub(rec, c)
end
"""

# Whether token still holds the item's lease at now; the record and its tabs when it does.
_HOLDS = """
local function holds(id, token, now)
  local rec = redis.call('HGET', P .. 'records', id)
  if not rec or token == '' then return false end
  local a, b, c, d = tabs(rec)
  if string.sub(rec, a + 1, b - 1) ~= token then return false end
  if tonumber(string.sub(rec, b + 1, c - 1)) <= tonumber(now) then return false end
  return rec, c, d
end
"""

# Expired leases go back to the head of the line (they were first), earliest deadline first;
# due delayed items to its tail. Probing ``timers`` for its first due member (ZRANGEBYSCORE ...
# LIMIT 0 1) is all a call costs when nothing is due; at most 256 per call keeps every script's
# run time bounded.
_REAP = """
local function reap(now)
  local timers = P .. 'timers'
  if not redis.call('ZRANGEBYSCORE', timers, '-inf', now, 'LIMIT', 0, 1)[1] then return end
  local due = redis.call('ZRANGEBYSCORE', timers, '-inf', now, 'LIMIT', 0, 256)
  redis.call('ZREM', timers, unpack(due))
  local expired, delayed = {}, {}
  for i = 1, #due do
    local rec = redis.call('HGET', P .. 'records', due[i])
    if rec then
      local a, b = tabs(rec)
      if b > a + 1 then  -- a token: an expired lease
        redis.call('HSET', P .. 'records', due[i], released(rec))
        expired[#expired + 1] = due[i]
      else
        delayed[#delayed + 1] = due[i]
      end
    end
  end
  for i = #expired, 1, -1 do redis.call('RPUSH', P .. 'ready', expired[i]) end
  if #delayed > 0 then
    redis.call('ZREM', P .. 'delayed', unpack(delayed))
    redis.call('LPUSH', P .. 'ready', unpack(delayed))
  end
end
"""

# ARGV: id, dedup key, item JSON. Returns 1 when added, else the record of the pending item
# with that key.
ENQUEUE = (
    _NAMES
    + """
if redis.call('HSETNX', P .. 'dedup', ARGV[2], ARGV[1]) == 0 then
  return redis.call('HGET', P .. 'records', redis.call('HGET', P .. 'dedup', ARGV[2]))
end
redis.call('HSET', P .. 'records', ARGV[1], '0\\t\\t\\t' .. ARGV[2] .. '\\t' .. ARGV[3])
redis.call('ZADD', P .. 'order', redis.call('INCR', P .. 'seq'), ARGV[1])
redis.call('LPUSH', P .. 'ready', ARGV[1])
return 1
"""
)

# ARGV: now, deadline, token. Returns the leased item's record, or false. The record and the
# ``timers`` entry are written in the same script: an atomic move into the processing structure.
LEASE = (
    _NAMES
    + _TABS
    + _RELEASED
    + _REAP
    + """
reap(ARGV[1])
local id, rec
repeat
  id = redis.call('RPOP', P .. 'ready')
  if not id then return false end
  rec = redis.call('HGET', P .. 'records', id)
until rec
local a, b, c = tabs(rec)
local attempts = tonumber(string.sub(rec, 1, a - 1)) + 1
if attempts > 1 then redis.call('INCR', P .. 'redeliveries') end
rec = attempts .. '\\t' .. ARGV[3] .. '\\t' .. ARGV[2] .. string.sub(rec, c)
redis.call('HSET', P .. 'records', id, rec)
redis.call('ZADD', P .. 'timers', ARGV[2], id)
return rec
"""
)

# ARGV: id, token, now. Returns 1 when removed.
ACK = (
    _NAMES
    + _TABS
    + _HOLDS
    + """
local rec, c, d = holds(ARGV[1], ARGV[2], ARGV[3])
if not rec then return 0 end
redis.call('ZREM', P .. 'timers', ARGV[1])
redis.call('ZREM', P .. 'order', ARGV[1])
redis.call('HDEL', P .. 'records', ARGV[1])
redis.call('HDEL', P .. 'dedup', string.sub(rec, c + 1, d - 1))
return 1
"""
)

# ARGV: id, token, now, available_at (= now when no delay). Returns 1 when given back.
NACK = (
    _NAMES
    + _TABS
    + _RELEASED
    + _HOLDS
    + """
local rec = holds(ARGV[1], ARGV[2], ARGV[3])
if not rec then return 0 end
redis.call('HSET', P .. 'records', ARGV[1], released(rec))
if tonumber(ARGV[4]) > tonumber(ARGV[3]) then
  redis.call('ZADD', P .. 'timers', ARGV[4], ARGV[1])
  redis.call('ZADD', P .. 'delayed', ARGV[4], ARGV[1])
else
  redis.call('ZREM', P .. 'timers', ARGV[1])
  redis.call('LPUSH', P .. 'ready', ARGV[1])
end
return 1
"""
)

# ARGV: now. Returns {waiting, in flight, oldest waiting item's record or '', redeliveries}.
# In flight: the future ``timers`` that are not delays. The oldest waiting item is the first in
# enqueue order whose lease does not hold: at most in-flight + 1 ids are looked at, 64 a range.
STATS = (
    _NAMES
    + _TABS
    + _RELEASED
    + _REAP
    + """
reap(ARGV[1])
local after = '(' .. ARGV[1]
local in_flight = redis.call('ZCOUNT', P .. 'timers', after, '+inf')
  - redis.call('ZCOUNT', P .. 'delayed', after, '+inf')
local total = redis.call('ZCARD', P .. 'order')
local now = tonumber(ARGV[1])
local oldest = ''
local start = 0
while oldest == '' and start < total do
  local ids = redis.call('ZRANGE', P .. 'order', start, start + 63)
  for i = 1, #ids do
    local rec = redis.call('HGET', P .. 'records', ids[i])
    local a, b, c = tabs(rec)
    if b == a + 1 or tonumber(string.sub(rec, b + 1, c - 1)) <= now then
      oldest = rec
      break
    end
  end
  start = start + 64
end
return {total - in_flight, in_flight, oldest, redis.call('GET', P .. 'redeliveries') or '0'}
"""
)

# ARGV: offset, limit. Returns the records in enqueue order (HMGET of 512 ids at a time: Lua's
# unpack has a limit).
ITEMS = (
    _NAMES
    + """
local ids = redis.call('ZRANGE', P .. 'order', ARGV[1], ARGV[1] + ARGV[2] - 1)
local out = {}
for i = 1, #ids, 512 do
  local part = redis.call('HMGET', P .. 'records', unpack(ids, i, math.min(i + 511, #ids)))
  for j = 1, #part do out[#out + 1] = part[j] end
end
return out
"""
)

# Returns how many items were removed. UNLINK frees the memory in the background, so clearing
# a million items does not block the server; the sequence and the redeliveries counter are kept
# (the latter is a metric).
CLEAR = (
    _NAMES
    + """
local count = redis.call('ZCARD', P .. 'order')
redis.call('UNLINK', P .. 'records', P .. 'dedup', P .. 'order', P .. 'ready', P .. 'timers',
           P .. 'delayed')
return count
"""
)
