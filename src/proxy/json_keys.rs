//! Whether a JSON body is an object with a top-level credential key, read without building
//! it: a message send's body is checked on every request and almost never carries one, so
//! only a body that does is parsed whole and rewritten (`scrub::json_without_credentials`).
//!
//! Every value goes through serde_json's `deserialize_any`, as for a `serde_json::Value`:
//! what does not parse as a `Value` (depth past serde_json's limit, numbers out of range, bad
//! escapes, trailing bytes) does not parse here either.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::scrub::is_credential;

/// What the body is at the top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An object; `credential` when one of its keys is a credential.
    Object { credential: bool },
    /// Valid JSON, but not an object.
    Other,
}

/// `None` when the bytes are not JSON.
pub fn shape(body: &[u8]) -> Option<Shape> {
    serde_json::from_slice::<Shape>(body).ok()
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopVisitor)
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut credential = false;
        while let Some(key) = map.next_key::<Key>()? {
            credential |= key.0;
            map.next_value::<Skip>()?;
        }
        Ok(Shape::Object { credential })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Shape, A::Error> {
        SkipVisitor.visit_seq(seq).map(|Skip| Shape::Other)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
}

/// A key, read as a string (borrowed when it has no escapes): true when it is a credential.
struct Key(bool);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(Key(is_credential(key)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Any value, checked and dropped.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Key, Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `serde_json::Value` makes of the same bytes, for comparison.
    fn by_value(body: &[u8]) -> Option<Shape> {
        match serde_json::from_slice::<serde_json::Value>(body).ok()? {
            serde_json::Value::Object(object) => Some(Shape::Object {
                credential: object.keys().any(|k| is_credential(k)),
            }),
            _ => Some(Shape::Other),
        }
    }

    #[test]
    fn reads_bodies_exactly_as_a_parsed_value_would() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let bodies: Vec<&[u8]> = vec![
            br#"{"messaging_product":"whatsapp","to":"1555","text":{"body":"hi"}}"#,
            br#"{"to":"1555","access_token":"EAAG"}"#,
            br#"{"to":"1555","access\u005ftoken":"EAAG"}"#,
            br#"{"to":"1555","Access.Token":"EAAG"}"#,
            br#"{"nested":{"access_token":"EAAG"}}"#,
            br#"{"to":"1555","to":"again"}"#,
            br#"[{"access_token":"EAAG"}]"#,
            br#""access_token""#,
            b"12",
            b"null",
            br#"{"n":1e400}"#,
            br#"{"s":"\ud800"}"#,
            br#"{"to":"1555",}"#,
            br#"{"to":"1555"} x"#,
            b"  {\"to\":\"1555\"}\n",
            b"not json",
            b"",
            deep.as_bytes(),
        ];
        for body in bodies {
            assert_eq!(
                shape(body),
                by_value(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
