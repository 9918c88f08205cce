//! Executions as OpenLineage run events (spec 2-0-2): a `START` and, once finished, a
//! `COMPLETE`, `FAIL` or `ABORT` event per execution, with its outputs (and the inputs the
//! caller named in `metadata.request.inputs`) as datasets; each node run a child run linked
//! by a `parent` facet; `errorMessage` on failure, `sql` for queries, and the runledger
//! specifics (the execution id, external ids) in a custom `runledger` run facet.
//!
//! `run.runId` must be a UUID: an execution id that is one is used as it is, any other id is
//! turned into a stable UUID (version 8) derived from it, so re-sending is idempotent.

use runledger::model::{ErrorInfo, Kind, NodeRun, NodeStatus, Output, Status};
use runledger::Execution;
use serde_json::{json, Map, Value};

/// Where an OpenLineage consumer (Marquez, the HTTP transport) takes events.
pub const LINEAGE_PATH: &str = "/api/v1/lineage";
/// The job namespace of every runledger job.
pub const NAMESPACE: &str = "runledger";
/// Who produced the events.
pub const PRODUCER: &str = concat!(
    "https://example.invalid/runledger/tree/",
    env!("CARGO_PKG_VERSION"),
    "/server"
);
const RUN_EVENT_SCHEMA: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const PARENT_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet";
const ERROR_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
const SQL_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet";
const SCHEMA_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
const OUTPUT_STATS_SCHEMA: &str = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet";
const RUNLEDGER_FACET_SCHEMA: &str =
    "https://example.invalid/runledger/spec/facets/1-0-0/RunledgerRunFacet.json";

/// Formats milliseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn rfc3339(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

fn is_uuid(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The run id of an execution or node run: the id itself when it is a UUID, else a stable
/// version-8 UUID derived from it.
pub fn run_id(id: &str) -> String {
    if is_uuid(id) {
        return id.to_ascii_lowercase();
    }
    let hex = runledger::sync::otlp::trace_id(&format!("openlineage:{id}"));
    let mut h: Vec<char> = hex.chars().collect();
    h[12] = '8';
    h[16] = ['8', '9', 'a', 'b'][h[16].to_digit(16).unwrap_or(0) as usize % 4];
    let h: String = h.into_iter().collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn facet(schema: &str, fields: Value) -> Value {
    let mut facet = Map::new();
    facet.insert("_producer".into(), json!(PRODUCER));
    facet.insert("_schemaURL".into(), json!(schema));
    if let Value::Object(fields) = fields {
        facet.extend(fields);
    }
    Value::Object(facet)
}

/// The job name of an execution: its workflow id, else its name, else its kind.
pub fn job_name(e: &Execution) -> String {
    e.workflow_id
        .clone()
        .or_else(|| e.workflow_name.clone())
        .unwrap_or_else(|| e.kind.as_str().to_owned())
}

fn error_facet(error: &ErrorInfo) -> Value {
    let mut fields = json!({ "message": error.message, "programmingLanguage": "unknown" });
    if let Some(stack) = &error.stack {
        fields["stackTrace"] = json!(stack);
    }
    facet(ERROR_SCHEMA, fields)
}

fn output_dataset(namespace: &str, output: &Output) -> Value {
    let mut facets = Map::new();
    if !output.columns.is_empty() {
        let fields: Vec<Value> = output
            .columns
            .iter()
            .map(|c| match &c.column_type {
                Some(t) => json!({ "name": c.name, "type": t }),
                None => json!({ "name": c.name }),
            })
            .collect();
        facets.insert(
            "schema".into(),
            facet(SCHEMA_SCHEMA, json!({ "fields": fields })),
        );
    }
    let mut output_facets = Map::new();
    if let Some(rows) = output.rows {
        output_facets.insert(
            "outputStatistics".into(),
            facet(OUTPUT_STATS_SCHEMA, json!({ "rowCount": rows })),
        );
    }
    json!({
        "namespace": namespace,
        "name": output.name,
        "facets": facets,
        "outputFacets": output_facets,
    })
}

/// The inputs a caller named in `metadata.request.inputs`: names, or `{namespace, name}`.
fn input_datasets(e: &Execution, namespace: &str) -> Vec<Value> {
    let Some(Value::Array(named)) = e.metadata.request.get("inputs") else {
        return Vec::new();
    };
    named
        .iter()
        .filter_map(|item| match item {
            Value::String(name) => Some(json!({ "namespace": namespace, "name": name })),
            Value::Object(o) => {
                let name = o.get("name")?.as_str()?;
                let ns = o
                    .get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(namespace);
                Some(json!({ "namespace": ns, "name": name }))
            }
            _ => None,
        })
        .collect()
}

/// The dataset namespace: the database type for queries (where their tables live), else
/// runledger's own.
fn dataset_namespace(e: &Execution) -> String {
    e.database_type()
        .map_or_else(|| NAMESPACE.to_owned(), |db| format!("{db}://runledger"))
}

fn terminal(status: Status) -> Option<&'static str> {
    match status {
        Status::Running => None,
        Status::Success => Some("COMPLETE"),
        Status::Cancelled => Some("ABORT"),
        Status::Failed | Status::Error | Status::Timeout | Status::Interrupted => Some("FAIL"),
    }
}

fn node_terminal(status: NodeStatus) -> Option<&'static str> {
    match status {
        NodeStatus::Pending | NodeStatus::Running => None,
        NodeStatus::Success => Some("COMPLETE"),
        NodeStatus::Error => Some("FAIL"),
        NodeStatus::Skipped | NodeStatus::Cancelled => Some("ABORT"),
    }
}

