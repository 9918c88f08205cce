//! Which incoming version of an execution the server takes, keeps out, or refuses.
//!
//! Versions grow by one with every change, so a real one is small. A version beyond
//! [`MAX_VERSION`] (the largest integer JavaScript represents exactly; far below `i64::MAX`,
//! so it never wraps in the database) or more than [`MAX_VERSION_STEP`] above the stored one
//! (0 when none is stored) is refused: otherwise one bad record could pin the execution so
//! that every later real version looks old and is dropped. The same version with different
//! content is a conflict, refused with a reason rather than silently dropped.

/// The largest version accepted: 2^53 − 1.
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
    /// The incoming record's content equals the stored record's.
    pub same_content: bool,
}

/// Judges `incoming` against what is stored (nothing, when `stored` is `None`).
pub fn judge(incoming: u64, stored: Option<Stored>) -> Verdict {
    if incoming > MAX_VERSION {
        return Verdict::Refuse(format!(
            "version {incoming} is larger than the largest accepted version {MAX_VERSION}"
        ));
    }
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
        })
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
            (u64::MAX, None, "largest accepted"),
            (i64::MAX as u64, stored(5, true), "largest accepted"),
            (
                MAX_VERSION + 1,
                stored(MAX_VERSION, true),
                "largest accepted",
            ),
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
