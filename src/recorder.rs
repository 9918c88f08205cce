//! The recording core: executions being recorded, and the batches that make them durable.
//!
//! Recording calls change in-memory state and return at once; nothing here awaits storage.
//! A flush takes the changed executions as one batch ([`Recorder::take_batch`]); when the
//! store confirms it, [`Recorder::acknowledge`] forgets finished ones, and when it fails,
//! [`Recorder::requeue`] puts them back so that nothing is lost because a write failed once.

use std::collections::VecDeque;

// Fx hashing: the keys are ids this process made or was given, hashed on every event; SipHash
// (the default) guards against flooding by chosen keys, which costs ~3x here for no gain.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, LifecycleError, ValidationError};
use crate::intake::{
    limit_node_labels, limit_output, limit_text, validate_id, validate_output, IntakePolicy,
    Payload,
};
use crate::model::time::{de_opt_millis, Millis};
use crate::model::{
    ErrorInfo, Execution, IdGenerator, Kind, Metadata, NodeDef, NodeOutcome, Output, QueryInfo,
    Status, Trigger, SCHEMA_VERSION,
};

/// How many finished execution ids are remembered to explain late events.
const REMEMBERED_FINISHED: usize = 10_000;

/// What `tracker.start()` takes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartSpec {
    /// An id of the caller's; generated (UUIDv7) when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// What runs (default `workflow`).
    #[serde(default)]
    pub kind: Kind,
    /// See [`Execution::workflow_id`].
    #[serde(default, alias = "pipelineId")]
    pub workflow_id: Option<String>,
    /// See [`Execution::workflow_name`].
    #[serde(default, alias = "pipelineName")]
    pub workflow_name: Option<String>,
    /// See [`Execution::user_id`].
    #[serde(default)]
    pub user_id: Option<String>,
    /// See [`Execution::session_id`].
    #[serde(default, alias = "conversationId")]
    pub session_id: Option<String>,
    /// See [`Execution::parent_id`].
    #[serde(default)]
    pub parent_id: Option<String>,
    /// See [`Execution::plan_id`].
    #[serde(default)]
    pub plan_id: Option<String>,
    /// See [`Execution::external_ids`].
    #[serde(default)]
    pub external_ids: std::collections::BTreeMap<String, String>,
    /// See [`Execution::trigger`].
    #[serde(default)]
    pub trigger: Option<Trigger>,
    /// See [`Execution::query`].
    #[serde(default)]
    pub query: Option<QueryInfo>,
    /// See [`Execution::metadata`].
    #[serde(default)]
    pub metadata: Metadata,
    /// See [`Execution::tags`].
    #[serde(default)]
    pub tags: Vec<String>,
    /// When it started (default: now).
    #[serde(default, deserialize_with = "de_opt_millis")]
    pub started_at: Option<Millis>,
}

/// What `tracker.logQuery()` takes: one finished query execution, in the shape of a query
/// tracking API (execution time in seconds).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryLog {
    /// An id of the caller's; generated when absent.
    #[serde(default, alias = "executionId")]
    pub id: Option<String>,
    /// The query text.
    pub query: String,
    /// The database type.
    #[serde(default)]
    pub database_type: Option<String>,
    /// `success`, `failed`, `timeout` or `error`.
    pub status: Status,
    /// Seconds the query took.
    #[serde(default)]
    pub execution_time: Option<f64>,
    /// Rows produced in total.
    #[serde(default)]
    pub total_rows: Option<u64>,
    /// Rows returned.
    #[serde(default)]
    pub returned_rows: Option<u64>,
    /// Page returned.
    #[serde(default)]
    pub page: Option<u64>,
    /// Page size.
    #[serde(default)]
    pub page_size: Option<u64>,
    /// Complexity class.
    #[serde(default, alias = "queryComplexity")]
    pub complexity: Option<String>,
    /// Who ran it.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The conversation or session.
    #[serde(default, alias = "conversationId")]
    pub session_id: Option<String>,
    /// Error message, for failures.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Error class, for failures.
    #[serde(default)]
    pub error_type: Option<String>,
    /// Start time (default: completion minus execution time, or now).
    #[serde(default, deserialize_with = "de_opt_millis")]
    pub started_at: Option<Millis>,
    /// Completion time (default: start plus execution time, or now).
    #[serde(default, deserialize_with = "de_opt_millis")]
    pub completed_at: Option<Millis>,
    /// Connection parameters (passwords redacted).
    #[serde(default, alias = "connectionParams")]
    pub connection: Value,
    /// Request context.
    #[serde(default, alias = "requestMetadata")]
    pub request: Value,
    /// Response context.
    #[serde(default, alias = "responseMetadata")]
    pub response: Value,
}

