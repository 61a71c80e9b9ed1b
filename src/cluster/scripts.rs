//! The Lua scripts that make each step atomic on the Redis server, and the key names.
//!
//! Keys, under the prefix (default `tokentop:`): `token:{account}` (hash: the token record),
//! `lease:{account}` (the refresh lease, `member|nonce|fence`, with a TTL), `fence:{account}`
//! (the fencing counter), `history` (a stream), `members` (hash: member -> last heartbeat, unix
//! ms); token changes are announced on the channel `tokens` as `account version member`.

use redis::Script;

/// Every key and channel name, under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
        }
    }
    pub fn token(&self, account: &str) -> String {
        format!("{}token:{account}", self.prefix)
    }
    pub fn lease(&self, account: &str) -> String {
        format!("{}lease:{account}", self.prefix)
    }
    pub fn fence(&self, account: &str) -> String {
        format!("{}fence:{account}", self.prefix)
    }
    pub fn history(&self) -> String {
        format!("{}history", self.prefix)
    }
    pub fn members(&self) -> String {
        format!("{}members", self.prefix)
    }
    pub fn channel(&self) -> String {
        format!("{}tokens", self.prefix)
    }
}

/// A record field longer than this is not tokentop's: the read is refused, not allocated.
pub const MAX_FIELD_BYTES: usize = 8 * 1024;

/// The scripts, hashed once (redis-rs sends EVALSHA and loads a script the server lacks).
pub struct Scripts {
    pub acquire: Script,
    pub extend: Script,
    pub release: Script,
    pub write: Script,
    pub read: Script,
}

impl Scripts {
    pub fn new() -> Self {
        Self {
            acquire: Script::new(ACQUIRE),
            extend: Script::new(EXTEND),
            release: Script::new(RELEASE),
            write: Script::new(WRITE),
            read: Script::new(READ),
        }
    }
}

/// KEYS: lease, fence counter. ARGV: holder (`member|nonce`), TTL in ms. Returns `{fence,
/// ''}` for a new lease, or `{0, holder}` when someone holds it. (`SET NX PX` with the fence
/// from `INCR`, in one step so a fence is only spent on a granted lease.) A held lease without
/// an expiry, or with more time left than a lease is ever given, was not set by a member that
/// keeps it alive: it is given one lease time to live, so waiting for it is bounded.
const ACQUIRE: &str = r"
local held = redis.call('GET', KEYS[1])
if held then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 or ttl > tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  return {0, held}
end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'NX', 'PX', ARGV[2])
return {fence, ''}
";

/// KEYS: lease. ARGV: the full lease value, TTL in ms. Extends only our own lease.
pub(crate) const EXTEND: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// KEYS: lease. ARGV: the full lease value. Compare-and-delete: never someone else's lease.
pub(crate) const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// KEYS: token record. ARGV: 1 the version the writer saw, 2 the proposed version (its
/// refreshed_at), 3 its fence (0 without a lease), 4 access, 5 long-lived ('' none),
/// 6 expires_at ('' none), 7 origin fingerprint, 8 writer, 9 channel, 10 account.
/// Returns {1, version} when stored (and announced), {0, current version} when refused: the
/// record changed since the writer read it, or a later lease holder wrote it.
/// A version past 2^53 (where Lua's doubles stop being exact, and `%d` overflows) is refused
/// with an error naming the key rather than stored or wrapped to a negative number.
const WRITE: &str = r"
local limit = 9007199254740991
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0') or 0
local proposed = tonumber(ARGV[2]) or 0
if current > limit or current < 0 or proposed > limit then
  return redis.error_reply('tokentop record ' .. KEYS[1] .. ' has a version out of range; delete the key to start over')
end
if current ~= tonumber(ARGV[1]) then return {0, current} end
local fence = tonumber(ARGV[3]) or 0
local stored_fence = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0') or 0
if fence > 0 and fence < stored_fence then return {0, current} end
local version = math.max(proposed, current + 1)
redis.call('HSET', KEYS[1], 'version', string.format('%d', version),
  'fence', string.format('%d', math.max(fence, stored_fence)),
  'access', ARGV[4], 'long_lived', ARGV[5], 'expires_at', ARGV[6],
  'origin', ARGV[7], 'writer', ARGV[8])
redis.call('PUBLISH', ARGV[9], ARGV[10] .. ' ' .. string.format('%d', version) .. ' ' .. ARGV[8])
return {1, version}
";

/// KEYS: token record. ARGV: the longest field accepted. Returns the record's fields in
/// the order of `names` below (nil when absent), or an error naming an oversized field.
const READ: &str = r"
local names = {'version', 'access', 'long_lived', 'expires_at', 'origin', 'writer', 'fence'}
local out = {}
for i, name in ipairs(names) do
  if redis.call('HSTRLEN', KEYS[1], name) > tonumber(ARGV[1]) then
    return redis.error_reply('tokentop record field ' .. name .. ' is too long')
  end
  out[i] = redis.call('HGET', KEYS[1], name)
end
return out
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_script_bounds_versions_as_the_decoder_does() {
        let limit = format!("local limit = {}\n", super::super::record::MAX_VERSION);
        assert!(WRITE.contains(&limit), "{WRITE}");
    }
}
