//! Which incoming version of an execution the server takes, keeps out, or refuses.
//!
//! Versions grow by one with every change, so a real one is small. A version more than
//! [`MAX_VERSION_STEP`] above the stored one (0 when none is stored) is refused: otherwise one
//! bad record could pin the execution so that every later real version looks old and is
//! dropped. (Validation, before judging, already refuses versions beyond [`MAX_VERSION`].) The same version with different
//! content is a conflict, refused with a reason rather than silently dropped.
//!
//! A record without a version (`version` 0: simple clients, the `/api/…` receivers) is
//! ordered by its lifecycle instead: a final state is never overwritten by `running`;
//! between two final states the later `completedAt` wins, then the later arrival. When it is
//! written it is stored at the next version ([`next_version`]), so versions keep growing.

/// The largest version validation accepts: 2^53 − 1 (the largest integer JavaScript
/// represents exactly; far below `i64::MAX`, so it never wraps in the database).
pub const MAX_VERSION: u64 = (1 << 53) - 1;

/// How far above the stored version (0 when none) an incoming version may be.
pub const MAX_VERSION_STEP: u64 = 1_000_000;

/// What to do with an incoming record.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Newer: store it.
    Write,
    /// Already stored at this version (same content) or a newer one: accepted, nothing changes.
    Keep,
    /// Refused for good, with the reason.
    Refuse(String),
}

/// The stored version of an execution and whether the incoming record's content equals it.
#[derive(Clone, Copy, Debug)]
pub struct Stored {
    /// The stored version.
    pub version: u64,
    /// The incoming record's content equals the stored record's (for a record without a
    /// version: everything but the version).
    pub same_content: bool,
    /// Where the stored record is in its lifecycle.
    pub lifecycle: Lifecycle,
}

/// Where a record is in its lifecycle: what orders records that carry no version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// The status is final (anything but `running`).
    pub finished: bool,
    /// When it completed (ms since the epoch), if it says.
    pub completed_at: Option<i64>,
}

/// An incoming record as the rule sees it.
#[derive(Clone, Copy, Debug)]
pub struct Incoming {
    /// Its version; 0 when it carries none.
    pub version: u64,
    /// Where it is in its lifecycle.
    pub lifecycle: Lifecycle,
}

/// The version a record is stored at once [`judge`] says [`Verdict::Write`]: its own, or for
/// a record without one, the one after the stored version (1 when none is stored).
pub fn next_version(incoming: u64, stored: Option<u64>) -> u64 {
    if incoming > 0 {
        incoming
    } else {
        stored.unwrap_or(0).saturating_add(1).min(MAX_VERSION)
    }
}

/// Judges `incoming` against what is stored (nothing, when `stored` is `None`).
pub fn judge(incoming: Incoming, stored: Option<Stored>) -> Verdict {
    if incoming.version == 0 {
        return judge_by_lifecycle(incoming.lifecycle, stored);
    }
    judge_version(incoming.version, stored)
}

/// The lifecycle order for a record without a version.
fn judge_by_lifecycle(incoming: Lifecycle, stored: Option<Stored>) -> Verdict {
    let Some(stored) = stored else {
        return Verdict::Write;
    };
    if stored.same_content {
        return Verdict::Keep;
    }
    let was = stored.lifecycle;
    match (was.finished, incoming.finished) {
        // A late `running` never reopens a finished execution.
        (true, false) => Verdict::Keep,
        // Between two final states the later completion wins; unknown or equal
        // completions fall back to arrival order (this one arrived later).
        (true, true) => match (was.completed_at, incoming.completed_at) {
            (Some(old), Some(new)) if new < old => Verdict::Keep,
            _ => Verdict::Write,
        },
        // Running over running (a progress update), or the end of a running execution.
        (false, _) => Verdict::Write,
    }
}

