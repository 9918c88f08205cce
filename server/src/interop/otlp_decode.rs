//! OTLP/HTTP trace requests, JSON or protobuf, decoded into plain spans.
//!
//! JSON follows the OTLP encoding (lowerCamelCase keys, hex ids, integer enums, 64-bit
//! integers as strings or numbers). OTLP asks receivers to ignore fields they do not know
//! (newer SDKs add some); they are not dropped silently: each unknown key is named in the
//! answer's `partialSuccess.errorMessage` warning and in the log.

use std::collections::BTreeMap;

use prost::Message;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::otlp_proto as pb;
use crate::error::AppError;

/// One span, as runledger reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct InSpan {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// The parent's span id, none for a root span.
    pub parent_span_id: Option<String>,
    pub name: String,
    /// `SpanKind` (0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub kind: i32,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attributes: Map<String, Value>,
    /// The resource's attributes (`service.name`, ...).
    pub resource: Map<String, Value>,
    pub events: Vec<InEvent>,
    /// `StatusCode` (0 unset, 1 ok, 2 error).
    pub status_code: i32,
    pub status_message: String,
}

/// One span event (an `exception`, a log line).
#[derive(Clone, Debug, PartialEq)]
pub struct InEvent {
    pub name: String,
    pub time_ns: u64,
    pub attributes: Map<String, Value>,
}

/// A decoded request: its spans, and the unknown JSON keys it carried.
#[derive(Debug, Default)]
pub struct Decoded {
    pub spans: Vec<InSpan>,
    pub unknown_fields: Vec<String>,
}

