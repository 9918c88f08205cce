//! The execution lifecycle: `running` → one final status, once; node runs inside it.

use super::error_info::ErrorInfo;
use super::execution::{Execution, Status};
use super::json::Json;
use super::node::{NodeRun, NodeStatus};
use super::time::Millis;
use crate::error::LifecycleError;

/// Identifies a node to start.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeDef {
    /// The node's id in its workflow.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The node type.
    #[serde(rename = "type", default)]
    pub node_type: Option<String>,
}

/// How a node run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeOutcome {
    /// It produced this output.
    Success(Json),
    /// It failed with this error.
    Error(ErrorInfo),
    /// It was skipped, for this reason.
    Skipped(Option<String>),
}

impl NodeOutcome {
    fn status(&self) -> NodeStatus {
        match self {
            NodeOutcome::Success(_) => NodeStatus::Success,
            NodeOutcome::Error(_) => NodeStatus::Error,
            NodeOutcome::Skipped(_) => NodeStatus::Skipped,
        }
    }

    /// The verb of the recording call (`succeed`, `fail`, `skip`), for error messages.
    pub fn event(&self) -> &'static str {
        match self {
            NodeOutcome::Success(_) => "succeed",
            NodeOutcome::Error(_) => "fail",
            NodeOutcome::Skipped(_) => "skip",
        }
    }
}

fn elapsed(from: Millis, to: Millis) -> f64 {
    (to - from).max(0) as f64
}

impl Execution {
    fn bump(&mut self) {
        self.version += 1;
    }

    fn ensure_running(&self, node_id: &str, event: &'static str) -> Result<(), LifecycleError> {
        if self.status.is_final() {
            return Err(LifecycleError::NodeAfterEnd {
                id: self.id.clone(),
                node_id: node_id.to_owned(),
                event,
                status: self.status,
            });
        }
        Ok(())
    }

    /// Starts a run of a node and returns its index in `nodes`.
    ///
    /// A node id that ran before in this execution gets the next attempt number. This counts
    /// the earlier runs; a caller recording many nodes keeps the counts itself and calls
    /// [`Execution::start_node_attempt`] (the recorder does), so that each node costs the same.
    pub fn start_node(
        &mut self,
        def: NodeDef,
        input: Json,
        at: Millis,
    ) -> Result<usize, LifecycleError> {
        let attempt = 1 + self.nodes.iter().filter(|n| n.id == def.id).count() as u32;
        self.start_node_attempt(def, input, at, attempt)
    }

    /// Starts attempt `attempt` of a node; returns its index in `nodes`. Constant work: the
    /// node summary (`nodeCount`, `failedNodes`) is updated, not recomputed.
    pub fn start_node_attempt(
        &mut self,
        def: NodeDef,
        input: Json,
        at: Millis,
        attempt: u32,
    ) -> Result<usize, LifecycleError> {
        self.ensure_running(&def.id, "start")?;
        // Its latest run is now this running one, so it is no longer a failed node.
        self.note_last_run(&def.id, NodeStatus::Running);
        self.node_count = self.nodes.len() as u32 + 1;
        self.nodes.push(NodeRun {
            id: def.id,
            name: def.name,
            node_type: def.node_type,
            attempt,
            status: NodeStatus::Running,
            started_at: at,
            input,
            ..NodeRun::default()
        });
        self.bump();
        Ok(self.nodes.len() - 1)
    }

    /// Keeps `failedNodes` (sorted, as [`Execution::refresh_node_summary`] makes it) in step
    /// with the status of a node's latest run.
    fn note_last_run(&mut self, node_id: &str, status: NodeStatus) {
        let at = self
            .failed_nodes
            .binary_search_by(|n| n.as_str().cmp(node_id));
        match (at, status == NodeStatus::Error) {
            (Err(i), true) => self.failed_nodes.insert(i, node_id.to_owned()),
            (Ok(i), false) => {
                self.failed_nodes.remove(i);
            }
            _ => {}
        }
    }

