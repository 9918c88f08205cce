//! Executions as OpenTelemetry traces, in the OTLP/HTTP JSON encoding
//! (`ExportTraceServiceRequest`): the execution is the root span, each node run (each attempt)
//! a child span. Pure logic, shared by the server's forwarder and the client's exporter.
//!
//! The encoding follows the OTLP specification's JSON rules: `traceId`/`spanId` in hex,
//! enums as integers, 64-bit integers as decimal strings, lowerCamelCase keys. Span ids are
//! derived from the execution id (and the node id and attempt), so exporting the same
//! execution again yields the same spans: a backend sees a re-export as the same trace.
//!
//! Only finished executions are exported: a span has one end time, and a running execution
//! has none yet (its finished version is exported when it arrives).

use serde_json::{json, Map, Value};

use crate::model::{ErrorInfo, Execution, Kind, NodeRun, NodeStatus, Status};

/// The largest OTLP request body a sender may make (the specification's default limit of
/// common receivers: 20 MiB).
pub const MAX_OTLP_REQUEST_BYTES: usize = 20 * 1024 * 1024;
/// The longest string attribute (query text, node input and output as JSON), in bytes.
pub const MAX_ATTRIBUTE_BYTES: usize = 4096;
/// The path an OTLP/HTTP receiver takes traces on.
pub const OTLP_TRACES_PATH: &str = "/v1/traces";

/// `Span.SpanKind`: internal (a node run, a workflow).
const SPAN_KIND_INTERNAL: u8 = 1;
/// `Span.SpanKind`: client (a query sent to a database).
const SPAN_KIND_CLIENT: u8 = 3;
/// `Status.StatusCode`.
const STATUS_UNSET: u8 = 0;
const STATUS_OK: u8 = 1;
const STATUS_ERROR: u8 = 2;

