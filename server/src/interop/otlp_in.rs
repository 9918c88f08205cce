//! `POST /v1/traces`: OTLP/HTTP traces (JSON or protobuf) from any OpenTelemetry SDK, stored
//! as executions: the spans of one trace are one execution (id `otel-<traceId>`), the root
//! span its run, every other span a node run (a span name seen twice is two attempts).
//!
//! SDKs export spans as they end, so a trace often arrives over several requests (children
//! before their root). Each request's spans are merged into what is stored for the trace:
//! node runs are told apart by span id, the root fills in the run once it arrives (until
//! then the execution is `running`). The request is let in as `/v1/ingest`'s are
//! (`ingest_http::admit`) and the merged records go to `ingest::ingest` itself, so the same
//! validation, limits, redaction, tenants, rollups and forwarding apply.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message;
use runledger::model::{ErrorInfo, Json, Kind, NodeRun, NodeStatus, QueryInfo, Status};
use runledger::sync::{ClientInfo, IngestRequest, IngestResponse};
use runledger::Execution;
use serde_json::{json, Map, Value};

use super::otlp_decode::{from_json, from_protobuf, Decoded, InEvent, InSpan};
use super::otlp_proto as pb;
use crate::db;
use crate::error::AppError;
use crate::ingest_http::Admission;
use crate::state::AppState;

/// Serializes the read-merge-write of traces in this process.
static MERGE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The execution id of a trace.
pub fn execution_id(trace_id: &str) -> String {
    format!("otel-{trace_id}")
}

fn millis(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}

fn text_attr<'a>(attrs: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| attrs.get(*k).and_then(Value::as_str))
}

