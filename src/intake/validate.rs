//! Validation of records on the way in. A rejected record leaves the store untouched.

use crate::error::ValidationError;
use crate::model::{Execution, NodeRun, Output};

/// Longest id accepted (execution, node, workflow, user ids).
pub const MAX_ID_LEN: usize = 256;
/// Earliest timestamp accepted: 2000-01-01T00:00:00Z. Anything earlier is a unit mistake.
pub const MIN_TIMESTAMP: i64 = 946_684_800_000;
/// Latest timestamp accepted: 2200-01-01T00:00:00Z.
pub const MAX_TIMESTAMP: i64 = 7_258_118_400_000;
/// Most node runs one execution may hold, by default.
pub const DEFAULT_MAX_NODE_RUNS: usize = 10_000;
/// Largest count accepted (`version`, row counts): 2^53 − 1, the largest integer JavaScript
/// holds exactly. Sums of many stay far from overflowing 64 bits.
pub const MAX_COUNT: u64 = (1 << 53) - 1;
/// Longest duration accepted: the span of accepted timestamps (200 years), in ms.
pub const MAX_DURATION_MS: f64 = (MAX_TIMESTAMP - MIN_TIMESTAMP) as f64;

/// Checks an id-like string: present, not too long, no control characters.
pub fn validate_id(field: &str, id: &str) -> Result<(), ValidationError> {
    if id.trim().is_empty() {
        return Err(ValidationError::Missing {
            field: field.to_owned(),
        });
    }
    validate_word(field, Some(id))
}

fn validate_opt_id(field: &str, id: &Option<String>) -> Result<(), ValidationError> {
    id.as_deref().map_or(Ok(()), |id| validate_id(field, id))
}

/// Checks a timestamp is a plausible millisecond value.
pub fn validate_timestamp(field: &str, at: i64) -> Result<(), ValidationError> {
    if !(MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&at) {
        return Err(ValidationError::invalid(
            field,
            format!("{at} is not milliseconds between the years 2000 and 2200 (seconds given instead of milliseconds?)"),
        ));
    }
    Ok(())
}

fn validate_span(
    prefix: &str,
    started_at: i64,
    completed_at: Option<i64>,
    duration: Option<f64>,
) -> Result<(), ValidationError> {
    validate_timestamp(&format!("{prefix}startedAt"), started_at)?;
    if let Some(done) = completed_at {
        validate_timestamp(&format!("{prefix}completedAt"), done)?;
        if done < started_at {
            return Err(ValidationError::invalid(
                format!("{prefix}completedAt"),
                format!("{done} is before startedAt {started_at}"),
            ));
        }
    }
    if let Some(d) = duration {
        if !d.is_finite() || d < 0.0 {
            return Err(ValidationError::invalid(
                format!("{prefix}durationMs"),
                format!("{d} is not a non-negative number of milliseconds"),
            ));
        }
        if d > MAX_DURATION_MS {
            return Err(ValidationError::invalid(
                format!("{prefix}durationMs"),
                format!("{d} ms is longer than the limit of {MAX_DURATION_MS} ms (200 years)"),
            ));
        }
    }
    Ok(())
}

/// Checks a count is at most [`MAX_COUNT`].
pub fn validate_count(field: &str, n: Option<u64>) -> Result<(), ValidationError> {
    match n {
        Some(n) if n > MAX_COUNT => Err(ValidationError::invalid(
            field,
            format!("{n} is larger than the limit of {MAX_COUNT} (2^53 - 1)"),
        )),
        _ => Ok(()),
    }
}

/// Checks a short text stored as it is (a kind, a database type): every store can hold it,
/// which rules out control characters (PostgreSQL refuses NUL in text).
fn validate_word(field: &str, word: Option<&str>) -> Result<(), ValidationError> {
    let Some(word) = word else { return Ok(()) };
    if word.len() > MAX_ID_LEN {
        return Err(ValidationError::TooLarge {
            field: field.to_owned(),
            size: word.len() as u64,
            limit: MAX_ID_LEN as u64,
        });
    }
    if word.chars().any(char::is_control) {
        return Err(ValidationError::invalid(
            field,
            "contains control characters",
        ));
    }
    Ok(())
}

/// Checks one output's shape.
pub fn validate_output(field: &str, output: &Output) -> Result<(), ValidationError> {
    validate_id(&format!("{field}.name"), &output.name)?;
    validate_count(&format!("{field}.rows"), output.rows)?;
    for (i, column) in output.columns.iter().enumerate() {
        if column.name.trim().is_empty() {
            return Err(ValidationError::Missing {
                field: format!("{field}.columns[{i}].name"),
            });
        }
    }
    Ok(())
}

fn validate_node(field: &str, node: &NodeRun) -> Result<(), ValidationError> {
    validate_id(&format!("{field}.id"), &node.id)?;
    if node.attempt == 0 {
        return Err(ValidationError::invalid(
            format!("{field}.attempt"),
            "attempts count from 1",
        ));
    }
    if let Some(error) = &node.error {
        validate_opt_id(&format!("{field}.error.nodeId"), &error.node_id)?;
    }
    validate_span(
        &format!("{field}."),
        node.started_at,
        node.completed_at,
        node.duration_ms,
    )
}

