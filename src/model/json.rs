//! Payload values (node inputs and outputs) kept as compact JSON text.
//!
//! A node payload is written once and read rarely. As text it takes one allocation instead of
//! a tree of them, clones with a `memcpy`, and is written to storage without re-encoding.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// A JSON value held as its text. `null` is held as nothing.
#[derive(Clone, Debug, Default)]
pub struct Json(Option<Box<RawValue>>);

impl Json {
    /// JSON `null`.
    pub fn null() -> Json {
        Json(None)
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        self.0.is_none()
    }

    /// The text of `value`.
    pub fn from_value(value: &Value) -> Json {
        if value.is_null() {
            return Json(None);
        }
        Json(serde_json::value::to_raw_value(value).ok())
    }

    /// Takes `text`, which must be valid JSON (it came from `JSON.stringify` or `serde_json`).
    /// Invalid text is refused with `None`.
    pub fn from_text(text: String) -> Option<Json> {
        if text == "null" {
            return Some(Json(None));
        }
        RawValue::from_string(text).ok().map(|raw| Json(Some(raw)))
    }

    /// Takes JSON text already checked as JSON (a payload borrowed from a parsed batch):
    /// no second parse, no copy.
    pub fn from_raw(raw: Box<RawValue>) -> Json {
        if raw.get() == "null" {
            return Json(None);
        }
        Json(Some(raw))
    }

    /// The JSON text (`null` for null).
    pub fn text(&self) -> &str {
        self.0.as_deref().map_or("null", RawValue::get)
    }

    /// Parses the text into a [`Value`].
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.text()).unwrap_or(Value::Null)
    }
}

impl From<Value> for Json {
    fn from(value: Value) -> Self {
        Json::from_value(&value)
    }
}

impl PartialEq for Json {
    /// Equal when the values are equal, whatever the key order or spacing of the text.
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text() || self.to_value() == other.to_value()
    }
}

impl PartialEq<Value> for Json {
    fn eq(&self, other: &Value) -> bool {
        &self.to_value() == other
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(raw) => raw.serialize(serializer),
            None => serializer.serialize_unit(),
        }
    }
}

thread_local! {
    static SKIMMING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `read` with payload values skipped (read as `null` without building them): for
/// reading records only for their summaries, e.g. when a durable store replays its log.
pub fn skimming<T>(read: impl FnOnce() -> T) -> T {
    SKIMMING.with(|s| s.set(true));
    let result = read();
    SKIMMING.with(|s| s.set(false));
    result
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if SKIMMING.with(std::cell::Cell::get) {
            serde::de::IgnoredAny::deserialize(deserializer)?;
            return Ok(Json(None));
        }
        // Through `Value`, so that any deserializer works, not only serde_json's own.
        Value::deserialize(deserializer).map(|v| Json::from_value(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_compares_by_value() {
        let a = Json::from_text(r#"{"b":1,"a":[true,null]}"#.into()).unwrap();
        assert_eq!(a, json!({"a": [true, null], "b": 1}));
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"b":1,"a":[true,null]}"#
        );
        let back: Json = serde_json::from_str(a.text()).unwrap();
        assert_eq!(back, a);
        assert!(Json::from_text("null".into()).unwrap().is_null());
        assert!(Json::from_text("{oops".into()).is_none());
    }
}