/// FNV-1a over `parts` from `seed`: a stable, dependency-free hash for deterministic ids.
fn fnv(seed: u64, parts: &[&str]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for part in parts {
        for b in part.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    // An all-zero id is invalid in OTLP.
    h.max(1)
}

/// The trace id of an execution: 32 hex digits, the same on every export.
pub fn trace_id(execution_id: &str) -> String {
    format!(
        "{:016x}{:016x}",
        fnv(0x7261_6365, &["trace", execution_id]),
        fnv(0x0bad_5eed, &["trace", execution_id])
    )
}

/// The span id of an execution's root span: 16 hex digits.
pub fn root_span_id(execution_id: &str) -> String {
    format!("{:016x}", fnv(0x726f_6f74, &["root", execution_id]))
}

/// The span id of a node run (its `occurrence` tells apart two runs with one id and attempt).
pub fn node_span_id(execution_id: &str, node: &NodeRun, occurrence: usize) -> String {
    let attempt = node.attempt.to_string();
    let occurrence = occurrence.to_string();
    format!(
        "{:016x}",
        fnv(
            0x6e6f_6465,
            &["node", execution_id, &node.id, &attempt, &occurrence]
        )
    )
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
pub fn capped(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let marker = "…[truncated]";
    let mut end = max.saturating_sub(marker.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &text[..end])
}

fn nanos(millis: i64) -> String {
    // Times are bounded (model::time), so this cannot overflow an i128; OTLP wants u64.
    let n = i128::from(millis.max(0)) * 1_000_000;
    u64::try_from(n).unwrap_or(u64::MAX).to_string()
}

fn string_attr(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": capped(value, MAX_ATTRIBUTE_BYTES) } })
}

fn int_attr(key: &str, value: u64) -> Value {
    // 64-bit integers are decimal strings in OTLP JSON.
    json!({ "key": key, "value": { "intValue": value.to_string() } })
}

fn json_attr(key: &str, value: &Value) -> Value {
    let text = serde_json::to_string(value).expect("a JSON value always serializes");
    string_attr(key, &text)
}

fn exception_event(at: i64, error: &ErrorInfo) -> Value {
    let mut attributes = vec![string_attr("exception.message", &error.message)];
    if let Some(kind) = &error.error_type {
        attributes.push(string_attr("exception.type", kind));
    }
    if let Some(stack) = &error.stack {
        attributes.push(string_attr("exception.stacktrace", stack));
    }
    json!({ "timeUnixNano": nanos(at), "name": "exception", "attributes": attributes })
}

fn status(code: u8, message: Option<&str>) -> Value {
    let mut status = Map::new();
    status.insert("code".into(), json!(code));
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        status.insert(
            "message".into(),
            json!(capped(message, MAX_ATTRIBUTE_BYTES)),
        );
    }
    Value::Object(status)
}

fn execution_status(e: &Execution) -> (u8, Option<String>) {
    let message = e.error.as_ref().map(|err| err.message.clone());
    match e.status {
        Status::Success => (STATUS_OK, None),
        Status::Failed | Status::Error | Status::Timeout | Status::Interrupted => (
            STATUS_ERROR,
            Some(message.unwrap_or_else(|| e.status.as_str().to_owned())),
        ),
        Status::Cancelled | Status::Running => (STATUS_UNSET, None),
    }
}

/// The root span's name: the workflow's name, else its id, else the kind.
fn root_name(e: &Execution) -> String {
    e.workflow_name
        .clone()
        .or_else(|| e.workflow_id.clone())
        .unwrap_or_else(|| e.kind.as_str().to_owned())
}

fn root_attributes(e: &Execution) -> Vec<Value> {
    let mut a = vec![
        string_attr("runledger.execution.id", &e.id),
        string_attr("runledger.kind", e.kind.as_str()),
        string_attr("runledger.status", e.status.as_str()),
        int_attr("runledger.version", e.version),
    ];
    let optional = [
        ("runledger.workflow.id", &e.workflow_id),
        ("runledger.workflow.name", &e.workflow_name),
        ("enduser.id", &e.user_id),
        ("session.id", &e.session_id),
        ("runledger.parent.id", &e.parent_id),
        ("runledger.plan.id", &e.plan_id),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            a.push(string_attr(key, value));
        }
    }
    for (system, id) in &e.external_ids {
        a.push(string_attr(&format!("runledger.external_id.{system}"), id));
    }
    if let Some(trigger) = &e.trigger {
        let word = serde_json::to_value(trigger.trigger_type).expect("a trigger type serializes");
        a.push(string_attr(
            "runledger.trigger.type",
            word.as_str().unwrap_or("other"),
        ));
    }
    if !e.tags.is_empty() {
        let tags: Vec<Value> = e
            .tags
            .iter()
            .map(|t| json!({ "stringValue": capped(t, MAX_ATTRIBUTE_BYTES) }))
            .collect();
        a.push(json!({ "key": "runledger.tags", "value": { "arrayValue": { "values": tags } } }));
    }
    if !e.outputs.is_empty() {
        let outputs = serde_json::to_value(&e.outputs).expect("outputs serialize");
        a.push(json_attr("runledger.outputs", &outputs));
    }
    if let Some(q) = &e.query {
        // OpenTelemetry's database semantic conventions (both the stable `db.system.name`
        // and the older `db.system` many backends still read).
        if let Some(db) = &q.database_type {
            a.push(string_attr("db.system.name", db));
            a.push(string_attr("db.system", db));
        }
        if let Some(text) = &q.text {
            a.push(string_attr("db.query.text", text));
        }
        if let Some(rows) = q.returned_rows {
            a.push(int_attr("db.response.returned_rows", rows));
        }
        let counts = [
            ("runledger.query.total_rows", q.total_rows),
            ("runledger.query.page", q.page),
            ("runledger.query.page_size", q.page_size),
        ];
        for (key, value) in counts {
            if let Some(value) = value {
                a.push(int_attr(key, value));
            }
        }
        if let Some(c) = &q.complexity {
            a.push(string_attr("runledger.query.complexity", c));
        }
    }
    if let Some(err) = &e.error {
        if let Some(kind) = &err.error_type {
            a.push(string_attr("error.type", kind));
        }
        if let Some(node) = &err.node_id {
            a.push(string_attr("runledger.error.node_id", node));
        }
    }
    a
}

