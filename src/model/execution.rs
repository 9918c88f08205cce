//! The execution record: what ran, with what, for whom, how long, and how it ended.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error_info::ErrorInfo;
use super::node::NodeRun;
use super::time::{de_millis, de_opt_millis, Millis};

/// The record layout version this library writes. Older versions still decode.
pub const SCHEMA_VERSION: u32 = 1;

/// What kind of thing ran. Callers may use a word of their own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(from = "String", into = "String")]
pub enum Kind {
    /// A workflow run with node-level detail.
    #[default]
    Workflow,
    /// One query against a database.
    Query,
    /// A data pipeline run.
    Pipeline,
    /// One step of something larger.
    Step,
    /// A caller's own word.
    Other(String),
}

impl From<String> for Kind {
    fn from(word: String) -> Self {
        Kind::named(&word).unwrap_or(Kind::Other(word))
    }
}

impl From<Kind> for String {
    fn from(kind: Kind) -> Self {
        kind.as_str().to_owned()
    }
}

impl Kind {
    /// The kind a built-in word names (`None` for a caller's own word).
    pub fn named(word: &str) -> Option<Kind> {
        match word {
            "workflow" => Some(Kind::Workflow),
            "query" => Some(Kind::Query),
            "pipeline" => Some(Kind::Pipeline),
            "step" => Some(Kind::Step),
            _ => None,
        }
    }

    /// The word stored for this kind.
    pub fn as_str(&self) -> &str {
        match self {
            Kind::Workflow => "workflow",
            Kind::Query => "query",
            Kind::Pipeline => "pipeline",
            Kind::Step => "step",
            Kind::Other(word) => word,
        }
    }
}

/// Where an execution stands. `Running` is the only state that is not final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Started and not finished yet.
    #[default]
    Running,
    /// Finished as intended.
    Success,
    /// Finished because the work itself failed (a node failed, a query was rejected).
    Failed,
    /// Finished because of an unexpected error in the machinery around the work.
    Error,
    /// Gave up after running out of time.
    Timeout,
    /// Stopped on purpose before it finished.
    Cancelled,
    /// The tab or process recording it went away before it finished.
    Interrupted,
}

impl Status {
    /// Every status, in a stable order.
    pub const ALL: [Status; 7] = [
        Status::Running,
        Status::Success,
        Status::Failed,
        Status::Error,
        Status::Timeout,
        Status::Cancelled,
        Status::Interrupted,
    ];

    /// The stored word for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Success => "success",
            Status::Failed => "failed",
            Status::Error => "error",
            Status::Timeout => "timeout",
            Status::Cancelled => "cancelled",
            Status::Interrupted => "interrupted",
        }
    }

    /// Parses a stored word.
    pub fn parse(word: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// True for every status except `Running`.
    pub fn is_final(self) -> bool {
        self != Status::Running
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What started an execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TriggerType {
    /// A person pressed run.
    #[default]
    Manual,
    /// An incoming HTTP request.
    Http,
    /// A schedule.
    Scheduled,
    /// A programmatic API call.
    Api,
    /// Anything else.
    Other,
}

/// The trigger of an execution and the data it carried.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Trigger {
    /// What kind of trigger.
    #[serde(rename = "type", default)]
    pub trigger_type: TriggerType,
    /// The trigger's payload (redacted and size-limited like node inputs).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

/// The query-specific part of a query execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryInfo {
    /// The query text, stored as it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The database engine (`postgres`, `duckdb`, `kdb`, `starburst`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_type: Option<String>,
    /// A caller-defined complexity class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complexity: Option<String>,
    /// Rows the query produced in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_rows: Option<u64>,
    /// Rows returned to the caller (one page of the total).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned_rows: Option<u64>,
    /// The page returned, when paged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// The page size, when paged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u64>,
}

/// What an output is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// A table of rows.
    #[default]
    Table,
    /// A file.
    File,
    /// A trained model.
    Model,
    /// Anything else.
    Other,
}

/// The role an output plays. Explicit, so nobody has to guess from the order of outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OutputRole {
    /// The main result of the execution.
    Primary,
    /// A by-product.
    #[default]
    Auxiliary,
}

/// One column of a table output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Column {
    /// The column name.
    pub name: String,
    /// The column's type, in the producer's words.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub column_type: Option<String>,
}

/// Something an execution produced (lineage starts here).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Output {
    /// The output's name (a table name, a file path).
    pub name: String,
    /// What it is.
    #[serde(default)]
    pub kind: OutputKind,
    /// Row count, for tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Columns, for tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Column>,
    /// Primary or auxiliary.
    #[serde(default)]
    pub role: OutputRole,
}

/// Free-form context around an execution. Redacted and size-limited before storage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Connection parameters (passwords are redacted).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub connection: Value,
    /// What was asked.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub request: Value,
    /// What came back.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub response: Value,
}

