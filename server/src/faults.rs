//! Fault injection for end-to-end tests (`--test-faults` only; never on in production).
//!
//! `POST /v1/__test/faults` programs the next ingest requests:
//! `{"fail": [{"status": 503, "retryAfter": 1, "count": 2}, {"status": 500}], "delayMs": 300}`:
//! the next requests are answered with these statuses in order (each `count` times, with
//! `Retry-After` when given) without touching the database, and every request waits `delayMs`
//! before it commits (0 turns the delay off).
//! `{"panic": true}` makes the next ingest request panic inside its transaction, just before
//! it would commit (to prove a panic is answered 500, rolled back and survived).
//! `GET /v1/__test/stats` → `{requests, maxConcurrent, rows}`: ingest requests received,
//! the most handled at once, and rows in the executions table (`-1` with `?rows=false`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use runledger::sync::{ErrorBody, ErrorDetail};
use serde::Deserialize;

/// A programmed failure.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Failure {
    status: u16,
    #[serde(default)]
    retry_after: Option<u32>,
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

/// The body of `POST /v1/__test/faults`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plan {
    #[serde(default)]
    fail: Vec<Failure>,
    #[serde(default)]
    delay_ms: Option<u64>,
    #[serde(default)]
    panic: bool,
}

/// Programmed faults and request counters.
#[derive(Debug, Default)]
pub struct Faults {
    fail: Mutex<std::collections::VecDeque<Failure>>,
    delay_ms: AtomicUsize,
    panic: AtomicBool,
    requests: AtomicUsize,
    in_flight: AtomicUsize,
    max_concurrent: AtomicUsize,
}

/// Counts a request as in flight until dropped.
pub struct InFlight<'a>(&'a Faults);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Faults {
    /// Applies a plan.
    pub fn program(&self, plan: Plan) {
        *self.fail.lock().expect("fault lock") = plan.fail.into();
        if plan.panic {
            self.panic.store(true, Ordering::SeqCst);
        }
        if let Some(ms) = plan.delay_ms {
            self.delay_ms.store(ms as usize, Ordering::SeqCst);
        }
    }

    /// Counts an ingest request; returns its in-flight guard and the programmed answer, if
    /// the request is to fail.
    pub fn enter(&self) -> (InFlight<'_>, Option<Response>) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_concurrent.fetch_max(now, Ordering::SeqCst);
        let mut fail = self.fail.lock().expect("fault lock");
        let answer = fail.front_mut().map(|f| {
            f.count = f.count.saturating_sub(1);
            failure_response(f)
        });
        if fail.front().is_some_and(|f| f.count == 0) {
            fail.pop_front();
        }
        (InFlight(self), answer)
    }

    /// Panics once if a panic was programmed.
    pub fn panic_if_programmed(&self) {
        if self.panic.swap(false, Ordering::SeqCst) {
            panic!("injected panic (--test-faults)");
        }
    }

    /// The programmed delay before a batch commits.
    pub fn delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.delay_ms.load(Ordering::SeqCst) as u64)
    }

    /// The counters, with the row count the caller read.
    pub fn stats(&self, rows: i64) -> Response {
        Json(serde_json::json!({
            "requests": self.requests.load(Ordering::SeqCst),
            "maxConcurrent": self.max_concurrent.load(Ordering::SeqCst),
            "rows": rows,
        }))
        .into_response()
    }
}

fn failure_response(f: &Failure) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorBody {
        error: ErrorDetail {
            code: "injected".into(),
            message: format!("injected fault: status {}", f.status),
        },
    };
    let mut response = (status, Json(body)).into_response();
    if let Some(seconds) = f.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
