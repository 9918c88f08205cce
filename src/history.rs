//! History queries: filters, newest-first order and stable cursor pagination.

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::model::time::{de_opt_millis, Millis};
use crate::model::{Execution, Kind, Status};

/// Page size when none is given.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page size accepted.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// What `tracker.history()` takes. Every filter is optional; they combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
// An unknown key (say `filter: {...}`) is refused: silently ignoring it would answer an
// unfiltered page to a caller who believes it filtered.
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only runs of this workflow or pipeline.
    #[serde(default, alias = "pipelineId")]
    pub workflow_id: Option<String>,
    /// Only executions with this status.
    #[serde(default)]
    pub status: Option<Status>,
    /// Only this user's executions.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Only query executions against this database type.
    #[serde(default)]
    pub database_type: Option<String>,
    /// Only this kind.
    #[serde(default)]
    pub kind: Option<Kind>,
    /// Only executions started at or after this time.
    #[serde(default, deserialize_with = "de_opt_millis")]
    pub since: Option<Millis>,
    /// Only executions started at or before this time.
    #[serde(default, deserialize_with = "de_opt_millis")]
    pub until: Option<Millis>,
    /// Page size, 1 to 1000 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Only runs in which this node's last attempt failed.
    #[serde(default)]
    pub failed_node: Option<String>,
    /// Only executions that produced an output of this name (lineage).
    #[serde(default)]
    pub output: Option<String>,
    /// Only executions with this external id: `{ system, id }`.
    #[serde(default)]
    pub external_id: Option<ExternalRef>,
}

/// An id another system gave an execution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalRef {
    /// The system's name.
    pub system: String,
    /// Its id for the execution.
    pub id: String,
}

/// One page of history.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    /// Execution summaries (no node payloads), newest first.
    pub items: Vec<Execution>,
    /// Pass this as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A position in newest-first order: the last item of a page.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// Its start time.
    pub started_at: Millis,
    /// Its id (breaks ties between runs started in the same millisecond).
    pub id: String,
}

impl Cursor {
    /// The cursor pointing just past `e`.
    pub fn after(e: &Execution) -> Cursor {
        Cursor {
            started_at: e.started_at,
            id: e.id.clone(),
        }
    }

    /// The opaque text handed to callers.
    pub fn encode(&self) -> String {
        format!("{}~{}", self.started_at, self.id)
    }

    /// Reads a cursor made by [`Cursor::encode`].
    pub fn decode(text: &str) -> Result<Cursor, ValidationError> {
        let bad = || {
            ValidationError::invalid(
                "cursor",
                format!("`{text}` is not a cursor returned by history()"),
            )
        };
        let (at, id) = text.split_once('~').ok_or_else(bad)?;
        Ok(Cursor {
            started_at: at.parse().map_err(|_| bad())?,
            id: id.to_owned(),
        })
    }
}

/// Which index a store should walk to answer a query without scanning everything.
///
/// Each index is `[prefix…, startedAt, id]`: the plan's values are the prefix, and the walk
/// goes newest-first within it. Filters not in the prefix are checked on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexPlan {
    /// `[externalIds entry: system, id, startedAt, id]` (multi-entry).
    External(String, String),
    /// `[failed node id, startedAt, id]` (multi-entry).
    FailedNode(String),
    /// `[output name, startedAt, id]` (multi-entry).
    Output(String),
    /// The `[workflowId, status, startedAt, id]` index.
    WorkflowStatus(String, Status),
    /// The `[userId, databaseType, startedAt, id]` index.
    UserDatabase(String, String),
    /// The `[workflowId, startedAt, id]` index.
    Workflow(String),
    /// The `[userId, startedAt, id]` index.
    User(String),
    /// The `[databaseType, startedAt, id]` index.
    DatabaseType(String),
    /// The `[status, startedAt, id]` index.
    Status(Status),
    /// The `[startedAt, id]` index.
    Time,
}