fn node_span(e: &Execution, node: &NodeRun, occurrence: usize, end_of_run: i64) -> Value {
    let trace = trace_id(&e.id);
    let end = node.completed_at.unwrap_or(end_of_run).max(node.started_at);
    let mut attributes = vec![
        string_attr("runledger.node.id", &node.id),
        int_attr("runledger.node.attempt", u64::from(node.attempt)),
        string_attr("runledger.node.status", node.status.as_str()),
    ];
    if let Some(t) = &node.node_type {
        attributes.push(string_attr("runledger.node.type", t));
    }
    if !node.input.is_null() {
        attributes.push(string_attr("runledger.node.input", node.input.text()));
    }
    if !node.output.is_null() {
        attributes.push(string_attr("runledger.node.output", node.output.text()));
    }
    let (code, message) = match node.status {
        NodeStatus::Error => (
            STATUS_ERROR,
            Some(
                node.error
                    .as_ref()
                    .map_or("error", |err| err.message.as_str()),
            ),
        ),
        NodeStatus::Success => (STATUS_OK, None),
        _ => (STATUS_UNSET, None),
    };
    let events: Vec<Value> = match (&node.error, node.status) {
        (Some(err), NodeStatus::Error) => vec![exception_event(end, err)],
        _ => Vec::new(),
    };
    json!({
        "traceId": trace,
        "spanId": node_span_id(&e.id, node, occurrence),
        "parentSpanId": root_span_id(&e.id),
        "name": node.name.clone().unwrap_or_else(|| node.id.clone()),
        "kind": SPAN_KIND_INTERNAL,
        "startTimeUnixNano": nanos(node.started_at),
        "endTimeUnixNano": nanos(end),
        "attributes": attributes,
        "events": events,
        "status": status(code, message),
    })
}

/// The spans of one finished execution (none while it runs).
pub fn execution_spans(e: &Execution) -> Vec<Value> {
    if !e.status.is_final() {
        return Vec::new();
    }
    let end = e.completed_at.unwrap_or(e.started_at).max(e.started_at);
    let (code, message) = execution_status(e);
    let events: Vec<Value> = match (&e.error, code) {
        (Some(err), STATUS_ERROR) => vec![exception_event(end, err)],
        _ => Vec::new(),
    };
    let kind = if e.kind == Kind::Query {
        SPAN_KIND_CLIENT
    } else {
        SPAN_KIND_INTERNAL
    };
    let mut spans = vec![json!({
        "traceId": trace_id(&e.id),
        "spanId": root_span_id(&e.id),
        "name": root_name(e),
        "kind": kind,
        "startTimeUnixNano": nanos(e.started_at),
        "endTimeUnixNano": nanos(end),
        "attributes": root_attributes(e),
        "events": events,
        "status": status(code, message.as_deref()),
    })];
    let mut seen: std::collections::BTreeMap<(&str, u32), usize> = Default::default();
    for node in &e.nodes {
        let occurrence = seen.entry((node.id.as_str(), node.attempt)).or_insert(0);
        spans.push(node_span(e, node, *occurrence, end));
        *occurrence += 1;
    }
    spans
}

/// One `ExportTraceServiceRequest` holding `spans`, under a resource named `service_name`.
pub fn export_request(service_name: &str, spans: Vec<Value>) -> Value {
    json!({
        "resourceSpans": [{
            "resource": { "attributes": [string_attr("service.name", service_name)] },
            "scopeSpans": [{
                "scope": { "name": "runledger", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            }],
        }],
    })
}

/// One request body to send, with the executions it carries.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpRequest {
    /// The ids of the executions whose spans it holds.
    pub execution_ids: Vec<String>,
    /// The JSON body.
    pub body: String,
}