    /// Ends the node run at `index` with `outcome`.
    pub fn finish_node(
        &mut self,
        index: usize,
        outcome: NodeOutcome,
        at: Millis,
    ) -> Result<(), LifecycleError> {
        let is_latest = self.nodes.get(index).is_some_and(|node| {
            !self.nodes[index + 1..]
                .iter()
                .any(|later| later.id == node.id)
        });
        self.finish_node_run(index, outcome, at, is_latest)
    }

    /// Ends the node run at `index` with `outcome`; `is_latest` says whether it is its node's
    /// latest run (whose status decides `failedNodes`). Constant work.
    pub fn finish_node_run(
        &mut self,
        index: usize,
        outcome: NodeOutcome,
        at: Millis,
        is_latest: bool,
    ) -> Result<(), LifecycleError> {
        let node_id = self
            .nodes
            .get(index)
            .map(|n| n.id.clone())
            .unwrap_or_default();
        self.ensure_running(&node_id, outcome.event())?;
        let id = self.id.clone();
        let node = self
            .nodes
            .get_mut(index)
            .ok_or_else(|| LifecycleError::UnknownExecution { id: id.clone() })?;
        if node.status.is_final() {
            return Err(LifecycleError::NodeAlreadyFinished {
                id,
                node_id,
                attempt: node.attempt,
                from: node.status,
                to: outcome.status(),
            });
        }
        node.status = outcome.status();
        node.completed_at = Some(at);
        node.duration_ms = Some(elapsed(node.started_at, at));
        match outcome {
            NodeOutcome::Success(output) => node.output = output,
            NodeOutcome::Error(error) => node.error = Some(error),
            NodeOutcome::Skipped(reason) => {
                node.error = reason.map(|message| ErrorInfo {
                    message,
                    error_type: Some("skipped".into()),
                    ..ErrorInfo::default()
                })
            }
        }
        let status = node.status;
        if is_latest {
            self.note_last_run(&node_id, status);
        }
        self.bump();
        Ok(())
    }