impl QueryLog {
    /// The execution this query log describes.
    pub fn into_execution(self, now: Millis) -> Execution {
        let took_ms = self.execution_time.map(|s| (s * 1000.0).round() as Millis);
        let (started_at, completed_at) = match (self.started_at, self.completed_at, took_ms) {
            (Some(s), Some(c), _) => (s, c),
            // Saturating: a huge executionTime must be refused by validation, not overflow.
            (Some(s), None, took) => (s, s.saturating_add(took.unwrap_or(0))),
            (None, Some(c), took) => (c.saturating_sub(took.unwrap_or(0)), c),
            (None, None, took) => (now.saturating_sub(took.unwrap_or(0)), now),
        };
        let error =
            (self.error_message.is_some() || self.error_type.is_some()).then(|| ErrorInfo {
                message: self.error_message.unwrap_or_default(),
                error_type: self.error_type,
                ..ErrorInfo::default()
            });
        Execution {
            id: self.id.unwrap_or_default(),
            kind: Kind::Query,
            user_id: self.user_id,
            session_id: self.session_id,
            status: self.status,
            started_at,
            completed_at: Some(completed_at),
            duration_ms: took_ms.map(|ms| ms as f64),
            error,
            query: Some(QueryInfo {
                text: Some(self.query),
                database_type: self.database_type,
                complexity: self.complexity,
                total_rows: self.total_rows,
                returned_rows: self.returned_rows,
                page: self.page,
                page_size: self.page_size,
            }),
            metadata: Metadata {
                connection: self.connection,
                request: self.request,
                response: self.response,
            },
            ..Execution::default()
        }
    }
}

fn validate_opt_id(field: &str, id: &Option<String>) -> Result<(), ValidationError> {
    id.as_deref().map_or(Ok(()), |id| validate_id(field, id))
}

/// How many runs each node id has in `e` (once per execution, when its counts are first
/// needed).
fn count_attempts(e: &Execution) -> HashMap<String, u32> {
    let mut counts = HashMap::default();
    for node in &e.nodes {
        *counts.entry(node.id.clone()).or_insert(0) += 1;
    }
    counts
}

/// In-memory state of one tracker: live executions and which of them changed.
#[derive(Debug)]
pub struct Recorder {
    policy: IntakePolicy,
    ids: IdGenerator,
    owner: String,
    live: HashMap<String, Execution>,
    dirty: VecDeque<String>,
    dirty_set: HashSet<String>,
    finished: HashMap<String, Status>,
    finished_order: VecDeque<String>,
    /// Runs so far of each node id, per running execution: what makes the next attempt's
    /// number and tells a node's latest run, without scanning the execution's node runs (so
    /// that each node costs the same however many came before).
    attempts: HashMap<String, HashMap<String, u32>>,
}

impl Recorder {
    /// A recorder for the tracker instance `owner`.
    pub fn new(policy: IntakePolicy, owner: impl Into<String>) -> Self {
        Recorder {
            policy,
            ids: IdGenerator::new(),
            owner: owner.into(),
            live: HashMap::default(),
            dirty: VecDeque::new(),
            dirty_set: HashSet::default(),
            finished: HashMap::default(),
            finished_order: VecDeque::new(),
            attempts: HashMap::default(),
        }
    }

    /// The tracker instance id written into running executions.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The intake policy in force.
    pub fn policy(&self) -> &IntakePolicy {
        &self.policy
    }

    /// Executions changed since their last confirmed write.
    pub fn dirty_len(&self) -> usize {
        self.dirty.len()
    }

    /// Executions held in memory (running, or finished and not yet confirmed durable).
    pub fn live_len(&self) -> usize {
        self.live.len()
    }

    /// A new UUIDv7 id.
    pub fn new_id(&mut self, now: Millis, random: [u8; 10]) -> String {
        self.ids.next(now, random)
    }

