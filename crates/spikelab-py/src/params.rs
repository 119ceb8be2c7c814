//! Keyword arguments over a library parameter struct: the struct's `Default` (the library's
//! defaults, never retyped here) with the given fields replaced, through serde.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The defaults of `T` as JSON (an object).
pub fn defaults_json<T: Serialize + Default>() -> String {
    serde_json::to_string(&T::default()).expect("parameter structs serialise")
}

/// `T::default()` with the fields of the JSON object `overrides` replaced. An unknown name
/// or a value of the wrong type is an error naming it.
pub fn overlay<T: Serialize + DeserializeOwned + Default>(overrides: &str) -> Result<T, String> {
    overlay_on(&T::default(), overrides)
}

/// `base` with the fields of the JSON object `overrides` replaced (see [`overlay`]).
pub fn overlay_on<T: Serialize + DeserializeOwned>(base: &T, overrides: &str) -> Result<T, String> {
    let mut base = serde_json::to_value(base).map_err(|e| e.to_string())?;
    let given: Value = serde_json::from_str(overrides).map_err(|e| e.to_string())?;
    let (Value::Object(base_map), Value::Object(given)) = (&mut base, given) else {
        return Err("parameters must be keyword arguments".into());
    };
    for (name, value) in given {
        match base_map.get_mut(&name) {
            Some(slot) => merge(slot, value, &name)?,
            None => {
                let mut known: Vec<&str> = base_map.keys().map(String::as_str).collect();
                known.sort_unstable();
                return Err(format!(
                    "unknown parameter {name:?}; known: {}",
                    known.join(", ")
                ));
            }
        }
    }
    serde_json::from_value(base).map_err(|e| format!("bad parameter value: {e}"))
}

/// A field that is itself a struct (convSeq's `alpha`, `members`) merges field by field, so
/// `alpha={"n_samples": 100}` keeps the other defaults; anything else is replaced whole
/// (enums such as `alpha["rule"]` included; an enum field holding a data variant, an object
/// with one key such as `{"Fixed": 10}`, is replaced by another variant's object).
fn merge(slot: &mut Value, value: Value, name: &str) -> Result<(), String> {
    match (slot, value) {
        (Value::Object(s), Value::Object(v))
            if s.len() == 1 && v.len() == 1 && !v.keys().all(|k| s.contains_key(k)) =>
        {
            *s = v;
        }
        (Value::Object(s), Value::Object(v)) => {
            for (k, x) in v {
                match s.get_mut(&k) {
                    Some(inner) => *inner = x,
                    None => return Err(format!("unknown parameter {name}[{k:?}]")),
                }
            }
        }
        (slot, value) => *slot = value,
    }
    Ok(())
}
