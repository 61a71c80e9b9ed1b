//! Reading Graph JSON without building a `serde_json::Value` tree: whether a body carries an
//! `error` object, and structs read only from JSON objects.
//!
//! These are fast paths: each says "certainly fine" or "look closer", and the closer look is
//! the `Value`-based parsing in `parse.rs`, so every error message and classification stays
//! the one that parsing gives. Only answers that are fine skip it, and at rest they all are.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Whether a value is a JSON object, read without keeping any of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IsObject(pub bool);

impl<'de> Deserialize<'de> for IsObject {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Probe { top_level: false })
            .map(|found| IsObject(found == Found::Object))
    }
}

/// What a probe saw: an object, an object holding an `error` object, or something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Other,
    Object,
    ErrorObject,
}

/// Skips a value; at the top level, also looks for an `error` key whose value is an object.
struct Probe {
    top_level: bool,
}

impl<'de> Visitor<'de> for Probe {
    type Value = Found;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut found = Found::Object;
        while let Some(key) = map.next_key::<ErrorKey>()? {
            if self.top_level && key.0 {
                if map.next_value::<IsObject>()?.0 {
                    found = Found::ErrorObject;
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Found::Other)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Found, E> {
        Ok(Found::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Found, E> {
        Ok(Found::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Found, E> {
        Ok(Found::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Found, E> {
        Ok(Found::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Found, E> {
        Ok(Found::Other)
    }
    fn visit_unit<E>(self) -> Result<Found, E> {
        Ok(Found::Other)
    }
    fn visit_none<E>(self) -> Result<Found, E> {
        Ok(Found::Other)
    }
}

/// An object key, kept only as whether it is `error` (no allocation for plain keys).
struct ErrorKey(bool);

impl<'de> Deserialize<'de> for ErrorKey {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = ErrorKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E>(self, key: &str) -> Result<ErrorKey, E> {
                Ok(ErrorKey(key == "error"))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The deepest nesting serde_json reads into a `Value` (its recursion limit is 128 levels,
/// counted so that the 128th fails).
const MAX_TREE_DEPTH: usize = 127;

/// Whether well-formed JSON `text` also reads as a `serde_json::Value`: nesting at most
/// [`MAX_TREE_DEPTH`] deep and every `\u` surrogate escape paired. Skipping a value (what
/// typed reading does with what it does not keep) checks neither, so without this a fast
/// path would accept text that the tree-based reading refuses as not JSON.
pub(crate) fn reads_as_tree(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_TREE_DEPTH {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' => match string_end(bytes, at + 1) {
                Some(end) => at = end,
                None => return false,
            },
            _ => {}
        }
        at += 1;
    }
    true
}

/// The index of the quote closing a string whose text starts at `start`; `None` when it has
/// an unpaired surrogate escape (or no end).
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => return Some(at),
            b'\\' if bytes.get(at + 1) == Some(&b'u') => {
                let unit = hex4(bytes, at + 2)?;
                at += 6;
                if (0xDC00..=0xDFFF).contains(&unit) {
                    return None;
                }
                if (0xD800..=0xDBFF).contains(&unit) {
                    if bytes.get(at) != Some(&b'\\') || bytes.get(at + 1) != Some(&b'u') {
                        return None;
                    }
                    let low = hex4(bytes, at + 2)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    at += 6;
                }
            }
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    None
}

fn hex4(bytes: &[u8], start: usize) -> Option<u32> {
    let digits = std::str::from_utf8(bytes.get(start..start + 4)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

/// `Some(true)` when `body` is JSON whose top level is an object with an `error` object (the
/// envelope of a failed call), `Some(false)` for any other JSON, `None` when it is not JSON
/// or would not read as a `Value` ([`reads_as_tree`]).
/// With a key repeated, any `error` object counts: the caller looks closer then.
pub(crate) fn has_error_object(body: &str) -> Option<bool> {
    let mut de = serde_json::Deserializer::from_str(body);
    let found = de::Deserializer::deserialize_any(&mut de, Probe { top_level: true }).ok()?;
    de.end().ok()?;
    reads_as_tree(body).then_some(found == Found::ErrorObject)
}

/// `T` read only from a JSON object: serde's derive also reads a struct from an array (its
/// fields in order), so `[true]` could pass for `{"is_valid": true}`.
pub(crate) struct ObjectOnly<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(ObjectVisitor(PhantomData))
            .map(ObjectOnly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_objects_are_found_only_at_the_top_of_an_object() {
        assert_eq!(has_error_object(r#"{"error":{"code":190}}"#), Some(true));
        assert_eq!(has_error_object(r#" {"a":1,"error":{}} "#), Some(true));
        assert_eq!(has_error_object(r#"{"error":"text"}"#), Some(false));
        assert_eq!(has_error_object(r#"{"error":null}"#), Some(false));
        assert_eq!(has_error_object(r#"{"data":{"error":{}}}"#), Some(false));
        assert_eq!(has_error_object(r#"[{"error":{}}]"#), Some(false));
        assert_eq!(has_error_object(r#""error""#), Some(false));
        assert_eq!(has_error_object(r#"{"e\u0072ror":{}}"#), Some(true));
        for broken in [
            "",
            "{",
            r#"{"error":{}"#,
            "[1,]",
            "{} x",
            "nul",
            "{\"a\":\"\\q\"}",
        ] {
            assert_eq!(has_error_object(broken), None, "{broken:?}");
        }
    }

    #[test]
    fn reads_as_tree_agrees_with_serde_json_at_the_edges() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let object = |depth: usize| format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        for text in [
            nested(1),
            nested(MAX_TREE_DEPTH),
            nested(MAX_TREE_DEPTH + 1),
            object(MAX_TREE_DEPTH),
            object(MAX_TREE_DEPTH + 1),
            format!(r#"["{}", {}]"#, "[".repeat(200), nested(3)),
            r#"["\ud83d\ude00"]"#.to_string(),
            r#"["\ud800"]"#.to_string(),
            r#"["\udc00"]"#.to_string(),
            r#"["\ud800\u0041"]"#.to_string(),
            r#"["\ud800\n"]"#.to_string(),
            r#"["\\ud800", "\"\\", "\u00e9"]"#.to_string(),
            r#"{"k\ud800":1}"#.to_string(),
        ] {
            // Well-formed for skipping, as typed reading sees it.
            assert!(serde_json::from_str::<IgnoredAny>(&text).is_ok(), "{text}");
            let tree = serde_json::from_str::<serde_json::Value>(&text).is_ok();
            assert_eq!(reads_as_tree(&text), tree, "{text}");
        }
        assert_eq!(has_error_object(&nested(MAX_TREE_DEPTH + 1)), None);
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Pair {
        a: u8,
        #[serde(default)]
        b: Option<IsObject>,
    }

    #[test]
    fn object_only_refuses_arrays_that_derive_would_read() {
        assert!(
            serde_json::from_str::<Pair>("[1]").is_ok(),
            "derive reads arrays"
        );
        assert!(serde_json::from_str::<ObjectOnly<Pair>>("[1]").is_err());
        let ObjectOnly(pair) =
            serde_json::from_str::<ObjectOnly<Pair>>(r#"{"a":1,"b":{"x":[1]}}"#).unwrap();
        assert_eq!(pair.b, Some(IsObject(true)));
        let ObjectOnly(pair) =
            serde_json::from_str::<ObjectOnly<Pair>>(r#"{"a":1,"b":[{}]}"#).unwrap();
        assert_eq!(pair.b, Some(IsObject(false)));
    }
}
