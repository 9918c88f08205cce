//! What to do with the answer to one ingest request: the uploader's whole retry policy.

use crate::model::time::{days_from_civil, Millis};
use crate::retry::Backoff;

use super::pace::MAX_RETRY_AFTER_MS;
use super::protocol::IngestResponse;

/// What came back from one `POST /v1/ingest`.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// 200 with its body.
    Ok(IngestResponse),
    /// Any other status, with its `Retry-After` (already in ms) and error message.
    Status {
        /// The HTTP status.
        code: u16,
        /// `Retry-After`, in milliseconds from now.
        retry_after_ms: Option<f64>,
        /// The server's `error.message`, or the status text.
        message: String,
    },
    /// No answer: offline, DNS, connection refused, timeout. This, not `navigator.onLine`,
    /// is what says offline.
    Network(String),
}

/// The next step for a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Mark accepted ids synced and dead-letter rejected ones with their reasons.
    Commit(IngestResponse),
    /// Try the same batch (same batch id) again after this many ms.
    RetryAfter(f64),
    /// Send the two halves separately: one record in it is bad (400) or too big (413).
    Split,
    /// The batch's only record is refused for good: keep it, visibly, with this reason.
    DeadLetter(String),
    /// The key is wrong: stop syncing and raise an error until the key changes.
    PauseForAuth(String),
}

/// Decides the next step for a batch of `batch_len` records after `attempt` failed tries
/// (0 for the first answer), drawing jitter from `random` in `[0, 1)`.
pub fn decide(
    reply: Reply,
    batch_len: usize,
    attempt: u32,
    backoff: &Backoff,
    random: f64,
) -> Step {
    let wait = || backoff.delay_ms(attempt, random);
    match reply {
        Reply::Ok(body) => Step::Commit(body),
        Reply::Network(_) => Step::RetryAfter(wait()),
        Reply::Status {
            code: 401 | 403,
            message,
            ..
        } => Step::PauseForAuth(message),
        Reply::Status {
            code: 400 | 413 | 422,
            ..
        } if batch_len > 1 => Step::Split,
        Reply::Status {
            code: 413, message, ..
        } => Step::DeadLetter(format!(
            "the record is larger than the server accepts: {message}"
        )),
        Reply::Status {
            code: 400 | 422,
            message,
            ..
        } => Step::DeadLetter(format!("the server cannot read the record: {message}")),
        // Honour Retry-After up to an hour, but never retry sooner than our own backoff says.
        Reply::Status {
            code: 429 | 503,
            retry_after_ms,
            ..
        } => Step::RetryAfter(
            retry_after_ms
                .unwrap_or(0.0)
                .clamp(0.0, MAX_RETRY_AFTER_MS)
                .max(wait()),
        ),
        Reply::Status { .. } => Step::RetryAfter(wait()),
    }
}

/// Reads a `Retry-After` header: delay seconds, or an HTTP date (IMF-fixdate, e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`), as milliseconds from `now`. `None` when unreadable.
pub fn parse_retry_after(value: &str, now: Millis) -> Option<f64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds as f64 * 1000.0);
    }
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    let at = (days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s) * 1000;
    Some((at - now).max(0) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        base_ms: 100.0,
        cap_ms: 10_000.0,
    };

    fn status(code: u16, retry_after_ms: Option<f64>) -> Reply {
        Reply::Status {
            code,
            retry_after_ms,
            message: format!("status {code}"),
        }
    }

    #[test]
    fn bad_or_big_batches_are_split_until_the_culprit_is_alone() {
        assert_eq!(decide(status(400, None), 8, 0, &B, 0.5), Step::Split);
        assert_eq!(decide(status(413, None), 2, 0, &B, 0.5), Step::Split);
        assert!(
            matches!(decide(status(400, None), 1, 0, &B, 0.5), Step::DeadLetter(r) if r.contains("cannot read"))
        );
        assert!(
            matches!(decide(status(413, None), 1, 0, &B, 0.5), Step::DeadLetter(r) if r.contains("larger"))
        );
    }

    #[test]
    fn retry_after_is_honoured_but_never_undercuts_backoff() {
        assert_eq!(
            decide(status(503, Some(5_000.0)), 3, 0, &B, 0.5),
            Step::RetryAfter(5_000.0)
        );
        assert_eq!(
            decide(status(429, Some(1.0)), 3, 4, &B, 0.5),
            Step::RetryAfter(800.0)
        );
        assert_eq!(
            decide(status(500, None), 3, 1, &B, 0.5),
            Step::RetryAfter(100.0)
        );
        assert_eq!(
            decide(Reply::Network("refused".into()), 3, 0, &B, 0.5),
            Step::RetryAfter(50.0)
        );
    }

    #[test]
    fn a_retry_after_of_a_month_waits_an_hour() {
        let month = parse_retry_after("2592000", 0);
        assert_eq!(month, Some(2_592_000_000.0));
        assert_eq!(
            decide(status(503, month), 3, 0, &B, 0.5),
            Step::RetryAfter(MAX_RETRY_AFTER_MS)
        );
        assert_eq!(
            decide(status(429, Some(f64::INFINITY)), 3, 0, &B, 0.5),
            Step::RetryAfter(MAX_RETRY_AFTER_MS)
        );
    }

    #[test]
    fn auth_failures_pause_and_200_commits() {
        assert!(matches!(
            decide(status(401, None), 3, 0, &B, 0.5),
            Step::PauseForAuth(_)
        ));
        let ok = IngestResponse {
            accepted: vec!["a".into()],
            rejected: vec![],
        };
        assert_eq!(
            decide(Reply::Ok(ok.clone()), 1, 0, &B, 0.5),
            Step::Commit(ok)
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(parse_retry_after(" 7 ", 0), Some(7_000.0));
        let now = 784_111_777_000 - 2_000; // two seconds before the date below
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(2_000.0)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now + 10_000),
            Some(0.0)
        );
        assert_eq!(parse_retry_after("soon", 0), None);
    }
}
