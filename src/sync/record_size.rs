//! Records too large to sync, found when they are recorded instead of when their sync fails.
//!
//! The ingest server refuses a request body over its `--max-body-bytes` (8 MiB by default),
//! and a record is sent at least alone, so a record larger than that can never land: sync
//! dead-letters it. The JS capture layer estimates this for `start()`-recorded runs at the
//! batch step (js/capture/record-size.js); [`flag`] is the same rule for a record handed over
//! whole (`log()`), measured exactly: the JSON it would be sent as.

use crate::error::SyncError;
use crate::model::Execution;

/// The ingest server's default `--max-body-bytes` (server/src/main.rs).
pub const SERVER_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// The size of `e` as sync sends it (its JSON), in bytes. Serialized into a `Vec` like every
/// record the core writes (a counting writer would add a second copy of the serializer to the
/// browser wasm); only called for a record given as large.
pub fn json_len(e: &Execution) -> usize {
    serde_json::to_vec(e).map_or(0, |bytes| bytes.len())
}

/// The error to report when `e` is larger than `limit` as JSON, or `None` when it fits.
pub fn flag(e: &Execution, limit: usize) -> Option<SyncError> {
    let bytes = json_len(e);
    (bytes > limit).then(|| SyncError::TooLarge {
        id: e.id.clone(),
        bytes,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution(input_bytes: usize) -> Execution {
        serde_json::from_value(serde_json::json!({
            "id": "run-1", "status": "success", "startedAt": 0,
            "metadata": { "request": { "blob": "x".repeat(input_bytes) } },
        }))
        .unwrap()
    }

    #[test]
    fn a_record_over_the_limit_is_flagged_with_its_id_and_size() {
        let e = execution(2_000);
        let bytes = json_len(&e);
        assert_eq!(bytes, serde_json::to_vec(&e).unwrap().len());
        let error = flag(&e, 1_000).expect("over the limit");
        let text = error.to_string();
        assert!(text.contains("execution run-1"), "{text}");
        assert!(text.contains("--max-body-bytes"), "{text}");
        assert!(flag(&e, bytes).is_none(), "exactly at the limit fits");
    }
}
