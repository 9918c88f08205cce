//! `POST /api/v1/executions`: one query execution in the data API's logging shape
//! (DOMAIN.md C: snake_case, `execution_time` in seconds), mapped onto the stored model.

use runledger::model::time::{de_millis, de_opt_millis, Millis};
use runledger::model::SCHEMA_VERSION;
use runledger::model::{ErrorInfo, Kind, Metadata, QueryInfo, Status};
use runledger::Execution;
use serde::Deserialize;
use serde_json::Value;

use super::decode::decode_body;
use crate::error::AppError;

/// The query execution, as the data API logged it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryExecution {
    execution_id: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    database_type: Option<String>,
    #[serde(default)]
    query_complexity: Option<String>,
    status: Status,
    /// Seconds.
    #[serde(default)]
    execution_time: Option<f64>,
    #[serde(default)]
    total_rows: Option<u64>,
    #[serde(default)]
    returned_rows: Option<u64>,
    #[serde(default)]
    page: Option<u64>,
    #[serde(default)]
    page_size: Option<u64>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(deserialize_with = "de_millis")]
    started_at: Millis,
    #[serde(default, deserialize_with = "de_opt_millis")]
    completed_at: Option<Millis>,
    #[serde(default)]
    connection_params: Value,
    #[serde(default)]
    request_metadata: Value,
    #[serde(default)]
    response_metadata: Value,
}

/// Decodes and maps a body of `POST /api/v1/executions`.
pub fn decode(bytes: &[u8]) -> Result<Execution, AppError> {
    let posted: QueryExecution = decode_body("execution", bytes)?;
    into_execution(posted)
}

fn into_execution(posted: QueryExecution) -> Result<Execution, AppError> {
    let duration_ms = match posted.execution_time {
        Some(s) if !s.is_finite() || s < 0.0 => {
            return Err(AppError::MalformedBody(format!(
                "`execution.execution_time` is invalid: {s} is not a duration in seconds (a finite number, 0 or more)"
            )))
        }
        Some(s) => Some(s * 1000.0),
        None => None,
    };
    let error =
        (posted.error_message.is_some() || posted.error_type.is_some()).then(|| ErrorInfo {
            message: posted.error_message.unwrap_or_default(),
            error_type: posted.error_type,
            ..ErrorInfo::default()
        });
    let query = QueryInfo {
        text: posted.query,
        database_type: posted.database_type,
        complexity: posted.query_complexity,
        total_rows: posted.total_rows,
        returned_rows: posted.returned_rows,
        page: posted.page,
        page_size: posted.page_size,
    };
    Ok(Execution {
        id: posted.execution_id,
        kind: Kind::Query,
        user_id: posted.user_id,
        session_id: posted.conversation_id,
        status: posted.status,
        started_at: posted.started_at,
        completed_at: posted.completed_at,
        duration_ms,
        error,
        query: Some(query),
        metadata: Metadata {
            connection: posted.connection_params,
            request: posted.request_metadata,
            response: posted.response_metadata,
        },
        schema_version: SCHEMA_VERSION,
        ..Execution::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_api_shape_maps_onto_the_stored_model() {
        let body = br#"{
            "execution_id": "q1", "user_id": "u1", "conversation_id": "c1",
            "query": "select 1", "database_type": "kdb", "query_complexity": "simple",
            "status": "timeout", "execution_time": 1.25, "total_rows": 10, "returned_rows": 5,
            "page": 1, "page_size": 5, "error_message": "too slow", "error_type": "Timeout",
            "started_at": "2026-11-01T10:00:00Z", "completed_at": "2026-11-01T10:00:01.250Z",
            "connection_params": {"host": "db", "password": "hunter2"},
            "request_metadata": {"route": "/q"}, "response_metadata": {"cached": false}
        }"#;
        let e = decode(body).unwrap();
        assert_eq!(e.kind, Kind::Query);
        assert_eq!(e.session_id.as_deref(), Some("c1"));
        assert_eq!(e.status, Status::Timeout);
        assert_eq!(e.duration_ms, Some(1250.0));
        let q = e.query.unwrap();
        assert_eq!(q.database_type.as_deref(), Some("kdb"));
        assert_eq!(q.returned_rows, Some(5));
        assert_eq!(e.error.unwrap().error_type.as_deref(), Some("Timeout"));
        assert_eq!(e.metadata.request["route"], "/q");
    }

    #[test]
    fn negative_or_unknown_fields_are_refused_by_name() {
        let base = r#""execution_id":"q","status":"success","started_at":1"#;
        let message = decode(format!(r#"{{{base},"execution_time":-1}}"#).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(message.contains("execution_time"), "{message}");
        let message = decode(format!(r#"{{{base},"databse_type":"pg"}}"#).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("did you mean `database_type`"),
            "{message}"
        );
    }
}