/// Encodes finished executions into requests of at most `max_bytes` each (an execution's
/// spans are never split across requests; one bigger than `max_bytes` goes alone).
/// Executions still running are left out.
pub fn encode_requests(
    service_name: &str,
    executions: &[Execution],
    max_bytes: usize,
) -> Vec<OtlpRequest> {
    let envelope = export_request(service_name, Vec::new()).to_string().len();
    let mut requests = Vec::new();
    let mut ids = Vec::new();
    let mut spans: Vec<Value> = Vec::new();
    let mut size = envelope;
    for e in executions {
        let mine = execution_spans(e);
        if mine.is_empty() {
            continue;
        }
        // Each span's text plus its separating comma.
        let add: usize = mine.iter().map(|s| s.to_string().len() + 1).sum();
        if !ids.is_empty() && size + add > max_bytes {
            requests.push(OtlpRequest {
                execution_ids: std::mem::take(&mut ids),
                body: export_request(service_name, std::mem::take(&mut spans)).to_string(),
            });
            size = envelope;
        }
        ids.push(e.id.clone());
        spans.extend(mine);
        size += add;
    }
    if !ids.is_empty() {
        requests.push(OtlpRequest {
            execution_ids: ids,
            body: export_request(service_name, spans).to_string(),
        });
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ErrorInfo, QueryInfo};

    fn finished() -> Execution {
        let node = |id: &str, attempt, status| NodeRun {
            id: id.into(),
            attempt,
            status,
            started_at: 1_700_000_000_100,
            completed_at: Some(1_700_000_000_200),
            input: crate::model::Json::from_value(&json!({"rows": 3})),
            error: (status == NodeStatus::Error).then(|| ErrorInfo {
                message: "boom".into(),
                error_type: Some("TypeError".into()),
                ..ErrorInfo::default()
            }),
            ..NodeRun::default()
        };
        Execution {
            id: "exec-1".into(),
            version: 3,
            workflow_name: Some("nightly".into()),
            status: Status::Failed,
            started_at: 1_700_000_000_000,
            completed_at: Some(1_700_000_001_000),
            error: Some(ErrorInfo {
                message: "node load failed".into(),
                ..ErrorInfo::default()
            }),
            nodes: vec![
                node("load", 1, NodeStatus::Error),
                node("load", 2, NodeStatus::Success),
            ],
            ..Execution::default()
        }
    }

    #[test]
    fn ids_are_hex_deterministic_and_distinct() {
        let e = finished();
        let a = execution_spans(&e);
        let b = execution_spans(&e);
        assert_eq!(a, b, "a re-export yields the same spans");
        let trace = a[0]["traceId"].as_str().unwrap();
        assert_eq!(trace.len(), 32);
        assert!(trace.bytes().all(|c| c.is_ascii_hexdigit()));
        let ids: std::collections::BTreeSet<&str> =
            a.iter().map(|s| s["spanId"].as_str().unwrap()).collect();
        assert_eq!(
            ids.len(),
            3,
            "root and two attempts each have their own span"
        );
        assert_ne!(trace_id("exec-1"), trace_id("exec-2"));
    }

    #[test]
    fn failures_are_status_two_with_an_exception_event() {
        let spans = execution_spans(&finished());
        assert_eq!(spans[0]["status"]["code"], 2);
        assert_eq!(spans[0]["events"][0]["name"], "exception");
        assert_eq!(spans[1]["status"]["code"], 2);
        assert_eq!(spans[1]["parentSpanId"], spans[0]["spanId"]);
        let attrs = spans[1]["events"][0]["attributes"].to_string();
        assert!(
            attrs.contains("TypeError") && attrs.contains("boom"),
            "{attrs}"
        );
        assert_eq!(spans[2]["status"]["code"], 1);
        // 64-bit integers and times are decimal strings.
        assert_eq!(spans[0]["startTimeUnixNano"], "1700000000000000000");
        assert!(spans[0]["attributes"]
            .to_string()
            .contains(r#"{"intValue":"3"}"#));
    }

    #[test]
    fn queries_carry_the_database_conventions_and_long_text_is_capped() {
        let e = Execution {
            id: "q".into(),
            kind: Kind::Query,
            status: Status::Success,
            query: Some(QueryInfo {
                text: Some("SELECT 1 -- ".to_owned() + &"é".repeat(5000)),
                database_type: Some("postgresql".into()),
                returned_rows: Some(7),
                ..QueryInfo::default()
            }),
            ..Execution::default()
        };
        let spans = execution_spans(&e);
        assert_eq!(spans[0]["kind"], 3);
        let attrs = spans[0]["attributes"].as_array().unwrap();
        let get = |k: &str| attrs.iter().find(|a| a["key"] == k).map(|a| &a["value"]);
        assert_eq!(get("db.system").unwrap()["stringValue"], "postgresql");
        let text = get("db.query.text").unwrap()["stringValue"]
            .as_str()
            .unwrap();
        assert!(text.len() <= MAX_ATTRIBUTE_BYTES && text.ends_with("[truncated]"));
        assert_eq!(get("db.response.returned_rows").unwrap()["intValue"], "7");
    }

    #[test]
    fn running_executions_are_not_exported_and_requests_respect_the_size_cap() {
        let running = Execution {
            id: "r".into(),
            ..Execution::default()
        };
        assert!(execution_spans(&running).is_empty());
        let many: Vec<Execution> = (0..10)
            .map(|i| Execution {
                id: format!("e{i}"),
                ..finished()
            })
            .chain([running])
            .collect();
        let one = encode_requests("svc", &many, MAX_OTLP_REQUEST_BYTES);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].execution_ids.len(), 10);
        let cap = one[0].body.len() / 3;
        let cut = encode_requests("svc", &many, cap);
        assert!(cut.len() >= 3);
        assert!(
            cut.iter().all(|r| r.body.len() <= cap),
            "every request fits"
        );
        let total: usize = cut.iter().map(|r| r.execution_ids.len()).sum();
        assert_eq!(total, 10, "nothing lost or doubled");
    }
}
