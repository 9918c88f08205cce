//! The forwarders: each sink (`--otlp-endpoint`, `--openlineage-endpoint`) drains its outbox
//! into its consumer, oldest first, following OTLP/HTTP's rules for every consumer:
//!
//! - retry only `429`, `502`, `503`, `504` and connection failures, after the `Retry-After`
//!   the consumer gave (capped), else after an exponential backoff;
//! - never retry a success, even a partial one (the rejected part is logged: a retry would
//!   send the accepted part twice);
//! - any other answer is final: the items are logged as refused and dropped (a retry of a
//!   request the consumer refuses would block the queue forever);
//! - OTLP requests stay under 20 MiB.
//!
//! Rows leave the outbox only once their request got a final answer, so a consumer that is
//! down (or a server restart) loses nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Uri;
use runledger::sync::otlp::{encode_requests, MAX_OTLP_REQUEST_BYTES};
use runledger::Execution;
use serde_json::Value;
use sqlx::AnyPool;
use tokio::sync::Notify;

use super::client::{self, Answer};
use super::{openlineage, outbox};

/// Rows taken from the outbox per round.
const ROUND: i64 = 200;
/// How often an idle forwarder looks at its outbox without being woken.
const POLL: Duration = Duration::from_secs(2);
/// The longest wait a `Retry-After` may ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// The longest backoff between retries without `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What a sink speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OTLP/HTTP JSON traces.
    Otlp,
    /// OpenLineage run events (its HTTP transport: one event per POST).
    OpenLineage,
}

impl Format {
    /// The sink's name in the outbox and the logs.
    pub fn name(self) -> &'static str {
        match self {
            Format::Otlp => "otlp",
            Format::OpenLineage => "openlineage",
        }
    }
}

/// One consumer.
#[derive(Clone, Debug)]
pub struct Sink {
    /// What it speaks.
    pub format: Format,
    /// Where requests go.
    pub uri: Uri,
    /// Wakes the forwarder when a batch is committed.
    pub wake: Arc<Notify>,
}

impl Sink {
    /// A sink for `url`: the consumer's base URL, to which `path` is appended unless the
    /// URL already ends with it.
    pub fn new(format: Format, url: &str, path: &str) -> Result<Sink, String> {
        let flag = match format {
            Format::Otlp => "--otlp-endpoint",
            Format::OpenLineage => "--openlineage-endpoint",
        };
        let uri = client::check_url(url).map_err(|e| format!("{flag}: {e}"))?;
        let base = uri.path().trim_end_matches('/');
        let full = if base.ends_with(path) {
            url.to_owned()
        } else {
            let authority = uri.authority().map_or("", |a| a.as_str());
            format!("http://{authority}{base}{path}")
        };
        let uri = client::check_url(&full).map_err(|e| format!("{flag}: {e}"))?;
        Ok(Sink {
            format,
            uri,
            wake: Arc::new(Notify::new()),
        })
    }
}

/// What to do after one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Taken whole.
    Delivered,
    /// Taken in part; the rest was refused for good (never retried).
    Partial(String),
    /// Refused for good.
    Refused(String),
    /// Try again after this long.
    Retry(Duration, String),
}

/// Backoff without `Retry-After`: 1 s, 2 s, 4 s, ... up to a minute.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(6)).min(MAX_BACKOFF)
}

/// Judges one attempt (`Err`: no answer at all).
pub fn judge(format: Format, answer: &Result<Answer, String>, attempt: u32, now: i64) -> Outcome {
    let answer = match answer {
        Ok(answer) => answer,
        Err(failure) => return Outcome::Retry(backoff(attempt), failure.clone()),
    };
    match answer.status {
        200..=299 => match (format, partial_success(&answer.body)) {
            (Format::Otlp, Some(rejected)) => Outcome::Partial(rejected),
            _ => Outcome::Delivered,
        },
        429 | 502 | 503 | 504 => {
            let asked = answer
                .retry_after
                .as_deref()
                .and_then(|v| runledger::sync::parse_retry_after(v, now))
                .map(|ms| Duration::from_millis(ms.max(0.0) as u64).min(MAX_RETRY_AFTER));
            Outcome::Retry(
                asked.unwrap_or_else(|| backoff(attempt)),
                format!("the consumer answered {}", answer.status),
            )
        }
        status => Outcome::Refused(format!(
            "the consumer answered {status}: {}",
            answer.body.chars().take(500).collect::<String>()
        )),
    }
}

