//! A JSON value's shape, to hold built payloads to Meta's captured ones: the same keys and
//! nesting, each leaf replaced by its JSON type, each array by the distinct shapes of its
//! elements. Shared by the simulator's unit tests (`src/sim/`) and `tests/sim/sim_webhooks.rs`.

use serde_json::{Value, json};

pub fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, child)| (key.clone(), shape(child)))
                .collect(),
        ),
        Value::Array(items) => {
            let mut shapes: Vec<Value> = Vec::new();
            for item in items {
                let item_shape = shape(item);
                if !shapes.contains(&item_shape) {
                    shapes.push(item_shape);
                }
            }
            Value::Array(shapes)
        }
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}