    fn mark_dirty(&mut self, id: &str) {
        // Most events are for an execution already marked: no string is made for them.
        if !self.dirty_set.contains(id) {
            self.dirty_set.insert(id.to_owned());
            self.dirty.push_back(id.to_owned());
        }
    }

    fn remember_finished(&mut self, id: &str, status: Status) {
        if self.finished.insert(id.to_owned(), status).is_none() {
            self.finished_order.push_back(id.to_owned());
            if self.finished_order.len() > REMEMBERED_FINISHED {
                if let Some(old) = self.finished_order.pop_front() {
                    self.finished.remove(&old);
                }
            }
        }
    }

    fn ensure_new_id(&self, id: &str) -> Result<(), ValidationError> {
        if self.live.contains_key(id) || self.finished.contains_key(id) {
            return Err(ValidationError::invalid(
                "id",
                format!("{id} is already used by an execution of this tracker"),
            ));
        }
        Ok(())
    }

    fn live_mut(
        &mut self,
        id: &str,
        node_id: &str,
        event: &'static str,
    ) -> Result<&mut Execution, LifecycleError> {
        if !self.live.contains_key(id) {
            return Err(self.not_live(id, node_id, event));
        }
        Ok(self.live.get_mut(id).expect("checked above"))
    }

    /// Why an event for an execution that is not in memory cannot be recorded: it finished
    /// (and was written), or this tracker never started it.
    fn not_live(&self, id: &str, node_id: &str, event: &'static str) -> LifecycleError {
        match self.finished.get(id) {
            Some(&status) if node_id.is_empty() => LifecycleError::AlreadyFinished {
                id: id.to_owned(),
                from: status,
                to: status,
            },
            Some(&status) => LifecycleError::NodeAfterEnd {
                id: id.to_owned(),
                node_id: node_id.to_owned(),
                event,
                status,
            },
            None => LifecycleError::UnknownExecution { id: id.to_owned() },
        }
    }

    /// An execution that is still running, for a change that only running ones accept.
    fn running_mut(
        &mut self,
        id: &str,
        event: &'static str,
    ) -> Result<&mut Execution, LifecycleError> {
        let e = self.live_mut(id, "", event)?;
        if e.status.is_final() {
            return Err(LifecycleError::AlreadyFinished {
                id: id.to_owned(),
                from: e.status,
                to: e.status,
            });
        }
        Ok(e)
    }

    /// Starts recording an execution; returns its id.
    pub fn start(
        &mut self,
        spec: StartSpec,
        now: Millis,
        random: [u8; 10],
    ) -> Result<String, Error> {
        let id = match spec.id {
            Some(id) => id,
            None => self.new_id(now, random),
        };
        self.ensure_new_id(&id)?;
        let mut e = Execution {
            id: id.clone(),
            schema_version: SCHEMA_VERSION,
            version: 1,
            kind: spec.kind,
            workflow_id: spec.workflow_id,
            workflow_name: spec.workflow_name,
            user_id: spec.user_id,
            session_id: spec.session_id,
            parent_id: spec.parent_id,
            plan_id: spec.plan_id,
            external_ids: spec.external_ids,
            trigger: spec.trigger,
            status: Status::Running,
            started_at: spec.started_at.unwrap_or(now),
            query: spec.query,
            metadata: spec.metadata,
            tags: spec.tags,
            owner: Some(self.owner.clone()),
            last_seen_at: Some(now),
            ..Execution::default()
        };
        self.policy.admit(&mut e)?;
        self.live.insert(id.clone(), e);
        self.mark_dirty(&id);
        Ok(id)
    }

    /// Starts a node run inside a running execution; returns its index.
    pub fn node_start(
        &mut self,
        id: &str,
        def: NodeDef,
        input: impl Into<Payload>,
        now: Millis,
    ) -> Result<usize, Error> {
        validate_id("node.id", &def.id)?;
        let mut def = def;
        limit_node_labels(&mut def.name, &mut def.node_type);
        let input = self.policy.clean_payload(input.into());
        let max = self.policy.max_node_runs;
        let Some(e) = self.live.get_mut(id) else {
            return Err(self.not_live(id, &def.id, "start").into());
        };
        if e.nodes.len() >= max {
            return Err(ValidationError::TooLarge {
                field: "nodes".into(),
                size: e.nodes.len() as u64 + 1,
                limit: max as u64,
            }
            .into());
        }
        let counts = match self.attempts.get_mut(id) {
            Some(counts) => counts,
            None => self
                .attempts
                .entry(id.to_owned())
                .or_insert_with(|| count_attempts(e)),
        };
        let attempt = match counts.get_mut(def.id.as_str()) {
            Some(n) => n,
            None => counts.entry(def.id.clone()).or_insert(0),
        };
        let index = e.start_node_attempt(def, input, now, *attempt + 1)?;
        *attempt += 1;
        self.mark_dirty(id);
        Ok(index)
    }