/// The rejected part of an OTLP partial success, if any.
fn partial_success(body: &str) -> Option<String> {
    let parsed: Value = serde_json::from_str(body).ok()?;
    let partial = parsed.get("partialSuccess")?;
    let rejected = match partial.get("rejectedSpans") {
        Some(Value::String(n)) => n.parse::<i64>().unwrap_or(0),
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        _ => 0,
    };
    let message = partial
        .get("errorMessage")
        .and_then(Value::as_str)
        .unwrap_or("");
    (rejected > 0 || !message.is_empty()).then(|| format!("{rejected} spans rejected: {message}"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Sends one request until it gets a final answer.
async fn deliver(sink: &Sink, body: String, items: usize) {
    let name = sink.format.name();
    let mut attempt = 0u32;
    loop {
        let answer = client::post(&sink.uri, "application/json", body.clone()).await;
        match judge(sink.format, &answer, attempt, now_ms()) {
            Outcome::Delivered => {
                tracing::debug!(sink = name, items, "forwarded");
                return;
            }
            Outcome::Partial(why) => {
                tracing::warn!(sink = name, items, %why, "the consumer took part of a request and refused the rest; a partial success is never retried");
                return;
            }
            Outcome::Refused(why) => {
                tracing::error!(sink = name, items, %why, "the consumer refused a request for good; its items are dropped from the outbox");
                return;
            }
            Outcome::Retry(wait, why) => {
                tracing::warn!(sink = name, items, %why, wait_ms = wait.as_millis() as u64, attempt, "cannot forward yet; retrying (nothing leaves the outbox until it is delivered)");
                tokio::time::sleep(wait).await;
                attempt = attempt.saturating_add(1);
            }
        }
    }
}

/// The request bodies for a round of executions.
fn bodies(format: Format, executions: &[Execution]) -> Vec<(String, usize)> {
    match format {
        Format::Otlp => encode_requests("runledger", executions, MAX_OTLP_REQUEST_BYTES)
            .into_iter()
            .map(|r| (r.body, r.execution_ids.len()))
            .collect(),
        Format::OpenLineage => executions
            .iter()
            .flat_map(openlineage::events)
            .map(|event| (event.to_string(), 1))
            .collect(),
    }
}

/// One round: the oldest queued rows, sent and removed. False when the outbox was empty.
async fn round(pool: &AnyPool, sink: &Sink) -> Result<bool, sqlx::Error> {
    let name = sink.format.name();
    let pending = outbox::oldest(pool, name, ROUND).await?;
    if pending.is_empty() {
        return Ok(false);
    }
    let mut handled = Vec::with_capacity(pending.len());
    let mut executions = Vec::with_capacity(pending.len());
    for p in pending {
        let parsed = p.record.as_deref().map(serde_json::from_str::<Execution>);
        match parsed {
            Some(Ok(e)) => {
                handled.push((p.tenant, p.execution_id, e.version));
                executions.push(e);
            }
            Some(Err(e)) => {
                tracing::error!(sink = name, execution = %p.execution_id, error = %e, "a stored record does not decode; not forwarded");
                handled.push((p.tenant, p.execution_id, u64::MAX));
            }
            // Deleted since it was queued: nothing to send.
            None => handled.push((p.tenant, p.execution_id, u64::MAX)),
        }
    }
    for (body, items) in bodies(sink.format, &executions) {
        deliver(sink, body, items).await;
    }
    for (tenant, id, version) in handled {
        outbox::done(pool, name, &tenant, &id, version).await?;
    }
    Ok(true)
}

/// Drains a sink's outbox for as long as the server runs.
pub async fn run(pool: AnyPool, sink: Sink) {
    let name = sink.format.name();
    tracing::info!(sink = name, url = %sink.uri, "forwarding committed batches");
    loop {
        match round(&pool, &sink).await {
            Ok(true) => {}
            Ok(false) => {
                tokio::select! {
                    () = sink.wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            }
            Err(e) => {
                tracing::error!(sink = name, error = %e, "cannot read the forwarding outbox; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>, body: &str) -> Result<Answer, String> {
        Ok(Answer {
            status,
            retry_after: retry_after.map(str::to_owned),
            body: body.into(),
        })
    }

    #[test]
    fn only_the_transient_statuses_are_retried_after_retry_after() {
        for status in [429, 502, 503, 504] {
            let outcome = judge(Format::Otlp, &answer(status, Some("3"), ""), 0, 0);
            assert!(
                matches!(outcome, Outcome::Retry(d, _) if d == Duration::from_secs(3)),
                "{status}: {outcome:?}"
            );
        }
        for status in [400, 401, 403, 404, 413, 500, 501] {
            let outcome = judge(Format::Otlp, &answer(status, Some("3"), "nope"), 0, 0);
            assert!(
                matches!(outcome, Outcome::Refused(_)),
                "{status}: {outcome:?}"
            );
        }
        let down = judge(Format::Otlp, &Err("refused".into()), 3, 0);
        assert_eq!(
            down,
            Outcome::Retry(Duration::from_secs(8), "refused".into())
        );
        let huge = judge(Format::Otlp, &answer(503, Some("999999"), ""), 0, 0);
        assert!(matches!(huge, Outcome::Retry(d, _) if d == MAX_RETRY_AFTER));
    }

    #[test]
    fn a_partial_success_is_final() {
        let body = r#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"too old"}}"#;
        let outcome = judge(Format::Otlp, &answer(200, None, body), 0, 0);
        assert!(
            matches!(&outcome, Outcome::Partial(m) if m.contains("2 spans") && m.contains("too old")),
            "{outcome:?}"
        );
        let empty = r#"{"partialSuccess":{}}"#;
        assert_eq!(
            judge(Format::Otlp, &answer(200, None, empty), 0, 0),
            Outcome::Delivered
        );
        assert_eq!(
            judge(Format::OpenLineage, &answer(201, None, ""), 0, 0),
            Outcome::Delivered
        );
    }

    #[test]
    fn the_endpoint_path_is_appended_once() {
        let otlp = Sink::new(Format::Otlp, "http://127.0.0.1:4318", "/v1/traces").unwrap();
        assert_eq!(otlp.uri.to_string(), "http://127.0.0.1:4318/v1/traces");
        let given = Sink::new(Format::Otlp, "http://h:4318/v1/traces", "/v1/traces").unwrap();
        assert_eq!(given.uri.path(), "/v1/traces");
        let prefixed =
            Sink::new(Format::OpenLineage, "http://h/marquez/", "/api/v1/lineage").unwrap();
        assert_eq!(prefixed.uri.path(), "/marquez/api/v1/lineage");
        let tls = Sink::new(Format::Otlp, "https://h", "/v1/traces").unwrap_err();
        assert!(
            tls.contains("--otlp-endpoint") && tls.contains("https"),
            "{tls}"
        );
        assert!(Sink::new(Format::Otlp, "not a url", "/v1/traces").is_err());
    }
}