/// The version order for a record that carries one.
fn judge_version(incoming: u64, stored: Option<Stored>) -> Verdict {
    let current = stored.map_or(0, |s| s.version);
    if incoming > current.saturating_add(MAX_VERSION_STEP) {
        return Verdict::Refuse(format!(
            "version {incoming} jumps more than {MAX_VERSION_STEP} above the stored version {current}"
        ));
    }
    match stored {
        Some(s) if incoming == s.version && !s.same_content => Verdict::Refuse(format!(
            "conflict: version {incoming} of this execution is already stored with different content; a change needs a new version"
        )),
        Some(s) if incoming <= s.version => Verdict::Keep,
        _ => Verdict::Write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(version: u64, same_content: bool) -> Option<Stored> {
        Some(Stored {
            version,
            same_content,
            lifecycle: Lifecycle::default(),
        })
    }

    fn judge(version: u64, stored: Option<Stored>) -> Verdict {
        super::judge(
            Incoming {
                version,
                lifecycle: Lifecycle::default(),
            },
            stored,
        )
    }

    const RUNNING: Lifecycle = Lifecycle {
        finished: false,
        completed_at: None,
    };

    fn done(completed_at: Option<i64>) -> Lifecycle {
        Lifecycle {
            finished: true,
            completed_at,
        }
    }

    /// Judges a record without a version against a stored one at version 4.
    fn unversioned(incoming: Lifecycle, was: Lifecycle, same_content: bool) -> Verdict {
        super::judge(
            Incoming {
                version: 0,
                lifecycle: incoming,
            },
            Some(Stored {
                version: 4,
                same_content,
                lifecycle: was,
            }),
        )
    }

    #[test]
    fn without_a_version_a_final_state_is_never_reopened_by_running() {
        assert_eq!(unversioned(RUNNING, done(Some(10)), false), Verdict::Keep);
        assert_eq!(unversioned(RUNNING, done(None), false), Verdict::Keep);
        assert_eq!(unversioned(done(Some(10)), RUNNING, false), Verdict::Write);
        assert_eq!(unversioned(RUNNING, RUNNING, false), Verdict::Write);
    }

    #[test]
    fn without_a_version_the_later_completion_then_the_later_arrival_wins() {
        assert_eq!(
            unversioned(done(Some(20)), done(Some(10)), false),
            Verdict::Write
        );
        assert_eq!(
            unversioned(done(Some(5)), done(Some(10)), false),
            Verdict::Keep
        );
        assert_eq!(
            unversioned(done(Some(10)), done(Some(10)), false),
            Verdict::Write
        );
        assert_eq!(
            unversioned(done(None), done(Some(10)), false),
            Verdict::Write
        );
        assert_eq!(
            unversioned(done(Some(10)), done(None), false),
            Verdict::Write
        );
    }

    #[test]
    fn without_a_version_the_same_content_changes_nothing() {
        assert_eq!(unversioned(RUNNING, RUNNING, true), Verdict::Keep);
        assert_eq!(
            unversioned(done(Some(10)), done(Some(10)), true),
            Verdict::Keep
        );
        assert_eq!(
            super::judge(
                Incoming {
                    version: 0,
                    lifecycle: RUNNING
                },
                None
            ),
            Verdict::Write
        );
    }

    #[test]
    fn a_record_without_a_version_is_stored_at_the_next_one() {
        assert_eq!(next_version(0, None), 1);
        assert_eq!(next_version(0, Some(4)), 5);
        assert_eq!(next_version(7, Some(4)), 7);
        assert_eq!(next_version(0, Some(MAX_VERSION)), MAX_VERSION);
    }

    #[test]
    fn newer_is_written_and_older_or_equal_is_kept() {
        assert_eq!(judge(1, None), Verdict::Write);
        assert_eq!(judge(4, stored(3, false)), Verdict::Write);
        assert_eq!(judge(2, stored(3, false)), Verdict::Keep);
        assert_eq!(judge(3, stored(3, true)), Verdict::Keep);
    }

    #[test]
    fn the_same_version_with_other_content_is_a_conflict() {
        let Verdict::Refuse(reason) = judge(3, stored(3, false)) else {
            panic!("expected a refusal")
        };
        assert!(reason.starts_with("conflict"), "{reason}");
    }

    #[test]
    fn huge_versions_and_jumps_are_refused() {
        for (incoming, current, says) in [
            (u64::MAX, None, "jumps"),
            (i64::MAX as u64, stored(5, true), "jumps"),
            (MAX_VERSION_STEP + 1, None, "jumps"),
            (MAX_VERSION_STEP + 11, stored(10, true), "jumps"),
        ] {
            match judge(incoming, current) {
                Verdict::Refuse(reason) => assert!(reason.contains(says), "{reason}"),
                other => panic!("{incoming}: {other:?}"),
            }
        }
        assert_eq!(judge(MAX_VERSION_STEP, None), Verdict::Write);
        assert_eq!(
            judge(MAX_VERSION_STEP + 10, stored(10, true)),
            Verdict::Write
        );
    }
}