/// Checks a whole execution before it is stored.
pub fn validate_execution(e: &Execution, max_node_runs: usize) -> Result<(), ValidationError> {
    validate_id("id", &e.id)?;
    validate_opt_id("workflowId", &e.workflow_id)?;
    validate_opt_id("userId", &e.user_id)?;
    validate_opt_id("sessionId", &e.session_id)?;
    validate_opt_id("parentId", &e.parent_id)?;
    validate_opt_id("planId", &e.plan_id)?;
    if e.kind.as_str().trim().is_empty() {
        return Err(ValidationError::Missing {
            field: "kind".into(),
        });
    }
    validate_word("kind", Some(e.kind.as_str()))?;
    validate_count("version", Some(e.version))?;
    if let Some(q) = &e.query {
        validate_word("query.databaseType", q.database_type.as_deref())?;
        validate_count("query.totalRows", q.total_rows)?;
        validate_count("query.returnedRows", q.returned_rows)?;
    }
    for (system, id) in &e.external_ids {
        validate_id("externalIds (system name)", system)?;
        validate_id(&format!("externalIds.{system}"), id)?;
    }
    validate_span("", e.started_at, e.completed_at, e.duration_ms)?;
    if let Some(error) = &e.error {
        validate_opt_id("error.nodeId", &error.node_id)?;
    }
    if e.status.is_final() && e.completed_at.is_none() {
        return Err(ValidationError::Missing {
            field: "completedAt".into(),
        });
    }
    for (i, output) in e.outputs.iter().enumerate() {
        validate_output(&format!("outputs[{i}]"), output)?;
    }
    if e.nodes.len() > max_node_runs {
        return Err(ValidationError::TooLarge {
            field: "nodes".into(),
            size: e.nodes.len() as u64,
            limit: max_node_runs as u64,
        });
    }
    for (i, node) in e.nodes.iter().enumerate() {
        validate_node(&format!("nodes[{i}]"), node)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Column, Status};

    fn valid() -> Execution {
        Execution {
            id: "e".into(),
            started_at: 1_700_000_000_000,
            ..Execution::default()
        }
    }

    #[test]
    fn accepts_a_minimal_ad_hoc_run() {
        assert_eq!(validate_execution(&valid(), 10), Ok(()));
    }

    #[test]
    fn errors_name_the_field() {
        let mut e = valid();
        e.outputs.push(Output {
            name: "t".into(),
            columns: vec![Column::default()],
            ..Output::default()
        });
        let err = validate_execution(&e, 10).unwrap_err();
        assert_eq!(err.field(), "outputs[0].columns[0].name");

        let mut e = valid();
        e.started_at = 1_700_000_000; // seconds, not milliseconds
        assert_eq!(validate_execution(&e, 10).unwrap_err().field(), "startedAt");

        let mut e = valid();
        e.completed_at = Some(e.started_at - 1);
        assert_eq!(
            validate_execution(&e, 10).unwrap_err().field(),
            "completedAt"
        );

        let mut e = valid();
        e.status = Status::Success;
        assert_eq!(
            validate_execution(&e, 10).unwrap_err(),
            ValidationError::Missing {
                field: "completedAt".into()
            }
        );

        let mut e = valid();
        e.id = "x".repeat(MAX_ID_LEN + 1);
        assert!(matches!(
            validate_execution(&e, 10),
            Err(ValidationError::TooLarge { .. })
        ));
    }

    #[test]
    fn counts_and_durations_beyond_the_limits_are_rejected() {
        let query = |q: crate::model::QueryInfo| Execution {
            query: Some(q),
            ..valid()
        };
        let e = query(crate::model::QueryInfo {
            total_rows: Some(u64::MAX),
            ..Default::default()
        });
        assert_eq!(
            validate_execution(&e, 10).unwrap_err().field(),
            "query.totalRows"
        );
        let e = query(crate::model::QueryInfo {
            total_rows: Some(MAX_COUNT),
            database_type: Some("pg\0".into()),
            ..Default::default()
        });
        assert_eq!(
            validate_execution(&e, 10).unwrap_err().field(),
            "query.databaseType"
        );
        let mut e = valid();
        e.duration_ms = Some(1e308);
        assert_eq!(
            validate_execution(&e, 10).unwrap_err().field(),
            "durationMs"
        );
        e.duration_ms = Some(MAX_DURATION_MS);
        e.version = MAX_COUNT + 1;
        assert_eq!(validate_execution(&e, 10).unwrap_err().field(), "version");
        e.version = MAX_COUNT;
        assert_eq!(validate_execution(&e, 10), Ok(()));
    }

    #[test]
    fn too_many_node_runs_are_rejected() {
        let mut e = valid();
        e.nodes = (0..3)
            .map(|i| NodeRun {
                id: format!("n{i}"),
                attempt: 1,
                started_at: e.started_at,
                ..NodeRun::default()
            })
            .collect();
        assert!(validate_execution(&e, 3).is_ok());
        assert!(matches!(
            validate_execution(&e, 2),
            Err(ValidationError::TooLarge {
                size: 3,
                limit: 2,
                ..
            })
        ));
    }
}
