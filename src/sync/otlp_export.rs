//! The client's OTLP exporter (`export: { otlp: URL }`): the sync machinery (outbox, batches,
//! pacing, backoff, dead letters) with OTLP on the wire. The uploader builds its ingest batch
//! as always; [`to_otlp`] turns it into an OTLP/HTTP JSON request and [`reply_of`] turns the
//! collector's answer back into the [`Reply`] the uploader's [`decide`](super::decide) reads,
//! following OTLP's rules: a success, even a partial one, settles the whole batch (a partial
//! success must never be retried); 429, 502, 503 and 504 are retried (after `Retry-After`);
//! 401/403 pause sync like the ingest server's; anything else is a refusal for good, which
//! the uploader splits down to the one record and keeps as a dead letter.

use super::otlp::{encode_requests, MAX_OTLP_REQUEST_BYTES, OTLP_TRACES_PATH};
use super::protocol::{IngestRequest, IngestResponse};
use super::reply::Reply;

/// The OTLP traces URL for a collector's base URL (`/v1/traces` appended unless given).
pub fn traces_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with(OTLP_TRACES_PATH) {
        base.to_owned()
    } else {
        format!("{base}{OTLP_TRACES_PATH}")
    }
}

/// An ingest batch as OTLP: the request body (`None` when no record is finished, so there
/// is nothing to send) and every record id of the batch (all settle with the answer).
pub fn to_otlp(
    ingest_body: &str,
    service_name: &str,
) -> Result<(Option<String>, Vec<String>), String> {
    let batch: IngestRequest = serde_json::from_str(ingest_body)
        .map_err(|e| format!("the sync batch cannot be read for OTLP: {e}"))?;
    let ids = batch.records.iter().map(|r| r.id.clone()).collect();
    // The uploader's batches are far below 20 MiB, so one request holds them all.
    let mut requests = encode_requests(service_name, &batch.records, MAX_OTLP_REQUEST_BYTES);
    let body = (!requests.is_empty()).then(|| requests.swap_remove(0).body);
    Ok((body, ids))
}

/// Every id accepted: what a success settles.
pub fn all_accepted(ids: Vec<String>) -> Reply {
    Reply::Ok(IngestResponse {
        accepted: ids,
        rejected: Vec::new(),
    })
}

/// The collector's answer as the uploader's [`Reply`].
pub fn reply_of(status: u16, retry_after_ms: Option<f64>, text: &str, ids: Vec<String>) -> Reply {
    match status {
        200..=299 => all_accepted(ids),
        401 | 403 | 429 | 503 => Reply::Status {
            code: status,
            retry_after_ms,
            message: format!("the OTLP collector answered {status}"),
        },
        502 | 504 => Reply::Status {
            code: status,
            retry_after_ms,
            message: format!("the OTLP collector answered {status}; retrying"),
        },
        // Refused for good: 400/422 make the uploader split the batch down to the record and
        // dead-letter it, instead of retrying what the collector will never take.
        _ => Reply::Status {
            code: 422,
            retry_after_ms: None,
            message: format!(
                "the OTLP collector refused the spans ({status}): {}",
                text.chars().take(300).collect::<String>()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::Backoff;
    use crate::sync::{decide, Step};

    const BATCH: &str = r#"{"batch_id":"b","client":{"id":"c","sdk":"s"},"records":[
        {"id":"done","version":2,"status":"success","startedAt":1700000000000,"completedAt":1700000000100},
        {"id":"busy","version":1,"status":"running","startedAt":1700000000000}]}"#;

    #[test]
    fn a_batch_becomes_one_request_of_its_finished_records() {
        let (body, ids) = to_otlp(BATCH, "editor").unwrap();
        let body: serde_json::Value = serde_json::from_str(&body.unwrap()).unwrap();
        let spans = &body["resourceSpans"][0]["scopeSpans"][0]["spans"];
        assert_eq!(
            spans.as_array().unwrap().len(),
            1,
            "the running record is not a span yet"
        );
        assert_eq!(ids, ["done", "busy"]);
        let running_only = BATCH.replace(r#""status":"success""#, r#""status":"running""#);
        assert_eq!(to_otlp(&running_only, "editor").unwrap().0, None);
        assert!(to_otlp("{}", "editor").is_err());
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }

    #[test]
    fn answers_follow_the_otlp_retry_rules_through_the_uploader() {
        let backoff = Backoff {
            base_ms: 1000.0,
            cap_ms: 60_000.0,
        };
        let ids = || vec!["a".to_owned(), "b".to_owned()];
        let step = |status, retry: Option<f64>| {
            decide(reply_of(status, retry, "no", ids()), 2, 0, &backoff, 0.5)
        };
        // A partial success is a success: settled, never retried.
        assert!(matches!(step(200, None), Step::Commit(r) if r.accepted.len() == 2));
        assert_eq!(step(503, Some(5000.0)), Step::RetryAfter(5000.0));
        assert_eq!(step(429, Some(7000.0)), Step::RetryAfter(7000.0));
        assert!(matches!(step(502, None), Step::RetryAfter(_)));
        assert!(matches!(step(504, None), Step::RetryAfter(_)));
        assert!(matches!(step(401, None), Step::PauseForAuth(_)));
        assert_eq!(step(400, None), Step::Split);
        assert_eq!(
            step(500, None),
            Step::Split,
            "refused for good, not retried"
        );
        let one = decide(
            reply_of(404, None, "no such path", vec!["a".into()]),
            1,
            0,
            &backoff,
            0.5,
        );
        assert!(matches!(one, Step::DeadLetter(m) if m.contains("404")));
    }
}