fn event(
    kind: &str,
    at: i64,
    run: Value,
    job: Value,
    inputs: &[Value],
    outputs: &[Value],
) -> Value {
    json!({
        "eventType": kind,
        "eventTime": rfc3339(at),
        "run": run,
        "job": job,
        "inputs": inputs,
        "outputs": outputs,
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA,
    })
}

fn node_events(e: &Execution, node: &NodeRun, occurrence: usize, end: i64) -> Vec<Value> {
    let parent_run = run_id(&e.id);
    let job = job_name(e);
    let node_run = run_id(&format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{occurrence}",
        e.id, node.id, node.attempt
    ));
    let parent = facet(
        PARENT_SCHEMA,
        json!({
            "run": { "runId": parent_run },
            "job": { "namespace": NAMESPACE, "name": job },
            "root": {
                "run": { "runId": parent_run },
                "job": { "namespace": NAMESPACE, "name": job },
            },
        }),
    );
    let custom = facet(
        RUNLEDGER_FACET_SCHEMA,
        json!({ "executionId": e.id, "nodeId": node.id, "attempt": node.attempt }),
    );
    let run = |with_error: bool| {
        let mut facets = json!({ "parent": parent, "runledger": custom });
        if let (true, Some(err)) = (with_error, &node.error) {
            facets["errorMessage"] = error_facet(err);
        }
        json!({ "runId": node_run, "facets": facets })
    };
    let job = json!({ "namespace": NAMESPACE, "name": format!("{job}.{}", node.id) });
    let mut events = vec![event(
        "START",
        node.started_at,
        run(false),
        job.clone(),
        &[],
        &[],
    )];
    if let Some(kind) = node_terminal(node.status) {
        let at = node.completed_at.unwrap_or(end).max(node.started_at);
        events.push(event(
            kind,
            at,
            run(node.status == NodeStatus::Error),
            job,
            &[],
            &[],
        ));
    }
    events
}