impl HistoryQuery {
    /// The page size, checked against 1..=1000.
    pub fn page_size(&self) -> Result<usize, ValidationError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(ValidationError::invalid(
                "limit",
                format!("{limit} is outside 1..={MAX_PAGE_SIZE}"),
            ));
        }
        Ok(limit as usize)
    }

    /// The decoded cursor, if any.
    pub fn position(&self) -> Result<Option<Cursor>, ValidationError> {
        self.cursor.as_deref().map(Cursor::decode).transpose()
    }

    /// Page size and cursor for a store. Callers validate queries first ([`Self::validate`]);
    /// a store given an unchecked one falls back to the defaults instead of failing.
    pub fn checked_bounds(&self) -> (usize, Option<Cursor>) {
        (
            self.page_size().unwrap_or(DEFAULT_PAGE_SIZE as usize),
            self.position().ok().flatten(),
        )
    }

    /// Checks everything that can be wrong with a query.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.page_size()?;
        self.position()?;
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since > until {
                return Err(ValidationError::invalid(
                    "since",
                    format!("{since} is after until ({until})"),
                ));
            }
        }
        Ok(())
    }

    /// The most selective index for this query: an external id, a failed node, an output,
    /// then workflow with status, user with database type, and the single filters.
    pub fn plan(&self) -> IndexPlan {
        if let Some(x) = &self.external_id {
            IndexPlan::External(x.system.clone(), x.id.clone())
        } else if let Some(n) = &self.failed_node {
            IndexPlan::FailedNode(n.clone())
        } else if let Some(o) = &self.output {
            IndexPlan::Output(o.clone())
        } else if let (Some(w), Some(s)) = (&self.workflow_id, self.status) {
            IndexPlan::WorkflowStatus(w.clone(), s)
        } else if let (Some(u), Some(d)) = (&self.user_id, &self.database_type) {
            IndexPlan::UserDatabase(u.clone(), d.clone())
        } else if let Some(w) = &self.workflow_id {
            IndexPlan::Workflow(w.clone())
        } else if let Some(u) = &self.user_id {
            IndexPlan::User(u.clone())
        } else if let Some(d) = &self.database_type {
            IndexPlan::DatabaseType(d.clone())
        } else if let Some(s) = self.status {
            IndexPlan::Status(s)
        } else {
            IndexPlan::Time
        }
    }

    /// True when `e` passes every filter (the cursor is not a filter; see [`Self::before`]).
    pub fn matches<R: Filterable + ?Sized>(&self, e: &R) -> bool {
        fn eq(want: &Option<String>, have: Option<&str>) -> bool {
            want.as_deref().is_none_or(|w| have == Some(w))
        }
        let started_at = e.started_at();
        eq(&self.workflow_id, e.workflow_id())
            && eq(&self.user_id, e.user_id())
            && eq(&self.database_type, e.database_type())
            && self.status.is_none_or(|s| s == e.status())
            && self.kind.as_ref().is_none_or(|k| k == e.kind())
            && self.since.is_none_or(|t| started_at >= t)
            && self.until.is_none_or(|t| started_at <= t)
            && self
                .failed_node
                .as_ref()
                .is_none_or(|n| e.has_failed_node(n))
            && self.output.as_ref().is_none_or(|o| e.has_output(o))
            && self
                .external_id
                .as_ref()
                .is_none_or(|x| e.external_id(&x.system) == Some(x.id.as_str()))
    }

    /// True when `e` comes after `cursor` in newest-first order (so belongs on a later page).
    pub fn before<R: Filterable + ?Sized>(cursor: &Option<Cursor>, e: &R) -> bool {
        cursor
            .as_ref()
            .is_none_or(|c| (e.started_at(), e.id()) < (c.started_at, c.id.as_str()))
    }
}

/// What history filters and retention look at. Implemented by [`Execution`], and by a store's
/// own compact form of a record (the file store keeps only these fields in memory).
pub trait Filterable {
    /// The execution id.
    fn id(&self) -> &str;
    /// When it started.
    fn started_at(&self) -> Millis;
    /// Its status.
    fn status(&self) -> Status;
    /// Its kind.
    fn kind(&self) -> &Kind;
    /// Its workflow or pipeline.
    fn workflow_id(&self) -> Option<&str>;
    /// Its user.
    fn user_id(&self) -> Option<&str>;
    /// The database type of a query execution.
    fn database_type(&self) -> Option<&str>;
    /// Whether node `node`'s last attempt failed.
    fn has_failed_node(&self, node: &str) -> bool;
    /// Whether it produced an output named `name`.
    fn has_output(&self, name: &str) -> bool;
    /// Its id in `system`.
    fn external_id(&self, system: &str) -> Option<&str>;
}

impl Filterable for Execution {
    fn id(&self) -> &str {
        &self.id
    }
    fn started_at(&self) -> Millis {
        self.started_at
    }
    fn status(&self) -> Status {
        self.status
    }
    fn kind(&self) -> &Kind {
        &self.kind
    }
    fn workflow_id(&self) -> Option<&str> {
        self.workflow_id.as_deref()
    }
    fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }
    fn database_type(&self) -> Option<&str> {
        Execution::database_type(self)
    }
    fn has_failed_node(&self, node: &str) -> bool {
        self.failed_nodes.iter().any(|n| n == node)
    }
    fn has_output(&self, name: &str) -> bool {
        self.outputs.iter().any(|o| o.name == name)
    }
    fn external_id(&self, system: &str) -> Option<&str> {
        self.external_ids.get(system).map(String::as_str)
    }
}

/// Newest-first ordering of executions: by start time, then id, both descending.
pub fn newest_first(a: &Execution, b: &Execution) -> std::cmp::Ordering {
    (b.started_at, &b.id).cmp(&(a.started_at, &a.id))
}

/// Builds a page from candidates already in newest-first order that match and follow the
/// cursor: takes `limit` and sets `nextCursor` when one more exists.
pub fn paginate(mut candidates: Vec<Execution>, limit: usize) -> HistoryPage {
    let next_cursor = (candidates.len() > limit).then(|| {
        candidates.truncate(limit);
        Cursor::after(&candidates[limit - 1]).encode()
    });
    HistoryPage {
        items: candidates,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_ids_containing_the_separator() {
        let c = Cursor {
            started_at: 42,
            id: "a~b".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert_eq!(Cursor::decode("nope").unwrap_err().field(), "cursor");
    }

    #[test]
    fn limits_and_ranges_are_checked() {
        let q = HistoryQuery {
            limit: Some(0),
            ..Default::default()
        };
        assert_eq!(q.validate().unwrap_err().field(), "limit");
        let q = HistoryQuery {
            limit: Some(1001),
            ..Default::default()
        };
        assert!(q.validate().is_err());
        let q = HistoryQuery {
            since: Some(5),
            until: Some(4),
            ..Default::default()
        };
        assert_eq!(q.validate().unwrap_err().field(), "since");
        assert_eq!(HistoryQuery::default().page_size().unwrap(), 50);
    }

    #[test]
    fn plan_prefers_the_most_selective_index() {
        let q = HistoryQuery {
            status: Some(Status::Failed),
            user_id: Some("u".into()),
            ..Default::default()
        };
        assert_eq!(q.plan(), IndexPlan::User("u".into()));
        assert_eq!(HistoryQuery::default().plan(), IndexPlan::Time);
    }
}