    /// Moves a running execution to its final `status`.
    ///
    /// Node runs still running are marked cancelled: they can no longer report. A failure
    /// without an explicit node id names the last node that failed.
    pub fn finish(
        &mut self,
        status: Status,
        error: Option<ErrorInfo>,
        at: Millis,
    ) -> Result<(), LifecycleError> {
        if self.status.is_final() {
            return Err(LifecycleError::AlreadyFinished {
                id: self.id.clone(),
                from: self.status,
                to: status,
            });
        }
        if !status.is_final() {
            return Err(LifecycleError::CannotReopen {
                id: self.id.clone(),
                from: self.status,
            });
        }
        for node in self.nodes.iter_mut().filter(|n| !n.status.is_final()) {
            node.status = NodeStatus::Cancelled;
            node.completed_at = Some(at);
            node.duration_ms = Some(elapsed(node.started_at, at));
        }
        let mut error = error;
        if let Some(err) = error.as_mut() {
            if err.node_id.is_none() {
                err.node_id = self
                    .nodes
                    .iter()
                    .rev()
                    .find(|n| n.status == NodeStatus::Error)
                    .map(|n| n.id.clone());
            }
        }
        self.status = status;
        self.error = error;
        self.completed_at = Some(at);
        self.duration_ms = Some(elapsed(self.started_at, at));
        self.refresh_node_summary();
        self.bump();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn running() -> Execution {
        Execution {
            id: "e1".into(),
            started_at: 1_000,
            version: 1,
            ..Execution::default()
        }
    }

    fn def(id: &str) -> NodeDef {
        NodeDef {
            id: id.into(),
            ..NodeDef::default()
        }
    }

    #[test]
    fn success_sets_completion_duration_and_bumps_version() {
        let mut e = running();
        e.finish(Status::Success, None, 1_250).unwrap();
        assert_eq!(e.status, Status::Success);
        assert_eq!(e.completed_at, Some(1_250));
        assert_eq!(e.duration_ms, Some(250.0));
        assert_eq!(e.version, 2);
    }

    #[test]
    fn finished_execution_cannot_finish_again_and_error_names_transition() {
        let mut e = running();
        e.finish(Status::Success, None, 2_000).unwrap();
        let err = e.finish(Status::Failed, None, 3_000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "execution e1 cannot go from success to failed: it has already finished"
        );
        assert_eq!(e.status, Status::Success);
        assert_eq!(e.completed_at, Some(2_000));
    }

    #[test]
    fn running_is_not_a_target() {
        let mut e = running();
        assert!(matches!(
            e.finish(Status::Running, None, 2_000),
            Err(LifecycleError::CannotReopen { .. })
        ));
    }

    #[test]
    fn node_events_after_end_are_rejected() {
        let mut e = running();
        let n = e
            .start_node(def("n1"), json!({"a": 1}).into(), 1_010)
            .unwrap();
        e.finish(Status::Timeout, None, 2_000).unwrap();
        let err = e
            .finish_node(n, NodeOutcome::Success(json!(1).into()), 2_001)
            .unwrap_err();
        assert!(matches!(
            err,
            LifecycleError::NodeAfterEnd {
                event: "succeed",
                ..
            }
        ));
        assert!(e.start_node(def("n2"), Json::null(), 2_002).is_err());
        // The node that was still running when the execution ended was cancelled.
        assert_eq!(e.nodes[0].status, NodeStatus::Cancelled);
    }

    #[test]
    fn retries_keep_every_attempt_in_order() {
        let mut e = running();
        let a = e.start_node(def("fetch"), json!(1).into(), 1_001).unwrap();
        e.finish_node(
            a,
            NodeOutcome::Error(ErrorInfo {
                message: "503".into(),
                ..Default::default()
            }),
            1_002,
        )
        .unwrap();
        let b = e.start_node(def("fetch"), json!(2).into(), 1_003).unwrap();
        e.finish_node(b, NodeOutcome::Success(json!("ok").into()), 1_009)
            .unwrap();
        assert_eq!(e.nodes.len(), 2);
        assert_eq!(
            (e.nodes[0].attempt, e.nodes[0].status),
            (1, NodeStatus::Error)
        );
        assert_eq!(
            (e.nodes[1].attempt, e.nodes[1].status),
            (2, NodeStatus::Success)
        );
        assert_eq!(e.nodes[1].duration_ms, Some(6.0));
        // The last run of `fetch` succeeded, so it is not listed as failed.
        assert!(e.failed_nodes.is_empty());
    }

    #[test]
    fn node_cannot_finish_twice() {
        let mut e = running();
        let n = e.start_node(def("n"), Json::null(), 1_001).unwrap();
        e.finish_node(n, NodeOutcome::Skipped(Some("disabled".into())), 1_002)
            .unwrap();
        let err = e
            .finish_node(n, NodeOutcome::Success(Json::null()), 1_003)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot go from skipped to success"),
            "{err}"
        );
    }

    #[test]
    fn failure_names_the_failing_node() {
        let mut e = running();
        let n = e.start_node(def("load"), Json::null(), 1_001).unwrap();
        e.finish_node(
            n,
            NodeOutcome::Error(ErrorInfo {
                message: "boom".into(),
                ..Default::default()
            }),
            1_002,
        )
        .unwrap();
        e.finish(
            Status::Failed,
            Some(ErrorInfo {
                message: "load failed".into(),
                ..Default::default()
            }),
            1_003,
        )
        .unwrap();
        assert_eq!(e.error.unwrap().node_id.as_deref(), Some("load"));
        assert_eq!(e.failed_nodes, vec!["load".to_owned()]);
    }
}
