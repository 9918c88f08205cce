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
    if value.is_null() || is_truncation_marker(value) {
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
}