/// Every event of an execution, in order: its `START`, its node runs' events, its end.
pub fn events(e: &Execution) -> Vec<Value> {
    let namespace = dataset_namespace(e);
    let inputs = input_datasets(e, &namespace);
    let outputs: Vec<Value> = e
        .outputs
        .iter()
        .map(|o| output_dataset(&namespace, o))
        .collect();
    let mut custom =
        json!({ "executionId": e.id, "kind": e.kind.as_str(), "status": e.status.as_str() });
    if !e.external_ids.is_empty() {
        custom["externalIds"] = json!(e.external_ids);
    }
    for (key, value) in [
        ("userId", &e.user_id),
        ("parentId", &e.parent_id),
        ("planId", &e.plan_id),
    ] {
        if let Some(value) = value {
            custom[key] = json!(value);
        }
    }
    let run = |with_error: bool| {
        let mut facets = json!({ "runledger": facet(RUNLEDGER_FACET_SCHEMA, custom.clone()) });
        if let (true, Some(err)) = (with_error, &e.error) {
            facets["errorMessage"] = error_facet(err);
        }
        json!({ "runId": run_id(&e.id), "facets": facets })
    };
    let mut job_facets = Map::new();
    if e.kind == Kind::Query {
        if let Some(text) = e.query.as_ref().and_then(|q| q.text.as_ref()) {
            let mut sql = json!({ "query": text });
            if let Some(db) = e.database_type() {
                sql["dialect"] = json!(db);
            }
            job_facets.insert("sql".into(), facet(SQL_SCHEMA, sql));
        }
    }
    let job = json!({ "namespace": NAMESPACE, "name": job_name(e), "facets": job_facets });
    let end = e.completed_at.unwrap_or(e.started_at).max(e.started_at);
    let mut all = vec![event(
        "START",
        e.started_at,
        run(false),
        job.clone(),
        &inputs,
        &[],
    )];
    let mut seen: std::collections::BTreeMap<(&str, u32), usize> = Default::default();
    for node in &e.nodes {
        let occurrence = seen.entry((node.id.as_str(), node.attempt)).or_insert(0);
        all.extend(node_events(e, node, *occurrence, end));
        *occurrence += 1;
    }
    if let Some(kind) = terminal(e.status) {
        all.push(event(
            kind,
            end,
            run(kind == "FAIL"),
            job,
            &inputs,
            &outputs,
        ));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use runledger::model::{ErrorInfo, QueryInfo};

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        for ms in [0, 86_399_999, 1_700_000_000_123, 4_102_444_800_000] {
            assert_eq!(
                runledger::model::time::parse_rfc3339(&rfc3339(ms)),
                Some(ms)
            );
        }
    }

    #[test]
    fn run_ids_are_uuids_and_stable() {
        let uuid = "0190d5a3-7b1c-7def-8abc-0123456789ab";
        assert_eq!(run_id(uuid), uuid);
        let derived = run_id("exec-1");
        assert!(is_uuid(&derived), "{derived}");
        assert_eq!(&derived[14..15], "8");
        assert_eq!(derived, run_id("exec-1"));
        assert_ne!(derived, run_id("exec-2"));
    }

    #[test]
    fn a_failed_query_has_start_fail_sql_error_and_parent_links() {
        let e = Execution {
            id: "q-1".into(),
            kind: Kind::Query,
            status: Status::Failed,
            started_at: 1_700_000_000_000,
            completed_at: Some(1_700_000_000_500),
            query: Some(QueryInfo {
                text: Some("SELECT * FROM t".into()),
                database_type: Some("postgres".into()),
                ..QueryInfo::default()
            }),
            error: Some(ErrorInfo {
                message: "relation t does not exist".into(),
                ..ErrorInfo::default()
            }),
            outputs: vec![Output {
                name: "out".into(),
                rows: Some(3),
                ..Output::default()
            }],
            nodes: vec![NodeRun {
                id: "n".into(),
                attempt: 1,
                status: NodeStatus::Success,
                started_at: 1_700_000_000_100,
                ..NodeRun::default()
            }],
            ..Execution::default()
        };
        let all = events(&e);
        let kinds: Vec<&str> = all
            .iter()
            .map(|x| x["eventType"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["START", "START", "COMPLETE", "FAIL"]);
        let last = &all[3];
        assert_eq!(
            last["run"]["facets"]["errorMessage"]["message"],
            "relation t does not exist"
        );
        assert_eq!(last["job"]["facets"]["sql"]["query"], "SELECT * FROM t");
        assert_eq!(
            last["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"],
            3
        );
        assert_eq!(
            all[1]["run"]["facets"]["parent"]["run"]["runId"],
            last["run"]["runId"]
        );
        assert!(all[0]["run"]["facets"].get("errorMessage").is_none());
    }
}
