//! Retention: which stored executions a prune step removes, oldest first.
//!
//! Pure decisions; the stores walk their records oldest first and ask [`verdict`] about each.
//! Running executions are never removed, and neither is a record the ingest server has not
//! acknowledged yet (when sync is configured): it waits until it is synced.

use serde::{Deserialize, Serialize};

use crate::history::Filterable;
use crate::model::time::Millis;
use crate::model::Status;

/// Keep executions this many days by default.
pub const DEFAULT_MAX_AGE_DAYS: u32 = 30;
/// Keep at most this many executions by default.
pub const DEFAULT_MAX_COUNT: usize = 50_000;
/// Executions removed per step (one transaction), so that pruning never holds the store long.
pub const STEP: usize = 200;

/// What one prune step should remove.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PruneRequest {
    /// Remove executions started before this time.
    pub before: Option<Millis>,
    /// Remove this many executions (the oldest), counting those removed for their age.
    pub excess: usize,
    /// Keep records the server has not acknowledged.
    pub protect_unsynced: bool,
    /// Most removals in this step.
    pub limit: usize,
}

/// What a step did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneReport {
    /// Ids removed.
    pub removed: Vec<String>,
    /// Records that would have gone but are not synced yet.
    pub kept_unsynced: usize,
    /// True when nothing more is to be removed (false: the step hit its limit).
    #[serde(skip)]
    pub done: bool,
}

/// The decision about one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Remove it.
    Remove,
    /// Keep it: it is still running.
    KeepRunning,
    /// Keep it: the server does not have it yet.
    KeepUnsynced,
    /// Stop walking: it (and everything newer) stays, or the step is full.
    Stop,
}

/// The verdict on `e` (records come oldest first), after `removed` removals in this step;
/// `unsynced` says whether it waits in the outbox.
pub fn verdict<R: Filterable + ?Sized>(
    e: &R,
    removed: usize,
    req: &PruneRequest,
    unsynced: bool,
) -> Verdict {
    let too_old = req.before.is_some_and(|b| e.started_at() < b);
    if !too_old && removed >= req.excess {
        return Verdict::Stop;
    }
    if removed >= req.limit {
        return Verdict::Stop;
    }
    if e.status() == Status::Running {
        Verdict::KeepRunning
    } else if unsynced && req.protect_unsynced {
        Verdict::KeepUnsynced
    } else {
        Verdict::Remove
    }
}

/// A prune step over records given oldest first, each with whether it is unsynced: what it
/// would remove (nothing is removed here).
pub fn plan<'a, R: Filterable + ?Sized + 'a>(
    oldest_first: impl IntoIterator<Item = (&'a R, bool)>,
    req: &PruneRequest,
) -> PruneReport {
    let mut report = PruneReport {
        done: true,
        ..PruneReport::default()
    };
    for (e, unsynced) in oldest_first {
        match verdict(e, report.removed.len(), req, unsynced) {
            Verdict::Remove => report.removed.push(e.id().to_owned()),
            Verdict::KeepUnsynced => report.kept_unsynced += 1,
            Verdict::KeepRunning => {}
            Verdict::Stop => {
                report.done = report.removed.len() < req.limit;
                break;
            }
        }
    }
    report
}

/// `retention` as `Tracker.open` takes it: `false`, or limits.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RetentionOption {
    /// `false` keeps everything; `true` is the defaults.
    Switch(bool),
    /// Limits (missing ones take their defaults; `null` turns one off).
    Limits(RetentionLimits),
}

/// `{ maxAgeDays, maxCount, maxBytes }`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionLimits {
    /// Days to keep (default 30).
    #[serde(default, deserialize_with = "some_or_null")]
    pub max_age_days: Option<Option<u32>>,
    /// Executions to keep (default 50,000).
    #[serde(default, deserialize_with = "some_or_null")]
    pub max_count: Option<Option<usize>>,
    /// Storage the origin may use, in bytes (browsers' `navigator.storage.estimate()`); no
    /// default.
    #[serde(default)]
    pub max_bytes: Option<u64>,
}

fn some_or_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Checked retention limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Days to keep.
    pub max_age_days: Option<u32>,
    /// Executions to keep.
    pub max_count: Option<usize>,
    /// Origin storage budget.
    pub max_bytes: Option<u64>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age_days: Some(DEFAULT_MAX_AGE_DAYS),
            max_count: Some(DEFAULT_MAX_COUNT),
            max_bytes: None,
        }
    }
}

impl Retention {
    /// From the option (`None`: defaults).
    pub fn from_option(option: Option<RetentionOption>) -> Retention {
        match option {
            None | Some(RetentionOption::Switch(true)) => Retention::default(),
            Some(RetentionOption::Switch(false)) => Retention {
                max_age_days: None,
                max_count: None,
                max_bytes: None,
            },
            Some(RetentionOption::Limits(l)) => {
                let d = Retention::default();
                Retention {
                    max_age_days: l.max_age_days.unwrap_or(d.max_age_days),
                    max_count: l.max_count.unwrap_or(d.max_count),
                    max_bytes: l.max_bytes,
                }
            }
        }
    }

    /// True when nothing is limited.
    pub fn is_off(&self) -> bool {
        self.max_age_days.is_none() && self.max_count.is_none() && self.max_bytes.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Execution;

    fn run(status: Status, started_at: Millis) -> Execution {
        Execution {
            status,
            started_at,
            ..Execution::default()
        }
    }

    #[test]
    fn old_records_go_unless_running_or_unsynced_and_the_walk_stops_when_done() {
        let req = PruneRequest {
            before: Some(100),
            excess: 0,
            protect_unsynced: true,
            limit: 10,
        };
        assert_eq!(
            verdict(&run(Status::Success, 50), 0, &req, false),
            Verdict::Remove
        );
        assert_eq!(
            verdict(&run(Status::Running, 50), 0, &req, false),
            Verdict::KeepRunning
        );
        assert_eq!(
            verdict(&run(Status::Failed, 50), 0, &req, true),
            Verdict::KeepUnsynced
        );
        assert_eq!(
            verdict(&run(Status::Success, 100), 0, &req, false),
            Verdict::Stop
        );
        let unprotected = PruneRequest {
            protect_unsynced: false,
            ..req.clone()
        };
        assert_eq!(
            verdict(&run(Status::Failed, 50), 0, &unprotected, true),
            Verdict::Remove
        );
        assert_eq!(
            verdict(&run(Status::Success, 50), 10, &req, false),
            Verdict::Stop
        );
    }

    #[test]
    fn excess_removes_the_oldest_whatever_their_age() {
        let req = PruneRequest {
            before: None,
            excess: 2,
            protect_unsynced: false,
            limit: 10,
        };
        assert_eq!(
            verdict(&run(Status::Success, 5_000), 1, &req, false),
            Verdict::Remove
        );
        assert_eq!(
            verdict(&run(Status::Success, 5_000), 2, &req, false),
            Verdict::Stop
        );
    }

    #[test]
    fn options_default_and_switch_off() {
        assert_eq!(Retention::from_option(None), Retention::default());
        assert!(Retention::from_option(Some(RetentionOption::Switch(false))).is_off());
        let limits: RetentionOption =
            serde_json::from_value(serde_json::json!({"maxCount": null, "maxAgeDays": 7})).unwrap();
        let r = Retention::from_option(Some(limits));
        assert_eq!((r.max_age_days, r.max_count), (Some(7), None));
    }
}
