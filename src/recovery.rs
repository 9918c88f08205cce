//! Crash recovery: executions left `running` by a tab or process that went away.

use crate::model::{ErrorInfo, Execution, Status};

/// The error type written into interrupted executions.
pub const INTERRUPTED_ERROR_TYPE: &str = "Interrupted";

/// Marks as interrupted every running execution whose owner is not alive, finishing it at the
/// time it was last seen. Returns the changed executions (to be written back).
///
/// `alive(owner)` says whether the tracker instance `owner` still records (another tab or
/// process holding its lock). An execution with no owner is taken as orphaned.
pub fn interrupt_orphans(running: Vec<Execution>, alive: impl Fn(&str) -> bool) -> Vec<Execution> {
    running
        .into_iter()
        .filter(|e| !e.status.is_final())
        .filter(|e| e.owner.as_deref().is_none_or(|owner| !alive(owner)))
        .filter_map(|mut e| {
            let last_seen = e.last_seen_at.unwrap_or(e.started_at).max(e.started_at);
            let error = ErrorInfo {
                message: format!(
                    "the tracker recording this execution stopped (tab closed or process killed) before it finished; last seen at {last_seen}"
                ),
                error_type: Some(INTERRUPTED_ERROR_TYPE.into()),
                ..ErrorInfo::default()
            };
            e.finish(Status::Interrupted, Some(error), last_seen).ok()?;
            Some(e)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(id: &str, owner: Option<&str>) -> Execution {
        Execution {
            id: id.into(),
            started_at: 1_000,
            last_seen_at: Some(1_500),
            owner: owner.map(Into::into),
            version: 3,
            ..Execution::default()
        }
    }

    #[test]
    fn only_executions_of_dead_owners_are_interrupted_at_last_seen() {
        let out = interrupt_orphans(
            vec![
                running("a", Some("dead")),
                running("b", Some("alive")),
                running("c", None),
            ],
            |owner| owner == "alive",
        );
        let ids: Vec<_> = out.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(out[0].status, Status::Interrupted);
        assert_eq!(out[0].completed_at, Some(1_500));
        assert_eq!(out[0].version, 4);
        assert_eq!(
            out[0].error.as_ref().unwrap().error_type.as_deref(),
            Some("Interrupted")
        );
    }
}
