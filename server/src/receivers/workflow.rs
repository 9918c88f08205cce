//! `POST /api/executions`: one workflow execution in the visual editor's shape (DOMAIN.md E),
//! as its generated code posted it, mapped onto the stored model.

use runledger::model::time::{de_millis, de_opt_millis, Millis};
use runledger::model::SCHEMA_VERSION;
use runledger::model::{ErrorInfo, Json, Kind, NodeRun, NodeStatus, Status, Trigger};
use runledger::Execution;
use serde::Deserialize;

use super::decode::decode_body;
use crate::error::AppError;

/// The execution, as generated code sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WorkflowExecution {
    id: String,
    workflow_id: String,
    #[serde(default)]
    workflow_name: Option<String>,
    status: Status,
    #[serde(deserialize_with = "de_millis")]
    started_at: Millis,
    #[serde(default, deserialize_with = "de_opt_millis")]
    completed_at: Option<Millis>,
    #[serde(default)]
    duration_ms: Option<f64>,
    #[serde(default)]
    trigger: Option<Trigger>,
    #[serde(default)]
    node_executions: Vec<NodeExecution>,
    #[serde(default)]
    error: Option<ErrorInfo>,
}

/// One node's run.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NodeExecution {
    node_id: String,
    #[serde(default)]
    node_name: Option<String>,
    #[serde(default)]
    node_type: Option<String>,
    status: NodeStatus,
    #[serde(deserialize_with = "de_millis")]
    started_at: Millis,
    #[serde(default, deserialize_with = "de_opt_millis")]
    completed_at: Option<Millis>,
    #[serde(default)]
    duration_ms: Option<f64>,
    #[serde(default)]
    input: Json,
    #[serde(default)]
    output: Json,
    #[serde(default)]
    error: Option<ErrorInfo>,
}

/// Decodes and maps a body of `POST /api/executions`.
pub fn decode(bytes: &[u8]) -> Result<Execution, AppError> {
    let posted: WorkflowExecution = decode_body("execution", bytes)?;
    Ok(into_execution(posted))
}

fn into_execution(posted: WorkflowExecution) -> Execution {
    // A node id that runs again in the same execution is its next attempt.
    let mut attempts = std::collections::HashMap::<String, u32>::new();
    let nodes = posted
        .node_executions
        .into_iter()
        .map(|n| {
            let attempt = attempts.entry(n.node_id.clone()).or_insert(0);
            *attempt += 1;
            NodeRun {
                attempt: *attempt,
                id: n.node_id,
                name: n.node_name,
                node_type: n.node_type,
                status: n.status,
                started_at: n.started_at,
                completed_at: n.completed_at,
                duration_ms: n.duration_ms,
                input: n.input,
                output: n.output,
                error: n.error,
            }
        })
        .collect();
    Execution {
        id: posted.id,
        kind: Kind::Workflow,
        workflow_id: Some(posted.workflow_id),
        workflow_name: posted.workflow_name,
        status: posted.status,
        started_at: posted.started_at,
        completed_at: posted.completed_at,
        duration_ms: posted.duration_ms,
        trigger: posted.trigger,
        error: posted.error,
        nodes,
        schema_version: SCHEMA_VERSION,
        ..Execution::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editor_shape_maps_onto_the_stored_model() {
        let body = br#"{
            "id": "e1", "workflowId": "wf", "workflowName": "Nightly", "status": "error",
            "startedAt": "2026-11-01T10:00:00Z", "completedAt": 1793527200500,
            "trigger": {"type": "http", "data": {"path": "/hook"}},
            "nodeExecutions": [
                {"nodeId": "a", "nodeName": "Load", "nodeType": "http", "status": "success",
                 "startedAt": 1793527200000, "completedAt": 1793527200100, "input": {"q": 1},
                 "output": [1, 2]},
                {"nodeId": "b", "status": "error", "startedAt": 1793527200100,
                 "error": {"message": "boom", "stack": "at b"}},
                {"nodeId": "a", "status": "success", "startedAt": 1793527200200}
            ],
            "error": {"message": "boom", "nodeId": "b"}
        }"#;
        let e = decode(body).unwrap();
        assert_eq!(e.id, "e1");
        assert_eq!(e.version, 0, "the server orders it by its lifecycle");
        assert_eq!(e.schema_version, SCHEMA_VERSION);
        assert_eq!(e.workflow_id.as_deref(), Some("wf"));
        assert_eq!(e.status, Status::Error);
        assert_eq!(e.started_at, 1_793_527_200_000);
        assert_eq!(e.nodes.len(), 3);
        assert_eq!(e.nodes[0].name.as_deref(), Some("Load"));
        assert_eq!(e.nodes[0].input.to_value(), serde_json::json!({"q": 1}));
        assert_eq!(
            e.nodes[1].error.as_ref().unwrap().stack.as_deref(),
            Some("at b")
        );
        assert_eq!(e.nodes[2].attempt, 2);
        assert_eq!(e.error.unwrap().node_id.as_deref(), Some("b"));
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let body = br#"{"id":"e","workflowId":"w","status":"running","startedAt":1,"nodeExecutions":[{"nodeId":"a","status":"running","startedAt":1,"inputs":{}}]}"#;
        let message = decode(body).unwrap_err().to_string();
        assert!(message.contains("nodeExecutions[0]"), "{message}");
        assert!(message.contains("unknown field `inputs`"), "{message}");
        assert!(message.contains("did you mean `input`"), "{message}");
    }
}
