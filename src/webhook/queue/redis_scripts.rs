//! The Redis queue's key names and the Lua scripts that make each of its steps atomic.
//!
//! Keys, under `[cluster] key-prefix` (default `tokentop:`): `webhook:stream` (the bodies;
//! entry id `<seq>-0`, fields `body`, `sig`, `at`, `end`), `webhook:head` (hash: the last
//! `seq`, and `bytes`: body bytes ever appended), `webhook:cursor:<destination>` (hash: the
//! `seq` acknowledged last, and `bytes` appended up to it), `webhook:lease:<destination>`
//! (`member|nonce`, with a TTL: who forwards there now), `webhook:seen:<sha-256 hex>` (the
//! seq of a body accepted within the dedupe window, with that TTL).

use redis::Script;

/// Every key name of the queue, under one prefix.
#[derive(Debug, Clone)]
pub struct QueueKeys {
    prefix: String,
}

impl QueueKeys {
    pub fn new(cluster_prefix: &str) -> QueueKeys {
        QueueKeys {
            prefix: format!("{cluster_prefix}webhook:"),
        }
    }
    pub fn stream(&self) -> String {
        format!("{}stream", self.prefix)
    }
    pub fn head(&self) -> String {
        format!("{}head", self.prefix)
    }
    pub fn cursor(&self, destination: &str) -> String {
        format!("{}cursor:{destination}", self.prefix)
    }
    pub fn lease(&self, destination: &str) -> String {
        format!("{}lease:{destination}", self.prefix)
    }
    pub fn seen(&self, digest: &[u8]) -> String {
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}seen:{hex}", self.prefix)
    }
}

/// The scripts, hashed once (redis-rs sends EVALSHA and loads a script the server lacks).
pub struct QueueScripts {
    pub accept: Script,
    pub ack: Script,
    pub state: Script,
}

impl QueueScripts {
    pub fn new() -> QueueScripts {
        QueueScripts {
            accept: Script::new(&format!("{COMMON}{ACCEPT}")),
            ack: Script::new(&format!("{COMMON}{ACK}")),
            state: Script::new(&format!("{COMMON}{STATE}")),
        }
    }
}

/// What every script answers: `{outcome, seq, head seq, head bytes, then per destination (in
/// the order given) its cursor's seq and bytes}`.
pub const OUTCOME_REFUSED: i64 = 0;
pub const OUTCOME_DONE: i64 = 1;
pub const OUTCOME_DUPLICATE: i64 = 2;
pub const OUTCOME_FULL: i64 = 3;

/// Shared by the scripts. KEYS[1] is the stream, KEYS[2] the head, the cursors from
/// KEYS[first] on. `state` reads the head and the cursors; a missing cursor (a new
/// destination) starts at the head. The head is never behind the stream's last entry or a
/// cursor, so a lost head key cannot reuse a seq. `trim` drops the entries every listed
/// destination acknowledged; nothing after the slowest cursor is ever removed.
const COMMON: &str = r"
local function fmt(n) return string.format('%d', n) end
local function state(first)
  local head = redis.call('HMGET', KEYS[2], 'seq', 'bytes')
  local seq, bytes = tonumber(head[1]) or 0, tonumber(head[2]) or 0
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  if last[1] then
    local top = tonumber(string.match(last[1][1], '^(%d+)')) or 0
    if top > seq then seq = top end
  end
  local cursors = {}
  for i = first, #KEYS do
    local c = redis.call('HMGET', KEYS[i], 'seq', 'bytes')
    local cs, cb = tonumber(c[1]), tonumber(c[2])
    if not cs or not cb then
      cs, cb = seq, bytes
      redis.call('HSET', KEYS[i], 'seq', fmt(cs), 'bytes', fmt(cb))
    end
    if cs > seq then seq = cs end
    if cb > bytes then bytes = cb end
    cursors[#cursors + 1] = {cs, cb}
  end
  return seq, bytes, cursors
end
local function reply(outcome, at, seq, bytes, cursors)
  local out = {outcome, at, seq, bytes}
  for _, c in ipairs(cursors) do
    out[#out + 1] = c[1]
    out[#out + 1] = c[2]
  end
  return out
end
local function trim(seq, cursors)
  local low = seq
  for _, c in ipairs(cursors) do
    if c[1] < low then low = c[1] end
  end
  redis.call('XTRIM', KEYS[1], 'MINID', fmt(low + 1) .. '-0')
end
";

/// KEYS: stream, head, seen, the cursors. ARGV: body, signature, received at (unix s),
/// max-queue (bytes), dedupe window (s). A body seen within the window is a duplicate; one
/// that would put the slowest destination's backlog over max-queue is refused (full);
/// otherwise it is appended as the next seq and remembered.
const ACCEPT: &str = r"
local seq, bytes, cursors = state(4)
local seen = tonumber(redis.call('GET', KEYS[3]) or '')
if seen then return reply(2, seen, seq, bytes, cursors) end
local len = string.len(ARGV[1])
local oldest = bytes
for _, c in ipairs(cursors) do
  if c[2] < oldest then oldest = c[2] end
end
if bytes - oldest + len > tonumber(ARGV[4]) then return reply(3, 0, seq, bytes, cursors) end
seq = seq + 1
bytes = bytes + len
redis.call('XADD', KEYS[1], fmt(seq) .. '-0', 'body', ARGV[1], 'sig', ARGV[2], 'at', ARGV[3], 'end', fmt(bytes))
redis.call('HSET', KEYS[2], 'seq', fmt(seq), 'bytes', fmt(bytes))
redis.call('SET', KEYS[3], fmt(seq), 'EX', ARGV[5])
trim(seq, cursors)
return reply(1, seq, seq, bytes, cursors)
";

/// KEYS: stream, head, the destination's lease, its cursor, then every destination's cursor.
/// ARGV: the lease value, the acknowledged seq. Refused unless the caller holds the lease;
/// a cursor only moves forward, so a member that lost its lease cannot move it back.
const ACK: &str = r"
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  local seq, bytes, cursors = state(5)
  return reply(0, 0, seq, bytes, cursors)
end
local acked = tonumber(ARGV[2]) or 0
local current = redis.call('HMGET', KEYS[4], 'seq', 'bytes')
if acked > (tonumber(current[1]) or 0) then
  local done = tonumber(current[2]) or 0
  local before = redis.call('XREVRANGE', KEYS[1], fmt(acked) .. '-0', '-', 'COUNT', 1)
  if before[1] then
    local fields = before[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 'end' then done = math.max(done, tonumber(fields[i + 1]) or 0) end
    end
  end
  redis.call('HSET', KEYS[4], 'seq', fmt(acked), 'bytes', fmt(done))
end
local seq, bytes, cursors = state(5)
trim(seq, cursors)
return reply(1, 0, seq, bytes, cursors)
";

/// KEYS: stream, head, the cursors. Reads (and starts missing cursors at the head).
const STATE: &str = r"
local seq, bytes, cursors = state(3)
return reply(1, 0, seq, bytes, cursors)
";