/// The error a span reports: its `exception` event, else its status message.
fn span_error(span: &InSpan) -> Option<ErrorInfo> {
    if span.status_code != 2 {
        return None;
    }
    let exception: Option<&InEvent> = span.events.iter().find(|e| e.name == "exception");
    let attr = |k: &str| {
        exception
            .and_then(|e| e.attributes.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let message = attr("exception.message")
        .or_else(|| (!span.status_message.is_empty()).then(|| span.status_message.clone()))
        .unwrap_or_else(|| "the span ended with status ERROR".into());
    Some(ErrorInfo {
        message,
        error_type: attr("exception.type"),
        stack: attr("exception.stacktrace"),
        node_id: None,
    })
}

const KIND_WORDS: [&str; 6] = [
    "unspecified",
    "internal",
    "server",
    "client",
    "producer",
    "consumer",
];

fn node_run(span: &InSpan) -> NodeRun {
    let start = millis(span.start_ns);
    let end = millis(span.end_ns).max(start);
    let input = json!({
        "otel.span_id": span.span_id,
        "otel.parent_span_id": span.parent_span_id,
        "attributes": span.attributes,
    });
    NodeRun {
        id: if span.name.is_empty() {
            span.span_id.clone()
        } else {
            span.name.clone()
        },
        name: Some(span.name.clone()).filter(|n| !n.is_empty()),
        node_type: Some(
            KIND_WORDS
                .get(span.kind as usize)
                .unwrap_or(&"unspecified")
                .to_string(),
        ),
        attempt: 1,
        status: if span.status_code == 2 {
            NodeStatus::Error
        } else {
            NodeStatus::Success
        },
        started_at: start,
        completed_at: Some(end),
        duration_ms: Some((span.end_ns.saturating_sub(span.start_ns)) as f64 / 1e6),
        input: Json::from_value(&input),
        output: Json::null(),
        error: span_error(span),
    }
}

/// The span id a node run came from (kept in its input).
fn node_span_id(node: &NodeRun) -> Option<String> {
    node.input
        .to_value()
        .get("otel.span_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Sorts node runs by start and numbers the attempts of each name.
fn renumber(e: &mut Execution) {
    // The span id breaks ties, so the order (and the attempts) never depend on arrival.
    e.nodes
        .sort_by_cached_key(|n| (n.started_at, n.id.clone(), node_span_id(n)));
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for node in &mut e.nodes {
        let n = seen.entry(node.id.clone()).or_insert(0);
        *n += 1;
        node.attempt = *n;
    }
    e.refresh_node_summary();
}

/// Fills an execution's run fields from its root span.
fn apply_root(e: &mut Execution, root: &InSpan) {
    let start = millis(root.start_ns);
    let end = millis(root.end_ns).max(start);
    e.started_at = start;
    e.completed_at = Some(end);
    e.duration_ms = Some(root.end_ns.saturating_sub(root.start_ns) as f64 / 1e6);
    e.workflow_name = Some(root.name.clone()).filter(|n| !n.is_empty());
    e.workflow_id = e.workflow_name.clone();
    e.error = span_error(root);
    e.status = if e.error.is_some() {
        Status::Failed
    } else {
        Status::Success
    };
    e.user_id = text_attr(&root.attributes, &["enduser.id", "user.id"]).map(str::to_owned);
    e.session_id = text_attr(&root.attributes, &["session.id"]).map(str::to_owned);
    let db = text_attr(&root.attributes, &["db.system.name", "db.system"]);
    if let Some(db) = db {
        e.kind = Kind::Query;
        e.query = Some(QueryInfo {
            text: text_attr(&root.attributes, &["db.query.text", "db.statement"])
                .map(str::to_owned),
            database_type: Some(db.to_owned()),
            returned_rows: root
                .attributes
                .get("db.response.returned_rows")
                .and_then(Value::as_u64),
            ..QueryInfo::default()
        });
    }
    e.metadata.request =
        json!({ "otel": { "attributes": root.attributes, "resource": root.resource } });
}

/// The executions a request's spans make, by trace, before merging with what is stored.
pub fn executions(spans: Vec<InSpan>) -> Vec<Execution> {
    let mut by_trace: BTreeMap<String, Vec<InSpan>> = BTreeMap::new();
    for span in spans {
        by_trace
            .entry(span.trace_id.clone())
            .or_default()
            .push(span);
    }
    by_trace
        .into_iter()
        .map(|(trace, spans)| {
            let root_at = spans
                .iter()
                .enumerate()
                .filter(|(_, s)| s.parent_span_id.is_none())
                .min_by_key(|(_, s)| s.start_ns)
                .map(|(i, _)| i);
            let service = spans
                .iter()
                .find_map(|s| text_attr(&s.resource, &["service.name"]).map(str::to_owned));
            let mut e = Execution {
                id: execution_id(&trace),
                version: 1,
                status: Status::Running,
                started_at: spans.iter().map(|s| millis(s.start_ns)).min().unwrap_or(0),
                ..Execution::default()
            };
            e.external_ids.insert("otel.trace_id".into(), trace.clone());
            if let Some(service) = service {
                e.external_ids.insert("otel.service".into(), service);
            }
            e.tags.push("otel".into());
            for (i, span) in spans.iter().enumerate() {
                if Some(i) == root_at {
                    apply_root(&mut e, span);
                } else {
                    e.nodes.push(node_run(span));
                }
            }
            renumber(&mut e);
            e
        })
        .collect()
}

/// Merges a request's execution into the stored one; `None` when nothing changes.
pub fn merge(stored: Option<Execution>, fresh: Execution) -> Option<Execution> {
    let Some(stored) = stored else {
        return Some(fresh);
    };
    let mut merged = if fresh.status.is_final() {
        let mut m = fresh.clone();
        m.nodes = stored.nodes.clone();
        m
    } else {
        let mut m = stored.clone();
        m.started_at = m.started_at.min(fresh.started_at);
        m
    };
    let known: std::collections::BTreeSet<String> =
        merged.nodes.iter().filter_map(node_span_id).collect();
    merged.nodes.extend(
        fresh
            .nodes
            .into_iter()
            .filter(|n| node_span_id(n).is_none_or(|id| !known.contains(&id))),
    );
    renumber(&mut merged);
    merged.version = stored.version;
    if merged == stored {
        return None;
    }
    merged.version = stored.version + 1;
    Some(merged)
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Json,
    Protobuf,
}

fn encoding(headers: &HeaderMap) -> Result<Encoding, AppError> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match kind.as_str() {
        "application/json" => Ok(Encoding::Json),
        "application/x-protobuf" => Ok(Encoding::Protobuf),
        other => Err(AppError::BadRequest(format!(
            "Content-Type `{other}` is not OTLP/HTTP: send application/json or application/x-protobuf"
        ))),
    }
}

/// The OTLP answer: `ExportTraceServiceResponse`, in the request's encoding.
fn otlp_answer(encoding: Encoding, rejected_spans: i64, message: String) -> Response {
    let partial =
        (rejected_spans > 0 || !message.is_empty()).then_some(pb::ExportTracePartialSuccess {
            rejected_spans,
            error_message: message,
        });
    match encoding {
        Encoding::Protobuf => {
            let body = pb::ExportTraceServiceResponse {
                partial_success: partial,
            }
            .encode_to_vec();
            ([(header::CONTENT_TYPE, "application/x-protobuf")], body).into_response()
        }
        Encoding::Json => {
            let body = match partial {
                Some(p) => json!({ "partialSuccess": {
                    "rejectedSpans": p.rejected_spans.to_string(),
                    "errorMessage": p.error_message,
                } }),
                None => json!({}),
            };
            (
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
    }
}

/// The batch id of a set of records: the hash of their content, so a replay is one.
fn batch_id(records: &[Execution]) -> String {
    let text = serde_json::to_vec(records).expect("records serialize");
    format!("otlp-{}", &crate::auth::hash_bytes(&text)[..32])
}

/// `POST /v1/traces`.
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let encoding = encoding(&headers)?;
    // Like ingest: on a server without keys, a write from a web page origin not listed by
    // --cors-origin is refused.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let listed = state
            .settings
            .cors_origins
            .iter()
            .any(|o| o.as_bytes() == origin.as_bytes());
        if crate::state::open_server(&state.settings) && !listed {
            let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
            tracing::warn!(%origin, "refused traces from an origin not listed by --cors-origin on a server without keys");
            let body = runledger::sync::ErrorBody {
                error: runledger::sync::ErrorDetail {
                    code: "forbidden_origin".into(),
                    message: format!("writes from the web page origin `{origin}` are refused: this server has no API key, so only origins listed by --cors-origin may write"),
                },
            };
            return Ok((StatusCode::FORBIDDEN, axum::Json(body)).into_response());
        }
    }
    // The key, its rate limit and the body, as for `/v1/ingest`.
    let admitted = match crate::ingest_http::admit(&state, &headers, body).await? {
        Admission::Admitted(admitted) => admitted,
        Admission::Injected(answer) => return Ok(answer),
    };
    let (tenant, bytes) = (admitted.caller.tenant.as_str(), &admitted.bytes);
    let Decoded {
        spans,
        unknown_fields,
    } = match encoding {
        Encoding::Json => from_json(bytes)?,
        Encoding::Protobuf => from_protobuf(bytes)?,
    };
    let mut warning = String::new();
    if !unknown_fields.is_empty() {
        tracing::warn!(fields = ?unknown_fields, "OTLP request with fields this server does not know; ignored as OTLP asks");
        warning = format!("ignored unknown fields: {}", unknown_fields.join(", "));
    }
    let spans_by_trace: BTreeMap<String, i64> = spans.iter().fold(BTreeMap::new(), |mut m, s| {
        *m.entry(execution_id(&s.trace_id)).or_insert(0) += 1;
        m
    });
    // One merge at a time: SDKs send a trace's spans in concurrent requests, and two merges
    // reading the same stored version would each write the next one (the second refused).
    // (Several servers on one PostgreSQL database can still race; the SDK's retry heals it.)
    let _merging = MERGE.lock().await;
    let mut records = Vec::new();
    for mut fresh in executions(spans) {
        // Masked as ingest will mask it, so a replay compares equal to what is stored.
        runledger::intake::redact_with_defaults(&mut fresh);
        let stored = db::execution(&state.pool, tenant, &fresh.id).await?;
        let stored = stored
            .map(|t| serde_json::from_str::<Execution>(&t))
            .transpose()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        if let Some(merged) = merge(stored, fresh) {
            records.push(merged);
        }
    }
    if records.is_empty() {
        return Ok(otlp_answer(encoding, 0, warning));
    }
    let batch = IngestRequest {
        batch_id: batch_id(&records),
        client: ClientInfo {
            id: "otlp".into(),
            sdk: "opentelemetry".into(),
        },
        records,
    };
    let done = crate::ingest::ingest(&state, tenant, batch).await?;
    // A fresh batch counts its refusals; only then (or for a replay) is the answer read.
    let answer: IngestResponse = if done.rejected > 0 || done.replayed {
        serde_json::from_str(&done.response)
            .map_err(|e| AppError::BadRequest(format!("cannot read the ingest answer: {e}")))?
    } else {
        IngestResponse::default()
    };
    let rejected: i64 = answer
        .rejected
        .iter()
        .map(|r| spans_by_trace.get(&r.id).copied().unwrap_or(1))
        .sum();
    let mut message: Vec<String> = answer
        .rejected
        .iter()
        .map(|r| format!("{}: {}", r.id, r.reason))
        .collect();
    if !warning.is_empty() {
        message.push(warning);
    }
    Ok(otlp_answer(encoding, rejected, message.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: Option<&str>, name: &str, start: u64, code: i32) -> InSpan {
        InSpan {
            trace_id: "ab".repeat(16),
            span_id: id.repeat(8),
            parent_span_id: parent.map(|p| p.repeat(8)),
            name: name.into(),
            kind: 1,
            start_ns: start * 1_000_000,
            end_ns: (start + 10) * 1_000_000,
            attributes: Map::new(),
            resource: [("service.name".to_string(), json!("svc"))]
                .into_iter()
                .collect(),
            events: Vec::new(),
            status_code: code,
            status_message: if code == 2 {
                "broke".into()
            } else {
                String::new()
            },
        }
    }

    #[test]
    fn a_trace_is_an_execution_with_node_runs_and_attempts() {
        let t0 = 1_700_000_000_000;
        let all = executions(vec![
            span("01", None, "job", t0, 0),
            span("02", Some("01"), "fetch", t0 + 1, 2),
            span("03", Some("01"), "fetch", t0 + 2, 0),
        ]);
        assert_eq!(all.len(), 1);
        let e = &all[0];
        assert_eq!(e.id, format!("otel-{}", "ab".repeat(16)));
        assert_eq!(
            (e.status, e.started_at, e.completed_at),
            (Status::Success, t0 as i64, Some(t0 as i64 + 10))
        );
        assert_eq!(e.external_ids["otel.service"], "svc");
        let attempts: Vec<(u32, NodeStatus)> =
            e.nodes.iter().map(|n| (n.attempt, n.status)).collect();
        assert_eq!(attempts, [(1, NodeStatus::Error), (2, NodeStatus::Success)]);
        assert_eq!(e.nodes[0].error.as_ref().unwrap().message, "broke");
        runledger::intake::validate_execution(e, 100).unwrap();
    }

    #[test]
    fn children_first_then_the_root_merge_into_one_run() {
        let t0 = 1_700_000_000_000;
        let early = executions(vec![span("02", Some("01"), "step", t0 + 1, 0)]).remove(0);
        assert_eq!(early.status, Status::Running);
        let late = executions(vec![
            span("01", None, "job", t0, 2),
            span("03", Some("01"), "step", t0 + 2, 0),
        ])
        .remove(0);
        let merged = merge(Some(early.clone()), late.clone()).unwrap();
        assert_eq!(merged.status, Status::Failed);
        assert_eq!(merged.version, 2);
        assert_eq!(merged.nodes.len(), 2);
        assert_eq!(merged.nodes[1].attempt, 2);
        // The same request again changes nothing.
        assert_eq!(merge(Some(merged.clone()), late), None);
        assert_eq!(merge(Some(merged), early), None);
    }
}
