//! Reading a Graph batch answer (REFERENCE.md section 11): a JSON array of `{code, headers,
//! body}`, one item per request item, each body JSON inside a string.
//!
//! The items are kept as slices of the answer's text and read straight into typed fields,
//! instead of a `serde_json::Value` tree of the whole answer (a health round at rest spent a
//! sixth of its time building and dropping those). Whatever the typed reading refuses (an
//! answer that is not an array, an item with repeated keys, a header list of odd shape) is
//! read the old way, as a tree, so its error or leniency is the one it always was.

use std::borrow::Cow;
use std::fmt;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::error::{GraphError, malformed};
use super::json_probe::{ObjectOnly, reads_as_tree};
use super::parse::{self, Raw};

/// The first `asked` items of a batch answer, in request order, as slices of its text. An
/// answer with fewer items leaves the rest unanswered (each caller fails those requests
/// alone); extra items, which Meta never sends, are read past and not kept, so a hostile
/// answer of millions of items costs no memory beyond its (capped) text.
pub(crate) fn answer_items<'a>(
    raw: Raw<'a>,
    asked: usize,
    secrets: &[&SecretString],
) -> Result<Vec<&'a RawValue>, GraphError> {
    if (200..300).contains(&raw.http_status) && reads_as_tree(raw.body) {
        let mut de = serde_json::Deserializer::from_str(raw.body);
        if let Ok(items) = de::Deserializer::deserialize_seq(&mut de, FirstItems { asked })
            && de.end().is_ok()
        {
            return Ok(items);
        }
    }
    // Not a JSON array: an error status, an error envelope, or not JSON at all, each told
    // apart (and its error built) by reading the whole answer.
    let problem = match parse::decode_value(raw, secrets)? {
        Value::Array(_) => "the batch answer's items could not be read",
        _ => "a batch answer must be a JSON array",
    };
    Err(malformed(raw.http_status, problem, secrets))
}

/// Keeps at most `asked` items of an array and reads past the rest.
struct FirstItems {
    asked: usize,
}

impl<'de> Visitor<'de> for FirstItems {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of batch items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(self.asked.min(super::batch::MAX_BATCH_ITEMS));
        while items.len() < self.asked {
            match seq.next_element::<&'de RawValue>()? {
                Some(item) => items.push(item),
                None => return Ok(items),
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(items)
    }
}

/// One item of a batch answer, as if it had been a response of its own; its headers are
/// read only when asked for (an inspection that went well never needs them).
pub(crate) struct ItemAnswer<'a> {
    pub http_status: u16,
    pub body: String,
    headers: ItemHeaders<'a>,
}

enum ItemHeaders<'a> {
    /// The `headers` value's text, if the item had one.
    Text(Option<&'a RawValue>),
    /// Already read (an item that was read as a tree).
    Read(HeaderMap),
}

impl ItemAnswer<'_> {
    /// The item's `headers`: `[{"name":"...","value":"..."}]`; entries that are not valid
    /// headers are skipped.
    pub(crate) fn headers(&self) -> HeaderMap {
        let raw = match &self.headers {
            ItemHeaders::Text(Some(raw)) => *raw,
            ItemHeaders::Text(None) => return HeaderMap::new(),
            ItemHeaders::Read(headers) => return headers.clone(),
        };
        match serde_json::from_str::<Vec<ObjectOnly<WireHeader<'_>>>>(raw.get()) {
            Ok(list) => {
                let mut headers = HeaderMap::with_capacity(list.len());
                for ObjectOnly(header) in &list {
                    append_header(&mut headers, &header.name, &header.value);
                }
                headers
            }
            // Not a list of name/value string pairs throughout: entry by entry, as a tree.
            Err(_) => serde_json::from_str::<Value>(raw.get())
                .map(|value| item_headers(Some(&value)))
                .unwrap_or_default(),
        }
    }

    pub(crate) fn raw<'b>(&'b self, headers: &'b HeaderMap) -> Raw<'b> {
        Raw {
            http_status: self.http_status,
            headers,
            body: &self.body,
        }
    }
}

#[derive(Deserialize)]
struct WireItem<'a> {
    #[serde(default, borrow)]
    code: Option<&'a RawValue>,
    #[serde(default, borrow)]
    headers: Option<&'a RawValue>,
    #[serde(default, borrow)]
    body: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireHeader<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    value: Cow<'a, str>,
}