type Unknown = BTreeMap<String, Value>;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JRequest {
    #[serde(default)]
    resource_spans: Vec<JResourceSpans>,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JResourceSpans {
    #[serde(default)]
    resource: Option<JResource>,
    #[serde(default)]
    scope_spans: Vec<JScopeSpans>,
    #[serde(default)]
    schema_url: Option<String>,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JResource {
    #[serde(default)]
    attributes: Vec<JKeyValue>,
    #[serde(default)]
    dropped_attributes_count: Option<u32>,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JScopeSpans {
    #[serde(default)]
    scope: Option<Value>,
    #[serde(default)]
    spans: Vec<JSpan>,
    #[serde(default)]
    schema_url: Option<String>,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JSpan {
    trace_id: String,
    span_id: String,
    #[serde(default)]
    trace_state: Option<String>,
    #[serde(default)]
    parent_span_id: Option<String>,
    #[serde(default)]
    flags: Option<u32>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: i32,
    start_time_unix_nano: JU64,
    end_time_unix_nano: JU64,
    #[serde(default)]
    attributes: Vec<JKeyValue>,
    #[serde(default)]
    dropped_attributes_count: Option<u32>,
    #[serde(default)]
    events: Vec<JEvent>,
    #[serde(default)]
    dropped_events_count: Option<u32>,
    #[serde(default)]
    links: Vec<Value>,
    #[serde(default)]
    dropped_links_count: Option<u32>,
    #[serde(default)]
    status: Option<JStatus>,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JEvent {
    time_unix_nano: JU64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    attributes: Vec<JKeyValue>,
    #[serde(default)]
    dropped_attributes_count: Option<u32>,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JStatus {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i32,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Deserialize)]
struct JKeyValue {
    key: String,
    #[serde(default)]
    value: Value,
}

/// A 64-bit integer: a decimal string (the OTLP encoding) or a JSON number.
#[derive(Deserialize)]
#[serde(untagged)]
enum JU64 {
    Number(u64),
    Text(String),
}

impl JU64 {
    fn get(&self, field: &str) -> Result<u64, AppError> {
        match self {
            JU64::Number(n) => Ok(*n),
            JU64::Text(t) => t.parse().map_err(|_| {
                AppError::MalformedBody(format!(
                    "`{field}` is not an unsigned 64-bit integer: `{t}`"
                ))
            }),
        }
    }
}

fn note(unknown: &Unknown, at: &str, out: &mut Vec<String>) {
    out.extend(unknown.keys().map(|k| format!("{at}.{k}")));
}

/// An OTLP JSON `AnyValue` as plain JSON (`{"stringValue": "a"}` is `"a"`).
fn any_value(v: &Value) -> Value {
    let Some(o) = v.as_object() else {
        return Value::Null;
    };
    if let Some(s) = o.get("stringValue") {
        return s.clone();
    }
    if let Some(b) = o.get("boolValue") {
        return b.clone();
    }
    if let Some(i) = o.get("intValue") {
        return match i {
            Value::String(t) => t.parse::<i64>().map_or_else(|_| i.clone(), Value::from),
            other => other.clone(),
        };
    }
    if let Some(d) = o.get("doubleValue") {
        return d.clone();
    }
    if let Some(b) = o.get("bytesValue") {
        return b.clone();
    }
    if let Some(a) = o.get("arrayValue") {
        let values = a
            .get("values")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        return Value::Array(values.iter().map(any_value).collect());
    }
    if let Some(kv) = o.get("kvlistValue") {
        let values = kv
            .get("values")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut map = Map::new();
        for item in values {
            if let Some(key) = item.get("key").and_then(Value::as_str) {
                map.insert(
                    key.to_owned(),
                    any_value(item.get("value").unwrap_or(&Value::Null)),
                );
            }
        }
        return Value::Object(map);
    }
    Value::Null
}

fn attributes(list: &[JKeyValue]) -> Map<String, Value> {
    list.iter()
        .map(|kv| (kv.key.clone(), any_value(&kv.value)))
        .collect()
}

fn hex_id(text: &str, digits: usize, field: &str) -> Result<String, AppError> {
    if text.len() != digits || !text.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(AppError::MalformedBody(format!(
            "`{field}` must be {digits} hex digits (OTLP/JSON encodes ids in hex); got `{}`",
            text.chars().take(64).collect::<String>()
        )));
    }
    if text.bytes().all(|c| c == b'0') {
        return Err(AppError::MalformedBody(format!(
            "`{field}` is all zeros, which OTLP calls invalid"
        )));
    }
    Ok(text.to_ascii_lowercase())
}

/// Decodes an OTLP/HTTP JSON body.
pub fn from_json(bytes: &[u8]) -> Result<Decoded, AppError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let request = JRequest::deserialize(&mut deserializer).map_err(|e| {
        let at = runledger::intake::json_path::locate(bytes, &e);
        AppError::MalformedBody(format!(
            "not an OTLP ExportTraceServiceRequest: `{}`: {}",
            at.path, at.message
        ))
    })?;
    deserializer.end().map_err(|e| {
        AppError::MalformedBody(format!(
            "the body has more after its JSON value: {}",
            runledger::intake::json_path::locate(bytes, &e).message
        ))
    })?;
    let mut out = Decoded::default();
    note(&request.unknown, "", &mut out.unknown_fields);
    for (r, rs) in request.resource_spans.iter().enumerate() {
        let at = format!("resourceSpans[{r}]");
        note(&rs.unknown, &at, &mut out.unknown_fields);
        let _ = &rs.schema_url;
        let resource = match &rs.resource {
            Some(res) => {
                note(
                    &res.unknown,
                    &format!("{at}.resource"),
                    &mut out.unknown_fields,
                );
                let _ = res.dropped_attributes_count;
                attributes(&res.attributes)
            }
            None => Map::new(),
        };
        for (s, ss) in rs.scope_spans.iter().enumerate() {
            let at = format!("{at}.scopeSpans[{s}]");
            note(&ss.unknown, &at, &mut out.unknown_fields);
            let _ = (&ss.scope, &ss.schema_url);
            for (i, span) in ss.spans.iter().enumerate() {
                let at = format!("{at}.spans[{i}]");
                note(&span.unknown, &at, &mut out.unknown_fields);
                let _ = (&span.trace_state, span.flags, span.dropped_attributes_count);
                let _ = (
                    span.dropped_events_count,
                    &span.links,
                    span.dropped_links_count,
                );
                let parent = match span.parent_span_id.as_deref() {
                    None | Some("") => None,
                    Some(p) => Some(hex_id(p, 16, &format!("{at}.parentSpanId"))?),
                };
                let mut events = Vec::new();
                for (k, ev) in span.events.iter().enumerate() {
                    note(
                        &ev.unknown,
                        &format!("{at}.events[{k}]"),
                        &mut out.unknown_fields,
                    );
                    let _ = ev.dropped_attributes_count;
                    events.push(InEvent {
                        name: ev.name.clone(),
                        time_ns: ev
                            .time_unix_nano
                            .get(&format!("{at}.events[{k}].timeUnixNano"))?,
                        attributes: attributes(&ev.attributes),
                    });
                }
                if let Some(status) = &span.status {
                    note(
                        &status.unknown,
                        &format!("{at}.status"),
                        &mut out.unknown_fields,
                    );
                }
                out.spans.push(InSpan {
                    trace_id: hex_id(&span.trace_id, 32, &format!("{at}.traceId"))?,
                    span_id: hex_id(&span.span_id, 16, &format!("{at}.spanId"))?,
                    parent_span_id: parent,
                    name: span.name.clone(),
                    kind: span.kind,
                    start_ns: span
                        .start_time_unix_nano
                        .get(&format!("{at}.startTimeUnixNano"))?,
                    end_ns: span
                        .end_time_unix_nano
                        .get(&format!("{at}.endTimeUnixNano"))?,
                    attributes: attributes(&span.attributes),
                    resource: resource.clone(),
                    events,
                    status_code: span.status.as_ref().map_or(0, |s| s.code),
                    status_message: span
                        .status
                        .as_ref()
                        .map_or_else(String::new, |s| s.message.clone()),
                });
            }
        }
    }
    Ok(out)
}

fn pb_value(v: Option<&pb::AnyValue>) -> Value {
    use pb::any_value::Value as V;
    match v.and_then(|v| v.value.as_ref()) {
        None => Value::Null,
        Some(V::StringValue(s)) => Value::from(s.clone()),
        Some(V::BoolValue(b)) => Value::from(*b),
        Some(V::IntValue(i)) => Value::from(*i),
        Some(V::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number)
        }
        Some(V::BytesValue(b)) => {
            Value::from(b.iter().map(|x| format!("{x:02x}")).collect::<String>())
        }
        Some(V::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(|x| pb_value(Some(x))).collect())
        }
        Some(V::KvlistValue(kv)) => Value::Object(pb_attributes(&kv.values)),
    }
}

fn pb_attributes(list: &[pb::KeyValue]) -> Map<String, Value> {
    list.iter()
        .map(|kv| (kv.key.clone(), pb_value(kv.value.as_ref())))
        .collect()
}

fn pb_id(bytes: &[u8], len: usize, field: &str) -> Result<String, AppError> {
    if bytes.len() != len {
        return Err(AppError::MalformedBody(format!(
            "`{field}` must be {len} bytes; got {}",
            bytes.len()
        )));
    }
    hex_id(
        &bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        len * 2,
        field,
    )
}

/// Decodes an OTLP/HTTP protobuf body.
pub fn from_protobuf(bytes: &[u8]) -> Result<Decoded, AppError> {
    let request = pb::ExportTraceServiceRequest::decode(bytes).map_err(|e| {
        AppError::MalformedBody(format!("not a protobuf ExportTraceServiceRequest: {e}"))
    })?;
    let mut out = Decoded::default();
    for (r, rs) in request.resource_spans.iter().enumerate() {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| pb_attributes(&r.attributes))
            .unwrap_or_default();
        for (s, ss) in rs.scope_spans.iter().enumerate() {
            for (i, span) in ss.spans.iter().enumerate() {
                let at = format!("resourceSpans[{r}].scopeSpans[{s}].spans[{i}]");
                let parent = if span.parent_span_id.is_empty() {
                    None
                } else {
                    Some(pb_id(
                        &span.parent_span_id,
                        8,
                        &format!("{at}.parentSpanId"),
                    )?)
                };
                out.spans.push(InSpan {
                    trace_id: pb_id(&span.trace_id, 16, &format!("{at}.traceId"))?,
                    span_id: pb_id(&span.span_id, 8, &format!("{at}.spanId"))?,
                    parent_span_id: parent,
                    name: span.name.clone(),
                    kind: span.kind,
                    start_ns: span.start_time_unix_nano,
                    end_ns: span.end_time_unix_nano,
                    attributes: pb_attributes(&span.attributes),
                    resource: resource.clone(),
                    events: span
                        .events
                        .iter()
                        .map(|e| InEvent {
                            name: e.name.clone(),
                            time_ns: e.time_unix_nano,
                            attributes: pb_attributes(&e.attributes),
                        })
                        .collect(),
                    status_code: span.status.as_ref().map_or(0, |s| s.code),
                    status_message: span
                        .status
                        .as_ref()
                        .map_or_else(String::new, |s| s.message.clone()),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
        "scopeSpans":[{"scope":{"name":"t"},"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
        "name":"root","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":1700000001000000000,
        "attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"l","value":{"arrayValue":{"values":[{"boolValue":true}]}}}],
        "status":{"code":2,"message":"bad"},"futureField":1}]}]}]}"#;

    #[test]
    fn json_spans_decode_and_unknown_keys_are_named() {
        let d = from_json(SPAN.as_bytes()).unwrap();
        let s = &d.spans[0];
        assert_eq!(s.trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(s.end_ns, 1_700_000_001_000_000_000);
        assert_eq!(s.attributes["n"], 42);
        assert_eq!(s.attributes["l"], serde_json::json!([true]));
        assert_eq!(s.resource["service.name"], "svc");
        assert_eq!((s.status_code, s.status_message.as_str()), (2, "bad"));
        assert_eq!(
            d.unknown_fields,
            ["resourceSpans[0].scopeSpans[0].spans[0].futureField"]
        );
    }

    #[test]
    fn bad_ids_and_times_say_where() {
        let short = SPAN.replace("EEE19B7EC3C1B174", "EEE1");
        let err = from_json(short.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("spans[0].spanId") && err.contains("16 hex"),
            "{err}"
        );
        let time = SPAN.replace(r#""1700000000000000000""#, r#""soon""#);
        let err = from_json(time.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("startTimeUnixNano"), "{err}");
        assert!(from_json(b"[]").is_err());
    }

    #[test]
    fn protobuf_round_trips() {
        let request = pb::ExportTraceServiceRequest {
            resource_spans: vec![pb::ResourceSpans {
                resource: None,
                scope_spans: vec![pb::ScopeSpans {
                    spans: vec![pb::Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        parent_span_id: vec![3; 8],
                        name: "child".into(),
                        kind: 1,
                        start_time_unix_nano: 5,
                        end_time_unix_nano: 6,
                        ..pb::Span::default()
                    }],
                }],
            }],
        };
        let d = from_protobuf(&request.encode_to_vec()).unwrap();
        assert_eq!(d.spans[0].trace_id, "01".repeat(16));
        assert_eq!(
            d.spans[0].parent_span_id.as_deref(),
            Some("0303030303030303")
        );
        assert!(from_protobuf(b"\xff\xff").is_err());
    }
}