    /// Ends a node run. A success's output goes through redaction and payload limits.
    pub fn node_finish(
        &mut self,
        id: &str,
        index: usize,
        outcome: NodeOutcome,
        now: Millis,
    ) -> Result<(), Error> {
        let outcome = match outcome {
            NodeOutcome::Success(output) => NodeOutcome::Success(
                self.policy
                    .clean_payload(Payload::Text(output.text().to_owned())),
            ),
            NodeOutcome::Error(mut error) => {
                validate_opt_id("error.nodeId", &error.node_id)?;
                self.policy.clean_error(&mut error);
                NodeOutcome::Error(error)
            }
            NodeOutcome::Skipped(mut reason) => {
                if let Some(reason) = reason.as_mut() {
                    limit_text(reason, self.policy.max_value_bytes);
                }
                NodeOutcome::Skipped(reason)
            }
        };
        self.end_node(id, index, outcome, now)
    }

    /// Ends a node run successfully with an output that arrived as a [`Payload`] (the JS
    /// path: parsed once, its text kept when nothing needed hiding).
    pub fn node_succeed(
        &mut self,
        id: &str,
        index: usize,
        output: Payload,
        now: Millis,
    ) -> Result<(), Error> {
        let output = self.policy.clean_payload(output);
        self.end_node(id, index, NodeOutcome::Success(output), now)
    }

    fn end_node(
        &mut self,
        id: &str,
        index: usize,
        outcome: NodeOutcome,
        now: Millis,
    ) -> Result<(), Error> {
        let event = outcome.event();
        // The node's label is only needed to explain a failure: no allocation when it works.
        let Some(e) = self.live.get_mut(id) else {
            return Err(self.not_live(id, &format!("#{index}"), event).into());
        };
        let is_latest = match (e.nodes.get(index), self.attempts.get(id)) {
            (Some(node), Some(counts)) => counts.get(node.id.as_str()) == Some(&node.attempt),
            _ => false,
        };
        e.finish_node_run(index, outcome, now, is_latest)?;
        self.mark_dirty(id);
        Ok(())
    }

    /// Adds an output to a running execution.
    pub fn add_output(&mut self, id: &str, mut output: Output) -> Result<(), Error> {
        validate_output("output", &output)?;
        limit_output(&mut output);
        let e = self.running_mut(id, "output")?;
        e.outputs.push(output);
        e.version += 1;
        self.mark_dirty(id);
        Ok(())
    }

    /// Records the id another system gave a running execution (lineage: from that system's
    /// data back to this run). Setting the same system again replaces its id.
    pub fn set_external_id(
        &mut self,
        id: &str,
        system: &str,
        external_id: &str,
    ) -> Result<(), Error> {
        validate_id("system", system)?;
        validate_id("externalId", external_id)?;
        let e = self.running_mut(id, "externalId")?;
        e.external_ids
            .insert(system.to_owned(), external_id.to_owned());
        e.version += 1;
        self.mark_dirty(id);
        Ok(())
    }

    /// Records the end of a running execution.
    pub fn finish(
        &mut self,
        id: &str,
        status: Status,
        error: Option<ErrorInfo>,
        now: Millis,
    ) -> Result<(), Error> {
        self.live_mut(id, "", "finish").map_err(|err| match err {
            LifecycleError::AlreadyFinished { id, from, .. } => LifecycleError::AlreadyFinished {
                id,
                from,
                to: status,
            },
            other => other,
        })?;
        let mut error = error;
        if let Some(error) = error.as_mut() {
            validate_opt_id("error.nodeId", &error.node_id)?;
            self.policy.clean_error(error);
        }
        let e = self.live.get_mut(id).expect("found above");
        e.finish(status, error, now)?;
        e.last_seen_at = Some(now);
        self.attempts.remove(id);
        self.remember_finished(id, status);
        self.mark_dirty(id);
        Ok(())
    }