/// One item of the batch answer: missing (the answer is short), `null` (timed out inside the
/// batch), or `{code, headers, body}` where the body is JSON inside a string and may be an
/// error envelope (parsed by the caller).
pub(crate) fn item_answer<'a>(
    item: Option<&'a RawValue>,
    secrets: &[&SecretString],
) -> Result<ItemAnswer<'a>, GraphError> {
    let Some(item) = item else {
        return Err(GraphError::transient(
            "the batch answer has no item for this request",
        ));
    };
    if item.get() == "null" {
        return Err(GraphError::transient(
            "this batch item got no answer (null: it timed out inside the batch)",
        ));
    }
    let Ok(ObjectOnly(wire)) = serde_json::from_str::<ObjectOnly<WireItem<'a>>>(item.get()) else {
        // Not an object, or one with a key twice: read as a tree (the last of a repeated key
        // counts), as before typed reading.
        let value = serde_json::from_str::<Value>(item.get()).unwrap_or(Value::Null);
        return item_answer_of_tree(&value, secrets);
    };
    let Some(http_status) = wire.code.and_then(status_code) else {
        return Err(no_code(secrets));
    };
    let body = match wire.body {
        None => String::new(),
        Some(raw) if raw.get().starts_with('"') => serde_json::from_str::<String>(raw.get())
            .map_err(|_| malformed(200, "a batch item's body is not valid JSON text", secrets))?,
        // A body that is not a string reads as empty, as it always did: "not JSON" follows.
        Some(_) => String::new(),
    };
    Ok(ItemAnswer {
        http_status,
        body,
        headers: ItemHeaders::Text(wire.headers),
    })
}

/// `code` as an HTTP status: a whole number that fits.
fn status_code(raw: &RawValue) -> Option<u16> {
    let value = serde_json::from_str::<Value>(raw.get()).ok()?;
    value.as_u64().and_then(|code| u16::try_from(code).ok())
}

fn no_code(secrets: &[&SecretString]) -> GraphError {
    malformed(200, "a batch item has no numeric `code`", secrets)
}

/// An item that typed reading refused, read from its tree.
fn item_answer_of_tree<'a>(
    item: &Value,
    secrets: &[&SecretString],
) -> Result<ItemAnswer<'a>, GraphError> {
    let Some(http_status) = item
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
    else {
        return Err(no_code(secrets));
    };
    Ok(ItemAnswer {
        http_status,
        body: item
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        headers: ItemHeaders::Read(item_headers(item.get("headers"))),
    })
}

/// `[{"name":"...","value":"..."}]` as a tree; entries that are not valid headers are skipped.
fn item_headers(value: Option<&Value>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let Some(list) = value.and_then(Value::as_array) else {
        return headers;
    };
    for entry in list {
        let name = entry.get("name").and_then(Value::as_str);
        let value = entry.get("value").and_then(Value::as_str);
        if let (Some(name), Some(value)) = (name, value) {
            append_header(&mut headers, name, value);
        }
    }
    headers
}

