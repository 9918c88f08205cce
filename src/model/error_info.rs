//! Why an execution or a node ended badly: shared by executions and node runs, so that
//! neither module imports the other for it.

use serde::{Deserialize, Serialize};

/// Why an execution or a node ended badly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorInfo {
    /// A message a person can read.
    #[serde(default)]
    pub message: String,
    /// A class or code (`TypeError`, `ECONNRESET`, `timeout`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// The stack trace, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// The node that failed, for an execution's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}
