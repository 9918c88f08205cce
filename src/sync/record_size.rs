//! Records too large to sync, found when they are recorded instead of when their sync fails.
//!
//! The ingest server refuses a request body over its `--max-body-bytes` (8 MiB by default),
//! and a record is sent at least alone, so a record larger than that can never land: sync
//! dead-letters it. One rule serves every way a record is made: [`flag`] measures a record
//! exactly, as the JSON sync would send. A record handed over whole (`log()`) is measured
//! when given large; records built by the batch step (`start()` runs) are watched by
//! [`RecordSizes`], which keeps a running estimate from the batch text it already holds and
//! measures exactly only when the estimate nears the limit.

use rustc_hash::FxHashMap;

use crate::error::SyncError;
use crate::model::Execution;

/// The ingest server's default `--max-body-bytes` (server/src/main.rs).
pub const SERVER_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// A node run's own fields as JSON besides its definition and payloads (status, times,
/// attempt, duration, keys): added to the estimate per node run.
const NODE_OVERHEAD: usize = 200;

/// The smallest growth of the estimate between two exact measures of one record, so that a
/// record near the limit is not serialized again for every entry.
const MIN_REMEASURE_STEP: usize = 64 * 1024;

/// The size of `e` as sync sends it (its JSON), in bytes. Serialized into a `Vec` like every
/// record the core writes (a counting writer would add a second copy of the serializer to the
/// browser wasm); only called for a record that may be large.
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

/// One running record's size as the batch step sees it grow.
#[derive(Clone, Copy, Debug)]
struct Watched {
    /// Bytes estimated (the JSON text of what each entry added; an upper bound but for
    /// redaction markers, which an exact measure corrects).
    estimate: usize,
    /// The estimate at which the record is measured exactly next.
    next_measure: usize,
    /// Flagged already: never measured or flagged again.
    flagged: bool,
}

/// The records of a batch step watched for size, by execution id: each flagged once, when
/// it grows past the limit, measured exactly with [`flag`].
#[derive(Debug)]
pub struct RecordSizes {
    limit: usize,
    watched: FxHashMap<String, Watched>,
}

impl Default for RecordSizes {
    fn default() -> Self {
        Self::new(SERVER_BODY_LIMIT)
    }
}

impl RecordSizes {
    /// Watches records against `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            watched: FxHashMap::default(),
        }
    }

    /// The limit records are watched against.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Records being watched (running, or finished in the current batch).
    pub fn len(&self) -> usize {
        self.watched.len()
    }

    /// Whether no record is watched.
    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }

    /// Counts `added` bytes (the JSON text of one applied entry) to the record `id`; `node`
    /// for an entry that made a node run. Returns whether the record must now be measured
    /// exactly ([`RecordSizes::measured`]): its estimate passed the next measuring point.
    pub fn grow(&mut self, id: &str, added: usize, node: bool) -> bool {
        let added = added + if node { NODE_OVERHEAD } else { 0 };
        let half = self.limit / 2;
        let w = match self.watched.get_mut(id) {
            Some(w) => w,
            None => self.watched.entry(id.to_owned()).or_insert(Watched {
                estimate: 0,
                next_measure: half,
                flagged: false,
            }),
        };
        w.estimate += added;
        !w.flagged && w.estimate >= w.next_measure
    }

    /// The record `id` finished: whether it must be measured exactly one last time (its
    /// estimate is past half the limit and it was not flagged). It is no longer watched.
    pub fn finish(&mut self, id: &str) -> bool {
        self.watched
            .remove(id)
            .is_some_and(|w| !w.flagged && w.estimate >= self.limit / 2)
    }

    /// Measures `e` exactly; returns the error to report if it is over the limit (then it is
    /// never flagged again), else sets when to measure it next.
    pub fn measured(&mut self, e: &Execution) -> Option<SyncError> {
        let bytes = json_len(e);
        let limit = self.limit;
        if let Some(w) = self.watched.get_mut(&e.id) {
            w.flagged = bytes > limit;
            w.estimate = bytes;
            w.next_measure = bytes + ((limit.saturating_sub(bytes)) / 2).max(MIN_REMEASURE_STEP);
        }
        (bytes > limit).then(|| SyncError::TooLarge {
            id: e.id.clone(),
            bytes,
            limit,
        })
    }

    /// Stops watching `id` (its record left memory without finishing, e.g. deleted).
    pub fn forget(&mut self, id: &str) {
        self.watched.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution(input_bytes: usize) -> Execution {
        named("run-1", input_bytes)
    }

    fn named(id: &str, input_bytes: usize) -> Execution {
        serde_json::from_value(serde_json::json!({
            "id": id, "status": "success", "startedAt": 0,
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

    #[test]
    fn a_watched_record_is_measured_only_past_half_the_limit_and_flagged_once() {
        let mut sizes = RecordSizes::new(1_000_000);
        assert!(
            !sizes.grow("run-1", 100_000, true),
            "far under half: no measure"
        );
        assert!(sizes.grow("run-1", 400_000, false), "past half: measure");
        // The record really is small: the exact size replaces the estimate.
        let small = execution(10);
        assert!(sizes.measured(&small).is_none());
        assert!(
            !sizes.grow("run-1", 1_000, false),
            "not measured again at once"
        );
        // Growing past the next measuring point asks again; over the limit is flagged once.
        assert!(sizes.grow("run-1", 1_100_000, false));
        let big = execution(1_200_000);
        let error = sizes.measured(&big).expect("over the limit");
        assert!(error.to_string().contains("execution run-1"));
        assert!(
            !sizes.grow("run-1", 1_000_000, false),
            "flagged: never measured again"
        );
        assert!(!sizes.finish("run-1"), "flagged: no last measure");
        assert!(sizes.is_empty());
    }

    #[test]
    fn a_finished_record_near_the_limit_is_measured_one_last_time() {
        let mut sizes = RecordSizes::new(1_000_000);
        assert!(!sizes.grow("small", 10, false));
        assert!(!sizes.finish("small"), "a small record is never measured");
        assert!(sizes.grow("near", 600_000, false));
        assert!(sizes.measured(&named("near", 550_000)).is_none());
        assert!(
            !sizes.grow("near", 10_000, false),
            "under the next measuring point"
        );
        assert!(
            sizes.finish("near"),
            "past half the limit at its end: measured"
        );
        assert_eq!(sizes.len(), 0);
    }
}
