# The Lua scripts of the Redis store, and the reading of their replies.
#
# What lives here: the store operations that must read and write in one step
# (a compare-and-set save, the per-user index), each as one small script run
# by EVAL, so that Redis runs it whole with nothing in between. What must
# not: anything a plain command can do alone; get, set, touch and destroy of
# an unbound session stay connect-redis's own GET/PTTL, SET EX, EXPIRE, DEL.
#
# The per-user index ("log out everywhere") is a set per user, at
# "<user prefix><user id>", holding the ids of the sessions bound to that
# user. Its prefix must never produce a session key: derived_user_prefix()
# makes one that cannot (for connect-redis's "sess:" it is "sessu:"), so a
# Node app walking "sess:*" never meets an index and no session id can name
# one. The set's expiry is kept at least as far off as its longest-lived
# member's, so an index outlives every session in it; entries for sessions
# that ended (expired, or destroyed by a store that knows nothing of the
# index, such as connect-redis) are dropped whenever sessions_of reads them.
#
# The scripts name the session keys they reach from the index members, not
# only through KEYS, so they need one Redis server, not a cluster (the store
# never supported a cluster: its keys have no hash tags).
# XX EVAL sends a script's text on every call (a few hundred bytes); EVALSHA
# would save that at the cost of a NOSCRIPT retry after each server restart.
from __future__ import annotations

from typing import Any

from ._store import Conflict, StoredRecord

__all__ = [
    "BIND",
    "DESTROY_ALL",
    "REPLACE",
    "SESSIONS_OF",
    "TOUCH_BOUND",
    "derived_user_prefix",
    "parse_count",
    "parse_replace",
    "parse_sids",
]

# Shared tail: add ARGV[n] (the session id) to the index KEYS[2] and push the
# index's expiry out to at least `ttl` seconds. TTL answers -1 for a set that
# has none yet, so a new index always gets one.
_INDEX = """
  redis.call('SADD', KEYS[2], {sid})
  if redis.call('TTL', KEYS[2]) < ttl then redis.call('EXPIRE', KEYS[2], ttl) end
"""

#: set() of a bound session: KEYS = session key, index key;
#: ARGV = record, ttl (> 0), session id.
BIND = (
    "local ttl = tonumber(ARGV[2])\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)\n" + _INDEX.format(sid="ARGV[3]") + "return 1\n"
)

#: replace(): KEYS = session key[, index key]; ARGV = SHA-1 (hex) of the
#: expected record, record, ttl, session id. Replies nil when the session is
#: gone, {record, PTTL} when it holds something else, 1 when it was stored.
#: The expected record goes over as its SHA-1 so that a large record is not
#: sent twice; a collision could only lose a parallel write, never leak one.
REPLACE = (
    """
local current = redis.call('GET', KEYS[1])
if not current then return false end
if redis.sha1hex(current) ~= ARGV[1] then
  return {current, redis.call('PTTL', KEYS[1])}
end
local ttl = tonumber(ARGV[3])
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
  if KEYS[2] then redis.call('SREM', KEYS[2], ARGV[4]) end
  return 1
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
if KEYS[2] then
"""
    + _INDEX.format(sid="ARGV[4]")
    + """
end
return 1
"""
)

#: touch() of a bound session: KEYS = session key, index key; ARGV = ttl,
#: session id. The index follows the session's new expiry (and takes the id
#: back if it had lost it); an absent session is left absent.
TOUCH_BOUND = (
    """
local ttl = tonumber(ARGV[1])
if redis.call('EXPIRE', KEYS[1], ttl) == 1 and ttl > 0 then
"""
    + _INDEX.format(sid="ARGV[2]")
    + """
end
return 1
"""
)

#: sessions_of(): KEYS = index key; ARGV = session key prefix. Replies the
#: ids whose session still exists and drops the others from the index.
SESSIONS_OF = """
local live = {}
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. sid) == 1 then
    live[#live + 1] = sid
  else
    redis.call('SREM', KEYS[1], sid)
  end
end
return live
"""

#: destroy_all(): KEYS = index key; ARGV = session key prefix. Deletes every
#: session in the index and the index; replies how many sessions existed.
DESTROY_ALL = """
local count = 0
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  count = count + redis.call('DEL', ARGV[1] .. sid)
end
redis.call('DEL', KEYS[1])
return count
"""


def derived_user_prefix(prefix: str) -> str:
    """The index prefix for a session prefix: neither is a prefix of the other.

    A ``u`` goes in before the prefix's last character (a ``v`` when that
    character is itself a ``u``), so the two differ at that position and no
    session key can be an index key: ``sess:`` gives ``sessu:``.
    """
    mark = "v" if prefix.endswith("u") else "u"
    return prefix[:-1] + mark + prefix[-1:]


def parse_replace(reply: Any, now: float) -> Conflict | None:
    """The result of REPLACE: None when stored, else the Conflict."""
    if reply == 1:
        return None
    if reply is None:
        return Conflict(None)
    value, pttl = reply
    text = value.decode("utf-8", "replace")
    # -1: no expiry (the key was written by something other than a store).
    return Conflict(StoredRecord(text, None if pttl < 0 else now + pttl / 1000))


def parse_sids(reply: Any) -> list[str]:
    """The session ids of SESSIONS_OF, sorted; ids that are not UTF-8 are skipped."""
    sids = []
    for raw in reply:
        try:
            sids.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            continue  # not an id any session store wrote
    return sorted(sids)


def parse_count(reply: Any) -> int:
    """The integer reply of DESTROY_ALL."""
    return int(reply)