impl Metadata {
    /// The three values with their field names, for walking them.
    pub fn values_mut(&mut self) -> [(&'static str, &mut Value); 3] {
        [
            ("metadata.connection", &mut self.connection),
            ("metadata.request", &mut self.request),
            ("metadata.response", &mut self.response),
        ]
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One execution: a workflow run, a query, a pipeline step, or anything a caller tracks.
///
/// Field names in JSON (and in JS) are camelCase. Everything but `id`, `status` and
/// `startedAt` is optional; an ad-hoc run with no workflow, plan or parent is recorded like
/// any other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    /// Unique id. Generated ids are UUIDv7 strings, which sort by creation time.
    #[serde(default)]
    pub id: String,
    /// The record layout version it was written with.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// Grows by one with every change to the record; the newest version wins everywhere.
    #[serde(default)]
    pub version: u64,
    /// What ran.
    #[serde(default)]
    pub kind: Kind,
    /// The workflow or pipeline this is a run of.
    #[serde(default, alias = "pipelineId", skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// Its display name.
    #[serde(
        default,
        alias = "pipelineName",
        skip_serializing_if = "Option::is_none"
    )]
    pub workflow_name: Option<String>,
    /// Who ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The conversation or editor session it belongs to.
    #[serde(
        default,
        alias = "conversationId",
        skip_serializing_if = "Option::is_none"
    )]
    pub session_id: Option<String>,
    /// The execution this one ran inside of, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The plan it carried out, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    /// Ids other systems gave this run, by system name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_ids: BTreeMap<String, String>,
    /// What started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// Where it stands.
    #[serde(default)]
    pub status: Status,
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
    /// `completedAt - startedAt`, unless the caller measured it better.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// Why it ended badly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// Query details, for query executions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<QueryInfo>,
    /// What it produced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Output>,
    /// Connection, request and response context.
    #[serde(default)]
    pub metadata: Metadata,
    /// Free labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Node runs in the order they started; a node that ran twice appears twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeRun>,
    /// How many node runs the execution has (kept when `nodes` is left out of a summary).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub node_count: u32,
    /// Ids of nodes whose last run ended in error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_nodes: Vec<String>,
    /// When the recording tracker last wrote this record.
    #[serde(
        default,
        deserialize_with = "de_opt_millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_seen_at: Option<Millis>,
    /// The tracker instance recording it while it runs (used by crash recovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

fn default_schema_version() -> u32 {
    SCHEMA_VERSION
}

impl Execution {
    /// Recomputes `nodeCount` and `failedNodes` from `nodes`.
    pub fn refresh_node_summary(&mut self) {
        self.node_count = self.nodes.len() as u32;
        let mut last_status: BTreeMap<&str, super::node::NodeStatus> = BTreeMap::new();
        for node in &self.nodes {
            last_status.insert(&node.id, node.status);
        }
        self.failed_nodes = last_status
            .into_iter()
            .filter(|(_, status)| *status == super::node::NodeStatus::Error)
            .map(|(id, _)| id.to_owned())
            .collect();
    }

    /// The execution without its node payloads: what history lists show.
    pub fn summary(&self) -> Execution {
        // Field by field, so the node payloads are never copied (and a new field cannot be
        // forgotten: the pattern is exhaustive).
        let Execution {
            id,
            schema_version,
            version,
            kind,
            workflow_id,
            workflow_name,
            user_id,
            session_id,
            parent_id,
            plan_id,
            external_ids,
            trigger,
            status,
            started_at,
            completed_at,
            duration_ms,
            error,
            query,
            outputs,
            metadata,
            tags,
            nodes,
            node_count,
            failed_nodes,
            last_seen_at,
            owner,
        } = self;
        Execution {
            id: id.clone(),
            schema_version: *schema_version,
            version: *version,
            kind: kind.clone(),
            workflow_id: workflow_id.clone(),
            workflow_name: workflow_name.clone(),
            user_id: user_id.clone(),
            session_id: session_id.clone(),
            parent_id: parent_id.clone(),
            plan_id: plan_id.clone(),
            external_ids: external_ids.clone(),
            trigger: trigger.clone(),
            status: *status,
            started_at: *started_at,
            completed_at: *completed_at,
            duration_ms: *duration_ms,
            error: error.clone(),
            query: query.clone(),
            outputs: outputs.clone(),
            metadata: metadata.clone(),
            tags: tags.clone(),
            nodes: Vec::new(),
            node_count: nodes.len().max(*node_count as usize) as u32,
            failed_nodes: failed_nodes.clone(),
            last_seen_at: *last_seen_at,
            owner: owner.clone(),
        }
    }

    /// The database type of a query execution.
    pub fn database_type(&self) -> Option<&str> {
        self.query.as_ref()?.database_type.as_deref()
    }
}
