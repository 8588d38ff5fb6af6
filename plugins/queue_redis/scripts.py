"""The Lua scripts of the Redis queue: each operation is one script, so it is atomic.

Keys (all under one hash tag, so a Redis Cluster keeps them in one slot), in ``KEYS`` order:

1. ``items``    HASH id -> the item's JSON (immutable fields)
2. ``dedup``    HASH dedup key -> id, for every pending (queued or leased) item
3. ``keyof``    HASH id -> dedup key
4. ``order``    ZSET id -> enqueue sequence number (listing, oldest waiting item)
5. ``seq``      STRING the sequence counter
6. ``ready``    LIST of ids ready now: enqueue pushes left, lease pops right (FIFO)
7. ``delayed``  ZSET id -> time it becomes ready (nack with a delay)
8. ``leases``   ZSET id -> visibility deadline (the processing structure)
9. ``tokens``   HASH id -> current lease token
10. ``attempts`` HASH id -> leases so far
11. ``redeliveries`` STRING count of leases of an item leased before

Every id is in exactly one of ``ready``, ``delayed`` and ``leases``. Times come from the
caller's clock (``ARGV``), never from the server's, so every handle agrees with its clock.
"""

from __future__ import annotations

KEY_NAMES = (
    "items",
    "dedup",
    "keyof",
    "order",
    "seq",
    "ready",
    "delayed",
    "leases",
    "tokens",
    "attempts",
    "redeliveries",
)

# Expired leases go back to the head of the line (they were first), due delayed items to its
# tail; at most REAP_BATCH of each per call keeps every script's run time bounded.
_REAP = """
local function reap(now)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[8], '-inf', now, 'LIMIT', 0, 256)
  for i = #expired, 1, -1 do
    redis.call('ZREM', KEYS[8], expired[i])
    redis.call('HDEL', KEYS[9], expired[i])
    redis.call('RPUSH', KEYS[6], expired[i])
  end
  local due = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now, 'LIMIT', 0, 256)
  for i = 1, #due do
    redis.call('ZREM', KEYS[7], due[i])
    redis.call('LPUSH', KEYS[6], due[i])
  end
end
"""

# ARGV: id, dedup key, item JSON. Returns {created, id, json, attempts, deadline or ''}.
ENQUEUE = """
local existing = redis.call('HGET', KEYS[2], ARGV[2])
if existing then
  return {0, existing, redis.call('HGET', KEYS[1], existing),
          redis.call('HGET', KEYS[10], existing) or '0',
          redis.call('ZSCORE', KEYS[8], existing) or ''}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[4], redis.call('INCR', KEYS[5]), ARGV[1])
redis.call('LPUSH', KEYS[6], ARGV[1])
return {1, ARGV[1], ARGV[3], '0', ''}
"""

# ARGV: now, deadline, token. Returns {id, json, attempts} or false.
LEASE = (
    _REAP
    + """
reap(ARGV[1])
local id = redis.call('RPOP', KEYS[6])
if not id then return false end
redis.call('ZADD', KEYS[8], ARGV[2], id)
redis.call('HSET', KEYS[9], id, ARGV[3])
local attempts = redis.call('HINCRBY', KEYS[10], id, 1)
if attempts > 1 then redis.call('INCR', KEYS[11]) end
return {id, redis.call('HGET', KEYS[1], id), attempts}
"""
)

_HOLDS = """
local function holds(id, token, now)
  if redis.call('HGET', KEYS[9], id) ~= token then return false end
  local deadline = redis.call('ZSCORE', KEYS[8], id)
  return deadline ~= false and tonumber(deadline) > tonumber(now)
end
"""

# ARGV: id, token, now. Returns 1 when removed.
ACK = (
    _HOLDS
    + """
if not holds(ARGV[1], ARGV[2], ARGV[3]) then return 0 end
local key = redis.call('HGET', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[8], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[9], ARGV[1])
redis.call('HDEL', KEYS[10], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if key then redis.call('HDEL', KEYS[2], key) end
return 1
"""
)

# ARGV: id, token, now, available_at (= now when no delay). Returns 1 when given back.
NACK = (
    _HOLDS
    + """
if not holds(ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('ZREM', KEYS[8], ARGV[1])
redis.call('HDEL', KEYS[9], ARGV[1])
if tonumber(ARGV[4]) > tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[7], ARGV[4], ARGV[1])
else
  redis.call('LPUSH', KEYS[6], ARGV[1])
end
return 1
"""
)

# ARGV: now. Returns {waiting, in flight, oldest waiting item's JSON or '', redeliveries}.
# The oldest waiting item is the first in enqueue order that is not leased: at most
# in-flight + 1 ids are looked at, in ranges of 64.
STATS = (
    _REAP
    + """
reap(ARGV[1])
local in_flight = redis.call('ZCOUNT', KEYS[8], '(' .. ARGV[1], '+inf')
local total = redis.call('ZCARD', KEYS[4])
local oldest = ''
local start = 0
while oldest == '' and start < total do
  local ids = redis.call('ZRANGE', KEYS[4], start, start + 63)
  for i = 1, #ids do
    local deadline = redis.call('ZSCORE', KEYS[8], ids[i])
    if not deadline or tonumber(deadline) <= tonumber(ARGV[1]) then
      oldest = redis.call('HGET', KEYS[1], ids[i])
      break
    end
  end
  start = start + 64
end
return {total - in_flight, in_flight, oldest, redis.call('GET', KEYS[11]) or '0'}
"""
)

# ARGV: offset, limit. Returns a flat list {json, attempts, deadline or '', ...} in enqueue order.
ITEMS = """
local ids = redis.call('ZRANGE', KEYS[4], ARGV[1], ARGV[1] + ARGV[2] - 1)
local out = {}
for i = 1, #ids do
  out[#out + 1] = redis.call('HGET', KEYS[1], ids[i])
  out[#out + 1] = redis.call('HGET', KEYS[10], ids[i]) or '0'
  out[#out + 1] = redis.call('ZSCORE', KEYS[8], ids[i]) or ''
end
return out
"""

# Returns how many items were removed. UNLINK frees the memory in the background, so clearing
# a million items does not block the server; the redeliveries counter is kept (a metric).
CLEAR = """
local count = redis.call('ZCARD', KEYS[4])
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[7], KEYS[8], KEYS[9],
           KEYS[10])
return count
"""
