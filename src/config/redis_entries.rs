//! Reading the hash of `[accounts] source = "redis"` while the configuration loads: one
//! script on a connection that gives up within seconds, each value at most an account
//! file's size (a longer one is reported by its length, never transferred).
//!
//! Loading is synchronous (the config file and the accounts directory are read the same
//! way), so this is Redis's blocking client; a running process reloads off its async threads.

use std::time::Duration;

use redis::Value;
use secrecy::{ExposeSecret, SecretString};

use super::capped_read::MAX_ACCOUNT_FILE_BYTES;

/// A Redis that does not answer a connect within this cannot be read for this load.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The script answers within this, or the load gives up.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longer fields are not account names (those are at most 32 characters): cut, and reported.
pub(crate) const MAX_FIELD_BYTES: usize = 64;

/// One field's value as the script hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawEntry {
    Text(Vec<u8>),
    /// The value's length: more than [`MAX_ACCOUNT_FILE_BYTES`].
    TooLong(u64),
    /// The field itself is longer than [`MAX_FIELD_BYTES`] (its start is the name shown).
    FieldTooLong,
}

/// KEYS: the hash. ARGV: the longest value, the longest field. Returns `field, value` pairs,
/// the value replaced by its length when too long and by -1 when the field is.
const READ_ENTRIES: &str = r"
local out = {}
local max_value = tonumber(ARGV[1])
local max_field = tonumber(ARGV[2])
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if #field > max_field then
    out[#out + 1] = string.sub(field, 1, max_field)
    out[#out + 1] = -1
  else
    out[#out + 1] = field
    local len = redis.call('HSTRLEN', KEYS[1], field)
    if len > max_value then
      out[#out + 1] = len
    else
      out[#out + 1] = redis.call('HGET', KEYS[1], field)
    end
  end
end
return out
";

/// Every entry of `key`, sorted by field; `Err` says why Redis could not be read (without the
/// password).
pub(crate) fn fetch_entries(
    url: &SecretString,
    key: &str,
) -> Result<Vec<(String, RawEntry)>, String> {
    // rediss:// uses rustls with the provider the Graph client uses too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let shown = super::url_without_password(url.expose_secret());
    let client = redis::Client::open(url.expose_secret())
        .map_err(|err| format!("{shown}: {}", scrub(&err.to_string(), url)))?;
    let reply = read(&client, key)
        .map_err(|err| format!("{shown} (hash {key}): {}", scrub(&describe(&err), url)))?;
    let mut entries = pairs(reply)
        .ok_or_else(|| format!("{shown} (hash {key}): the reply is not field and value pairs"))?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

fn read(client: &redis::Client, key: &str) -> redis::RedisResult<Value> {
    let mut conn = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    conn.set_read_timeout(Some(RESPONSE_TIMEOUT))?;
    conn.set_write_timeout(Some(RESPONSE_TIMEOUT))?;
    redis::Script::new(READ_ENTRIES)
        .key(key)
        .arg(MAX_ACCOUNT_FILE_BYTES)
        .arg(MAX_FIELD_BYTES)
        .invoke(&mut conn)
}

fn describe(err: &redis::RedisError) -> String {
    if err.is_timeout() {
        format!("no answer in time ({err})")
    } else if err.is_connection_refusal() {
        format!("connection refused ({err})")
    } else if err.code() == Some("WRONGTYPE") {
        "the key holds something else than a hash".to_string()
    } else {
        err.to_string()
    }
}

/// The script's flat reply as `(field, entry)` pairs; `None` for anything else.
fn pairs(reply: Value) -> Option<Vec<(String, RawEntry)>> {
    let Value::Array(items) = reply else {
        return None;
    };
    let mut entries = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(field), Some(value)) = (items.next(), items.next()) {
        let Value::BulkString(field) = field else {
            return None;
        };
        let field = String::from_utf8_lossy(&field).into_owned();
        let entry = match value {
            Value::BulkString(text) => RawEntry::Text(text),
            Value::Int(-1) => RawEntry::FieldTooLong,
            Value::Int(length) => RawEntry::TooLong(u64::try_from(length).unwrap_or(0)),
            _ => return None,
        };
        entries.push((field, entry));
    }
    Some(entries)
}

/// Replaces the URL's password wherever a message repeats it.
fn scrub(text: &str, url: &SecretString) -> String {
    let password = reqwest::Url::parse(url.expose_secret())
        .ok()
        .and_then(|parsed| parsed.password().map(str::to_string))
        .filter(|password| password.len() >= 3);
    match password {
        Some(password) => text.replace(&password, "***"),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_becomes_sorted_entries_and_anything_else_is_refused() {
        let reply = Value::Array(vec![
            Value::BulkString(b"shop".to_vec()),
            Value::BulkString(b"app-id = \"1\"".to_vec()),
            Value::BulkString(b"big".to_vec()),
            Value::Int(70_000),
            Value::BulkString(b"xxxxxxxx".to_vec()),
            Value::Int(-1),
        ]);
        let entries = pairs(reply).unwrap();
        assert_eq!(entries[1], ("big".into(), RawEntry::TooLong(70_000)));
        assert_eq!(entries[2].1, RawEntry::FieldTooLong);
        assert_eq!(pairs(Value::Nil), None);
        assert_eq!(
            pairs(Value::Array(vec![Value::Int(1), Value::Int(2)])),
            None
        );
    }

    #[test]
    fn an_unreachable_redis_is_an_error_without_the_password() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = SecretString::from(format!("redis://u:s3cretpw@127.0.0.1:{port}"));
        let err = fetch_entries(&url, "tokentop:accounts").unwrap_err();
        assert!(err.contains("connection refused"), "{err}");
        assert!(err.contains("tokentop:accounts"), "{err}");
        assert!(!err.contains("s3cretpw"), "{err}");
    }
}
