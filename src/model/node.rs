//! Node runs: one step of a workflow execution, each attempt kept.

use serde::{Deserialize, Serialize};

use super::error_info::ErrorInfo;
use super::json::Json;
use super::time::{de_millis, de_opt_millis, Millis};

/// Where a node run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Known but not started.
    Pending,
    /// Started and not finished.
    #[default]
    Running,
    /// Finished as intended.
    Success,
    /// Finished with an error.
    Error,
    /// Not run on purpose.
    Skipped,
    /// Stopped because its execution ended first.
    Cancelled,
}

impl NodeStatus {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Pending => "pending",
            NodeStatus::Running => "running",
            NodeStatus::Success => "success",
            NodeStatus::Error => "error",
            NodeStatus::Skipped => "skipped",
            NodeStatus::Cancelled => "cancelled",
        }
    }

    /// True once the node run can no longer change.
    pub fn is_final(self) -> bool {
        !matches!(self, NodeStatus::Pending | NodeStatus::Running)
    }
}

impl std::fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run of one node. A node retried three times has three `NodeRun`s, attempts 1 to 3.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeRun {
    /// The node's id in its workflow.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The node type (`http`, `sql`, `transform`, ...).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,
    /// 1 for the first run of this node id in the execution, 2 for the next, ...
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// Where it stands.
    #[serde(default)]
    pub status: NodeStatus,
    /// When it started.
    #[serde(deserialize_with = "de_millis")]
    pub started_at: Millis,
    /// When it finished.
    #[serde(
        default,
        deserialize_with = "de_opt_millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_at: Option<Millis>,
    /// How long it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// What went in (redacted, size-limited).
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub input: Json,
    /// What came out (redacted, size-limited).
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub output: Json,
    /// Why it failed, or why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

fn first_attempt() -> u32 {
    1
}