    /// Records an execution that has already finished (one call, e.g. from generated code).
    pub fn log(
        &mut self,
        mut e: Execution,
        now: Millis,
        random: [u8; 10],
    ) -> Result<String, Error> {
        if !e.status.is_final() {
            return Err(ValidationError::invalid(
                "status",
                "log() records finished executions; use start() for one that is still running",
            )
            .into());
        }
        if e.id.is_empty() {
            e.id = self.new_id(now, random);
        }
        self.ensure_new_id(&e.id)?;
        if e.completed_at.is_none() {
            e.completed_at = Some(match e.duration_ms {
                Some(d) if d.is_finite() => e.started_at.saturating_add(d.round() as Millis),
                _ => now.max(e.started_at),
            });
        }
        if e.duration_ms.is_none() {
            e.duration_ms = e.completed_at.map(|c| (c - e.started_at).max(0) as f64);
        }
        e.schema_version = SCHEMA_VERSION;
        e.version = e.version.max(1);
        e.owner = None;
        e.last_seen_at = Some(now);
        e.refresh_node_summary();
        self.policy.admit(&mut e)?;
        let id = e.id.clone();
        self.remember_finished(&id, e.status);
        self.live.insert(id.clone(), e);
        self.mark_dirty(&id);
        Ok(id)
    }

    /// Takes up to `max` changed executions, oldest change first, stamped as seen at `now`.
    pub fn take_batch(&mut self, max: usize, now: Millis) -> Vec<Execution> {
        let mut batch = Vec::with_capacity(max.min(self.dirty.len()));
        while batch.len() < max {
            let Some(id) = self.dirty.pop_front() else {
                break;
            };
            self.dirty_set.remove(&id);
            if let Some(e) = self.live.get_mut(&id) {
                if !e.status.is_final() {
                    e.last_seen_at = Some(now);
                }
                batch.push(e.clone());
            }
        }
        batch
    }

    /// The store confirmed `batch`: finished executions written at their last version leave
    /// memory.
    pub fn acknowledge(&mut self, batch: &[Execution]) {
        for written in batch {
            let done = self.live.get(&written.id).is_some_and(|e| {
                e.status.is_final()
                    && e.version == written.version
                    && !self.dirty_set.contains(&e.id)
            });
            if done {
                self.live.remove(&written.id);
                self.attempts.remove(&written.id);
            }
        }
    }

    /// The store rejected `batch`: every execution in it is marked changed again, ahead of
    /// newer changes.
    pub fn requeue(&mut self, batch: &[Execution]) {
        for written in batch.iter().rev() {
            if self.dirty_set.insert(written.id.clone()) {
                self.dirty.push_front(written.id.clone());
            }
        }
    }

    /// Drops executions held in memory that `doomed` picks, so that a delete is not undone
    /// by a pending write; returns how many were dropped.
    pub fn forget(&mut self, doomed: impl Fn(&Execution) -> bool) -> usize {
        let ids: Vec<String> = self
            .live
            .values()
            .filter(|e| doomed(e))
            .map(|e| e.id.clone())
            .collect();
        for id in &ids {
            self.live.remove(id);
            self.attempts.remove(id);
            self.dirty_set.remove(id);
        }
        if !ids.is_empty() {
            let dirty_set = &self.dirty_set;
            self.dirty.retain(|id| dirty_set.contains(id));
        }
        ids.len()
    }

