//! Payload limits: an oversized value is replaced by an explicit marker, never cut silently.

use serde_json::{json, Value};

/// The key of a truncation marker object: `{"$truncated": {...}}`.
pub const TRUNCATED_KEY: &str = "$truncated";

/// Default largest JSON size of one node input/output or metadata value.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 64 * 1024;
/// Default length of the preview kept in a truncation marker.
pub const DEFAULT_PREVIEW_BYTES: usize = 512;

/// Replaces `value` by a truncation marker when its JSON is larger than `max_bytes`.
///
/// The marker says how many bytes the preview kept, how many were dropped, and holds a
/// preview (the start of the JSON text, cut on a character boundary). Returns true when the
/// value was replaced.
pub fn truncate_value(value: &mut Value, max_bytes: usize, preview_bytes: usize) -> bool {
    // A marker made earlier is left alone (truncating it again would lose its counts), but
    // only a real one: anything else shaped like a marker is sized like any other value.
    if value.is_null()
        || is_genuine_marker(
            value,
            max_bytes.max(preview_bytes).max(DEFAULT_PREVIEW_BYTES),
        )
    {
        return false;
    }
    let text = match serde_json::to_string(value) {
        Ok(text) if text.len() > max_bytes => text,
        _ => return false,
    };
    let mut cut = preview_bytes.min(max_bytes).min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    *value = json!({
        TRUNCATED_KEY: {
            "bytesKept": cut,
            "bytesDropped": text.len() - cut,
            "originalBytes": text.len(),
            "preview": &text[..cut],
        }
    });
    true
}

/// True for a marker as [`truncate_value`] makes them: its four counts agree with each other
/// and with its preview, which is at most `max_preview` bytes.
fn is_genuine_marker(value: &Value, max_preview: usize) -> bool {
    if !is_truncation_marker(value) {
        return false;
    }
    let Some(m) = value[TRUNCATED_KEY].as_object() else {
        return false;
    };
    let count = |key: &str| m.get(key).and_then(Value::as_u64);
    match (
        count("bytesKept"),
        count("bytesDropped"),
        count("originalBytes"),
        m.get("preview").and_then(Value::as_str),
    ) {
        (Some(kept), Some(dropped), Some(original), Some(preview)) => {
            m.len() == 4
                && preview.len() as u64 == kept
                && kept.checked_add(dropped) == Some(original)
                && preview.len() <= max_preview
        }
        _ => false,
    }
}

/// True for a value that is a truncation marker.
pub fn is_truncation_marker(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|o| o.len() == 1 && o.contains_key(TRUNCATED_KEY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_kept_as_they_are() {
        let mut v = json!({"rows": [1, 2, 3]});
        assert!(!truncate_value(&mut v, 100, 10));
        assert_eq!(v, json!({"rows": [1, 2, 3]}));
    }

    #[test]
    fn large_values_become_a_marker_that_accounts_for_every_byte() {
        let mut v = json!({"blob": "é".repeat(100)});
        let original = serde_json::to_string(&v).unwrap().len();
        assert!(truncate_value(&mut v, 50, 12));
        let m = &v[TRUNCATED_KEY];
        let kept = m["bytesKept"].as_u64().unwrap() as usize;
        assert_eq!(
            kept + m["bytesDropped"].as_u64().unwrap() as usize,
            original
        );
        assert!(kept <= 12);
        assert_eq!(m["preview"].as_str().unwrap().len(), kept);
        assert!(is_truncation_marker(&v));
        // Truncating again leaves the marker alone.
        assert!(!truncate_value(&mut v, 10, 5));
    }

    #[test]
    fn a_value_shaped_like_a_marker_is_sized_like_any_other() {
        let mut fake = json!({TRUNCATED_KEY: "x".repeat(10_000)});
        assert!(truncate_value(&mut fake, 100, 10));
        assert_eq!(fake[TRUNCATED_KEY]["originalBytes"], 10_000 + 17);
        let mut big_preview = json!({TRUNCATED_KEY: {"bytesKept": 5000, "bytesDropped": 0,
            "originalBytes": 5000, "preview": "y".repeat(5000)}});
        // (kept whole only when its preview fits the larger of the limits and the default)
        assert!(truncate_value(&mut big_preview, 100, 10));
        assert!(
            big_preview[TRUNCATED_KEY]["preview"]
                .as_str()
                .unwrap()
                .len()
                <= 10
        );
    }
}
