//! Reading Meta's webhook envelopes leniently: arrays that may be missing, strings that may be
//! absent, and ids that Meta writes as strings or as numbers. Shared by the event parsers.

use serde_json::Value;

/// The elements of the array at `key`; none when it is missing or not an array.
pub(crate) fn array<'v>(value: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The string at `key`, if it is one.
pub(crate) fn text<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key)?.as_str()
}

/// An id written as a non-empty string or, as Meta does for some ids, a whole number.
pub(crate) fn id(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Number(id) => id.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

/// Each `(entry, value)` of `entry[].changes[]` whose `field` is `field`. Meta's own examples
/// put `field` on the change, and some of them inside its `value` or on the entry: all three
/// are read, in that order.
pub(crate) fn changes_with_field<'v>(
    root: &'v Value,
    field: &'v str,
) -> impl Iterator<Item = (&'v Value, &'v Value)> {
    array(root, "entry").flat_map(move |entry| {
        array(entry, "changes").filter_map(move |change| {
            let value = &change["value"];
            let said = text(change, "field")
                .or_else(|| text(value, "field"))
                .or_else(|| text(entry, "field"));
            (said == Some(field)).then_some((entry, value))
        })
    })
}