    /// An execution held in memory (running, or not yet confirmed durable).
    pub fn live(&self, id: &str) -> Option<&Execution> {
        self.live.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: Millis = 1_700_000_000_000;

    fn recorder() -> Recorder {
        Recorder::new(IntakePolicy::default(), "owner-1")
    }

    fn spec() -> StartSpec {
        StartSpec {
            workflow_id: Some("wf".into()),
            ..StartSpec::default()
        }
    }

    #[test]
    fn a_run_becomes_one_dirty_record_and_leaves_memory_once_confirmed() {
        let mut r = recorder();
        let id = r.start(spec(), T0, [1; 10]).unwrap();
        let n = r
            .node_start(
                &id,
                NodeDef {
                    id: "n".into(),
                    ..Default::default()
                },
                json!({"password": "x"}),
                T0 + 1,
            )
            .unwrap();
        r.node_finish(&id, n, NodeOutcome::Success(json!(1).into()), T0 + 2)
            .unwrap();
        r.finish(&id, Status::Success, None, T0 + 3).unwrap();
        assert_eq!(r.dirty_len(), 1);
        let batch = r.take_batch(100, T0 + 4);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].version, 4);
        assert_eq!(batch[0].nodes[0].input, json!({"password": "[REDACTED]"}));
        r.acknowledge(&batch);
        assert_eq!(r.live_len(), 0);
        // Late events are explained, not silently dropped.
        let err = r.finish(&id, Status::Failed, None, T0 + 5).unwrap_err();
        assert!(
            err.to_string().contains("cannot go from success to failed"),
            "{err}"
        );
        let err = r
            .node_start(
                &id,
                NodeDef {
                    id: "late".into(),
                    ..Default::default()
                },
                Value::Null,
                T0 + 6,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Lifecycle(LifecycleError::NodeAfterEnd { .. })
        ));
    }

    #[test]
    fn a_failed_write_is_requeued_and_nothing_is_lost() {
        let mut r = recorder();
        let a = r.start(spec(), T0, [1; 10]).unwrap();
        let b = r.start(spec(), T0, [2; 10]).unwrap();
        let batch = r.take_batch(10, T0 + 1);
        assert_eq!(r.dirty_len(), 0);
        r.finish(&a, Status::Success, None, T0 + 2).unwrap();
        r.requeue(&batch);
        let again = r.take_batch(10, T0 + 3);
        let mut ids: Vec<_> = again.iter().map(|e| e.id.clone()).collect();
        ids.sort();
        assert_eq!(ids, vec![a.clone(), b.clone()]);
        assert!(again
            .iter()
            .any(|e| e.id == a && e.status == Status::Success));
    }

    #[test]
    fn a_change_during_a_write_keeps_the_record_in_memory() {
        let mut r = recorder();
        let a = r.start(spec(), T0, [1; 10]).unwrap();
        r.finish(&a, Status::Success, None, T0 + 1).unwrap();
        let batch = r.take_batch(10, T0 + 2);
        r.acknowledge(&batch);
        assert_eq!(r.live_len(), 0);

        let b = r.start(spec(), T0, [2; 10]).unwrap();
        let batch = r.take_batch(10, T0 + 2);
        r.finish(&b, Status::Failed, None, T0 + 3).unwrap();
        r.acknowledge(&batch);
        assert_eq!(
            r.live_len(),
            1,
            "finished after the batch was taken: must be written again"
        );
        assert_eq!(r.take_batch(10, T0 + 4)[0].status, Status::Failed);
    }

    #[test]
    fn external_ids_are_set_while_running_and_validated() {
        let mut r = recorder();
        let id = r.start(spec(), T0, [1; 10]).unwrap();
        r.set_external_id(&id, "airflow", "run-42").unwrap();
        assert_eq!(
            r.set_external_id(&id, "airflow", " ")
                .unwrap_err()
                .to_string(),
            "`externalId` is required"
        );
        r.finish(&id, Status::Success, None, T0 + 1).unwrap();
        assert!(r.set_external_id(&id, "dbt", "x").is_err());
        let e = &r.take_batch(1, T0)[0];
        assert_eq!(
            e.external_ids.get("airflow").map(String::as_str),
            Some("run-42")
        );
    }

    #[test]
    fn node_summary_kept_in_place_matches_a_recount() {
        // Seeded property test: random starts and ends of node runs (retries included); after
        // every step the incrementally kept attempts and failedNodes equal a full recount.
        let mut seed: u64 = 0x5eed;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut r = recorder();
        let id = r.start(spec(), T0, [1; 10]).unwrap();
        for step in 0..1_200 {
            let open: Vec<usize> = r.live[&id]
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| !n.status.is_final())
                .map(|(i, _)| i)
                .collect();
            if open.is_empty() || next(3) == 0 {
                let def = NodeDef {
                    id: format!("n{}", next(12)),
                    ..Default::default()
                };
                r.node_start(&id, def, Value::Null, T0 + step).unwrap();
            } else {
                let index = open[next(open.len() as u64) as usize];
                let outcome = match next(3) {
                    0 => NodeOutcome::Success(json!(1).into()),
                    1 => NodeOutcome::Error(ErrorInfo::default()),
                    _ => NodeOutcome::Skipped(None),
                };
                r.node_finish(&id, index, outcome, T0 + step).unwrap();
            }
            let e = &r.live[&id];
            let mut recount = e.clone();
            recount.refresh_node_summary();
            assert_eq!(e.failed_nodes, recount.failed_nodes, "step {step}");
            assert_eq!(e.node_count, recount.node_count, "step {step}");
            let last = e.nodes.last().unwrap();
            let earlier = e.nodes.iter().filter(|n| n.id == last.id).count() as u32;
            assert_eq!(last.attempt, earlier, "step {step}");
        }
    }

    #[test]
    fn forgotten_executions_are_not_written() {
        let mut r = recorder();
        let a = r.start(spec(), T0, [1; 10]).unwrap();
        r.finish(&a, Status::Success, None, T0 + 1).unwrap();
        let b = r.start(spec(), T0, [2; 10]).unwrap();
        assert_eq!(r.forget(|e| e.id == a), 1);
        let batch = r.take_batch(10, T0 + 2);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].id, b);
    }

    #[test]
    fn batches_respect_the_size_limit() {
        let mut r = recorder();
        for i in 0..5 {
            r.start(spec(), T0, [i; 10]).unwrap();
        }
        assert_eq!(r.take_batch(2, T0).len(), 2);
        assert_eq!(r.dirty_len(), 3);
    }

    #[test]
    fn log_requires_a_final_status_and_fills_completion() {
        let mut r = recorder();
        let running = Execution {
            started_at: T0,
            ..Execution::default()
        };
        assert_eq!(
            r.log(running, T0, [0; 10]).unwrap_err().to_string(),
            "`status` is invalid: log() records finished executions; use start() for one that is still running"
        );
        let done = Execution {
            started_at: T0,
            status: Status::Success,
            duration_ms: Some(20.0),
            ..Execution::default()
        };
        let id = r.log(done, T0 + 100, [0; 10]).unwrap();
        let e = &r.take_batch(1, T0)[0];
        assert_eq!(
            (e.id.as_str(), e.completed_at),
            (id.as_str(), Some(T0 + 20))
        );
        assert_eq!(e.owner, None);
    }

    #[test]
    fn huge_durations_are_refused_not_overflowed() {
        let mut r = recorder();
        for seconds in [1e300, -1e300, 9.3e15] {
            let q: QueryLog = serde_json::from_value(json!({
                "query": "q", "status": "success", "executionTime": seconds, "startedAt": T0
            }))
            .unwrap();
            assert!(r.log(q.into_execution(T0), T0, [0; 10]).is_err());
        }
        let e = Execution {
            started_at: T0,
            status: Status::Success,
            duration_ms: Some(1e300),
            ..Execution::default()
        };
        assert!(r.log(e, T0, [0; 10]).is_err());
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let mut r = recorder();
        let s = StartSpec {
            id: Some("fixed".into()),
            ..spec()
        };
        r.start(s.clone(), T0, [0; 10]).unwrap();
        assert_eq!(
            r.start(s, T0, [0; 10]).unwrap_err().to_string(),
            "`id` is invalid: fixed is already used by an execution of this tracker"
        );
    }

    #[test]
    fn query_log_maps_seconds_and_statuses() {
        let q: QueryLog = serde_json::from_value(json!({
            "query": "select 1", "databaseType": "kdb", "status": "timeout",
            "executionTime": 1.5, "completedAt": T0, "connectionParams": {"password": "p"},
            "errorMessage": "took too long"
        }))
        .unwrap();
        let mut r = recorder();
        r.log(q.into_execution(T0), T0, [0; 10]).unwrap();
        let e = &r.take_batch(1, T0)[0];
        assert_eq!(e.kind, Kind::Query);
        assert_eq!(e.started_at, T0 - 1500);
        assert_eq!(e.duration_ms, Some(1500.0));
        assert_eq!(e.database_type(), Some("kdb"));
        assert_eq!(e.metadata.connection, json!({"password": "[REDACTED]"}));
        assert_eq!(e.error.as_ref().unwrap().message, "took too long");
    }
}