fn append_header(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.append(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::error::ErrorClass;

    fn ok(body: &str) -> Raw<'_> {
        static NO_HEADERS: std::sync::LazyLock<HeaderMap> =
            std::sync::LazyLock::new(HeaderMap::new);
        Raw {
            http_status: 200,
            headers: &NO_HEADERS,
            body,
        }
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn an_answer_that_is_not_an_array_of_items_fails_whole() {
        for body in [
            "",
            "not json",
            r#"[{"code":200,"body":"{}"}"#,
            r#"[{"code":200,"body":"{}"}] trailing"#,
            r#"{"data":[]}"#,
            "null",
            "\"[]\"",
        ] {
            let err = answer_items(ok(body), 2, &[]).unwrap_err();
            assert_eq!(err.class, ErrorClass::Transient, "{body:?}");
        }
        let envelope = r#"{"error":{"message":"Invalid OAuth access token","code":190}}"#;
        let err = answer_items(ok(envelope), 2, &[]).unwrap_err();
        assert_eq!((err.code, err.class), (Some(190), ErrorClass::TokenDead));
        let limited = Raw {
            http_status: 400,
            ..ok(r#"{"error":{"message":"slow down","code":4}}"#)
        };
        assert_eq!(
            answer_items(limited, 2, &[]).unwrap_err().class,
            ErrorClass::RateLimited
        );
    }

    #[test]
    fn short_answers_leave_items_unanswered_and_long_ones_are_cut_to_the_ask() {
        let items = answer_items(ok(r#"[null]"#), 3, &[]).unwrap();
        assert_eq!(items.len(), 1);
        assert!(item_answer(items.get(1).copied(), &[]).is_err());
        // A hostile answer of many items keeps only as many as were asked.
        let huge = format!("[{}0]", "{\"code\":200},".repeat(200_000));
        let items = answer_items(ok(&huge), 2, &[]).unwrap();
        assert_eq!(items.len(), 2);
        assert!(items.capacity() <= crate::graph::MAX_BATCH_ITEMS);
        assert_eq!(answer_items(ok("[1,2]"), 0, &[]).unwrap().len(), 0);
        // Extra items are still read: a broken tail breaks the answer.
        assert!(answer_items(ok("[1,2,{]"), 1, &[]).is_err());
    }

    #[test]
    fn null_and_odd_items_fail_alone() {
        let items = answer_items(
            ok(
                r#"[null, 5, {"code":"200"}, {"code":70000}, {"code":-1}, {"code":200.5},
                 {"headers":[]}, {"code":200,"body":"{\"id\":\"1\"}"}]"#,
            ),
            8,
            &[],
        )
        .unwrap();
        for (index, item) in items.iter().enumerate().take(7) {
            assert!(item_answer(Some(item), &[]).is_err(), "item {index}");
        }
        let answer = item_answer(Some(items[7]), &[]).unwrap();
        assert_eq!(
            (answer.http_status, answer.body.as_str()),
            (200, r#"{"id":"1"}"#)
        );
    }

    #[test]
    fn a_body_that_is_not_a_string_reads_as_empty_and_broken_text_fails_the_item() {
        for item in [
            r#"{"code":200}"#,
            r#"{"code":200,"body":null}"#,
            r#"{"code":200,"body":{"a":1}}"#,
        ] {
            let item = raw(item);
            let answer = item_answer(Some(&item), &[]).unwrap();
            assert_eq!(answer.body, "", "{}", item.get());
        }
        // serde_json reads past a lone surrogate when skipping, but not into a string; the
        // answer as a whole is refused before (as its tree would be).
        let lone = raw(r#"{"code":200,"body":"\ud800"}"#);
        assert!(item_answer(Some(&lone), &[]).is_err());
        let answer = format!("[{}]", lone.get());
        assert!(answer_items(ok(&answer), 1, &[]).is_err());
        let deep = format!(
            r#"[{{"code":200,"x":{}{}}}]"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(answer_items(ok(&deep), 1, &[]).is_err());
    }

    #[test]
    fn bad_headers_are_skipped_whichever_way_the_item_is_read() {
        let list = r#"[{"name":"X-App-Usage","value":"{}"},{"name":"bad name","value":"x"},
            {"value":"no name"},["X-Array","entry"],{"name":"Y","value":7}]"#;
        let typed = raw(&format!(r#"{{"code":200,"headers":{list}}}"#));
        // A key twice sends the item to the tree reading (the last `code` counts there).
        let tree = raw(&format!(r#"{{"code":500,"code":200,"headers":{list}}}"#));
        for item in [&typed, &tree] {
            let answer = item_answer(Some(item), &[]).unwrap();
            assert_eq!(answer.http_status, 200);
            let headers = answer.headers();
            assert_eq!(headers.len(), 1, "{}", item.get());
            assert!(headers.contains_key("x-app-usage"));
        }
        let clean = raw(
            r#"{"code":200,"headers":[{"name":"X-App-Usage","value":"{\"a\":1}"},{"name":"Content-Type","value":"text/javascript"}]}"#,
        );
        let headers = item_answer(Some(&clean), &[]).unwrap().headers();
        assert_eq!(headers.get("x-app-usage").unwrap(), r#"{"a":1}"#);
        assert_eq!(headers.len(), 2);
        for odd in [
            r#"{"code":200,"headers":{"a":"b"}}"#,
            r#"{"code":200,"headers":"x"}"#,
        ] {
            assert!(
                item_answer(Some(&raw(odd)), &[])
                    .unwrap()
                    .headers()
                    .is_empty()
            );
        }
    }

    #[test]
    fn typed_and_tree_reading_agree_on_well_formed_items() {
        for item in [
            r#"{"code":200,"headers":[{"name":"A","value":"1"}],"body":"{\"x\":\"y\"}"}"#,
            r#"{"body":"b","code":404,"extra":[1,{"k":null}]}"#,
            r#"{"code":0,"headers":null,"body":""}"#,
            r#"{"code":65535,"headers":[{"name":"A","value":"\u00e9"}]}"#,
        ] {
            let text = raw(item);
            let typed = item_answer(Some(&text), &[]).unwrap();
            let tree = item_answer_of_tree(&serde_json::from_str(item).unwrap(), &[]).unwrap();
            assert_eq!(typed.http_status, tree.http_status, "{item}");
            assert_eq!(typed.body, tree.body, "{item}");
            assert_eq!(typed.headers(), tree.headers(), "{item}");
        }
    }
}
