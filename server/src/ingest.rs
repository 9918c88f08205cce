//! The ingest path: one decoded batch, one SQL transaction, a handful of set-based
//! statements (read the stored versions of the batch's ids in one query, judge each record
//! in memory with [`versions::judge`], write every changed execution, its lineage and the
//! summed rollup changes in one statement per table per 500 rows).
//!
//! Every route that receives executions (the sync protocol, other receivers) calls
//! [`ingest`] with an already-decoded batch.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use runledger::intake::{validate_execution, DEFAULT_MAX_NODE_RUNS};
use runledger::stats::changes;
use runledger::sync::{IngestRequest, IngestResponse, Rejected};
use runledger::Execution;
use sqlx::Row;

use crate::bulk::{Statement, ROWS_PER_STATEMENT};
use crate::db;
use crate::error::AppError;
use crate::rollups::Deltas;
use crate::state::AppState;
use crate::versions::{judge, next_version, Incoming, Lifecycle, Stored, Verdict, MAX_VERSION};

/// What became of a batch.
pub struct Ingested {
    /// The answer (JSON text of an `IngestResponse`), the remembered one for a replay.
    pub response: String,
    /// True when the batch id was seen before and nothing was done.
    pub replayed: bool,
    /// How many records were accepted and rejected (0 for a replay).
    pub accepted: usize,
    pub rejected: usize,
}

/// Each record of a batch serialized once, in its canonical form: what is hashed, stored
/// and compared.
pub fn record_texts(records: &[Execution]) -> Vec<String> {
    records.iter().map(to_text).collect()
}

/// The SHA-256 of a batch's records in their canonical form (`[text,text,…]`, exactly the
/// bytes of the serialized array, so hashes stored before stay valid): what ties a batch id
/// to its content (formatting and gzip do not matter; any change to a record does).
pub fn records_hash(texts: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"[");
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            hasher.update(b",");
        }
        hasher.update(text.as_bytes());
    }
    hasher.update(b"]");
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Stores a tenant's batch: redaction, idempotency by batch id (a reused id with other
/// records is a 409), one transaction, then the push-stream announcement.
pub async fn ingest(
    state: &AppState,
    tenant: &str,
    mut batch: IngestRequest,
) -> Result<Ingested, AppError> {
    // Secrets are masked before anything is stored or hashed, whatever the client did.
    batch
        .records
        .iter_mut()
        .for_each(runledger::intake::redact_with_defaults);
    // What a simple client leaves out (durations, failed nodes) is derived from the rest.
    batch.records.iter_mut().for_each(crate::derive::fill_in);
    if batch.batch_id.trim().is_empty() {
        return Err(AppError::MalformedBody("`batch_id` is required".into()));
    }
    let texts = record_texts(&batch.records);
    let body_hash = records_hash(&texts);
    let now = now();
    let mut tx = state.pool.begin().await?;
    db::serialize_writers(&mut tx, state.engine).await?;
    if let Some(seen) = db::batch_response(&mut tx, tenant, &batch.batch_id).await? {
        tx.commit().await?;
        if seen.body_hash.is_some_and(|h| h != body_hash) {
            return Err(AppError::Conflict(format!(
                "batch `{}` was already received with different records; a new batch needs a new batch_id",
                batch.batch_id
            )));
        }
        return Ok(Ingested {
            response: seen.response,
            replayed: true,
            accepted: 0,
            rejected: 0,
        });
    }
    let answer = write_records(&mut tx, tenant, &batch.records, &texts, now).await?;
    let text = serde_json::to_string(&answer).expect("a response always serializes");
    db::remember_batch(&mut tx, tenant, &batch.batch_id, &body_hash, &text, now).await?;
    crate::notify::announce(&mut tx, &state.live, tenant, &answer.accepted, now).await?;
    // Forwarding (OTLP, OpenLineage) is queued in the batch's own transaction: a collector
    // outage or a crash after the commit loses nothing.
    let forwarding = &state.settings.forwarding;
    forwarding
        .enqueue(&mut tx, tenant, &batch.records, &answer.accepted, now)
        .await?;
    if let Some(faults) = &state.faults {
        tokio::time::sleep(faults.delay()).await;
        faults.panic_if_programmed();
    }
    tx.commit().await?;
    forwarding.committed();
    state.live.ingested(tenant, &answer.accepted, now);
    Ok(Ingested {
        response: text,
        replayed: false,
        accepted: answer.accepted.len(),
        rejected: answer.rejected.len(),
    })
}

/// The stored state of one id while a batch is judged: what is in the database, or what an
/// earlier record of the same batch replaced it with (stamped with the version it is stored
/// at).
enum Current {
    Stored {
        version: u64,
        text: String,
        lifecycle: Lifecycle,
        started_at: i64,
    },
    Batch {
        text: String,
        record: Box<Execution>,
    },
}

/// Where a record is in its lifecycle: what orders records that carry no version.
fn lifecycle_of(e: &Execution) -> Lifecycle {
    Lifecycle {
        finished: e.status.is_final(),
        completed_at: e.completed_at,
    }
}

fn to_text(e: &Execution) -> String {
    serde_json::to_string(e).expect("an execution always serializes")
}

impl Current {
    fn version(&self) -> u64 {
        match self {
            Current::Stored { version, .. } => *version,
            Current::Batch { record, .. } => record.version,
        }
    }

    fn text(&self) -> &str {
        match self {
            Current::Stored { text, .. } | Current::Batch { text, .. } => text,
        }
    }

    /// What [`judge`] compares `incoming` (serialized as `incoming_text`) against. A record
    /// without a version is compared as if it carried the stored one.
    fn seen(&self, incoming: &Execution, incoming_text: &str) -> Stored {
        let same_content = if incoming.version == 0 {
            match at_version(incoming_text, self.version()) {
                Some(text) => self.text() == text,
                None => {
                    let mut at_stored = incoming.clone();
                    at_stored.version = self.version();
                    self.text() == to_text(&at_stored)
                }
            }
        } else {
            self.text() == incoming_text
        };
        Stored {
            version: self.version(),
            same_content,
            lifecycle: match self {
                Current::Stored { lifecycle, .. } => *lifecycle,
                Current::Batch { record, .. } => lifecycle_of(record),
            },
        }
    }
}

/// The text of a record serialized at version 0 (`{"id":…,"schemaVersion":…,"version":0,…`)
/// as it would be at `version`, without serializing it again. The first `,"version":0,` is
/// the record's own: the only field before it is the id, a string, where a quote would be
/// escaped. `None` if the text is not of that form.
fn at_version(text: &str, version: u64) -> Option<String> {
    const ZERO: &str = ",\"version\":0,";
    let at = text.find(ZERO)?;
    Some(format!(
        "{},\"version\":{version},{}",
        &text[..at],
        &text[at + ZERO.len()..]
    ))
}

/// A stored version outside 0..=MAX_VERSION (negative from a wrapped u64, or a pin) was
/// written before versions were bounded: it counts as 0, so the next real version replaces it.
fn stored_version(v: i64) -> u64 {
    u64::try_from(v)
        .ok()
        .filter(|v| *v <= MAX_VERSION)
        .unwrap_or(0)
}

/// Judges and writes a batch's records in the caller's transaction (`texts`: each record
/// serialized, from [`record_texts`]).
pub async fn write_records(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    records: &[Execution],
    texts: &[String],
    now: i64,
) -> Result<IngestResponse, sqlx::Error> {
    let mut answer = IngestResponse::default();
    let verdicts: Vec<Result<(), String>> = records
        .iter()
        .map(|r| validate_execution(r, DEFAULT_MAX_NODE_RUNS).map_err(|e| e.to_string()))
        .collect();
    let ids: BTreeSet<&str> = records
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| v.is_ok())
        .map(|(e, _)| e.id.as_str())
        .collect();
    let mut current: HashMap<String, Current> = read_stored(tx, tenant, &ids).await?;
    // Where each stored id is stored (its `started_at`: PostgreSQL's partition key).
    let existed: HashMap<String, i64> = current
        .iter()
        .filter_map(|(id, c)| match c {
            Current::Stored { started_at, .. } => Some((id.clone(), *started_at)),
            Current::Batch { .. } => None,
        })
        .collect();
    let mut deltas = Deltas::default();
    // In record order, as if each record were stored on its own: a later record of the same
    // id is judged against the earlier one.
    for ((record, valid), record_text) in records.iter().zip(verdicts).zip(texts) {
        if let Err(reason) = valid {
            answer.rejected.push(Rejected {
                id: record.id.clone(),
                reason,
            });
            continue;
        }
        let now_current = current.get(record.id.as_str());
        // A record without a version is stored at the one after the current one.
        let version = next_version(record.version, now_current.map(Current::version));
        let (stamped, text) = if version == record.version {
            (Cow::Borrowed(record), record_text.clone())
        } else {
            let mut copy = record.clone();
            copy.version = version;
            let text = to_text(&copy);
            (Cow::Owned(copy), text)
        };
        let seen = now_current.map(|c| c.seen(record, &text));
        let incoming = Incoming {
            version: record.version,
            lifecycle: lifecycle_of(record),
        };
        match judge(incoming, seen) {
            Verdict::Keep => answer.accepted.push(record.id.clone()),
            Verdict::Refuse(reason) => answer.rejected.push(Rejected {
                id: record.id.clone(),
                reason,
            }),
            Verdict::Write => {
                let old = match now_current {
                    Some(Current::Stored { text, .. }) => Some(
                        serde_json::from_str::<Execution>(text)
                            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    ),
                    Some(Current::Batch { record, .. }) => Some((**record).clone()),
                    None => None,
                };
                deltas.extend(changes(old.as_ref(), Some(&stamped)));
                current.insert(
                    record.id.clone(),
                    Current::Batch {
                        text,
                        record: Box::new(stamped.into_owned()),
                    },
                );
                answer.accepted.push(record.id.clone());
            }
        }
    }
    let written: Vec<(&Execution, &String)> = current
        .values()
        .filter_map(|c| match c {
            Current::Batch { record, text } => Some((&**record, text)),
            Current::Stored { .. } => None,
        })
        .collect();
    if tx.backend_name() == "PostgreSQL" {
        crate::partitions::ensure(tx, written.iter().map(|(e, _)| e.started_at)).await?;
        remove_moved(tx, tenant, &written, &existed).await?;
    }
    write_executions(tx, tenant, &written, now).await?;
    write_outputs(tx, tenant, &written, &existed).await?;
    deltas.apply(tx, tenant).await?;
    Ok(answer)
}

/// The stored version and record of each id, in one query per 500 ids.
async fn read_stored(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    ids: &BTreeSet<&str>,
) -> Result<HashMap<String, Current>, sqlx::Error> {
    let ids: Vec<&str> = ids.iter().copied().collect();
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let mut s = Statement::new(
            "SELECT id, version, record, status, completed_at, started_at FROM executions WHERE tenant = ",
        );
        s.bind(tenant.to_owned()).push(" AND id IN (");
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                s.push(", ");
            }
            s.bind((*id).to_owned());
        }
        s.push(")");
        for row in s.fetch_all(tx).await? {
            out.insert(
                row.try_get::<String, _>(0)?,
                Current::Stored {
                    version: stored_version(row.try_get(1)?),
                    text: row.try_get(2)?,
                    lifecycle: Lifecycle {
                        finished: row.try_get::<String, _>(3)? != "running",
                        completed_at: row.try_get::<Option<i64>, _>(4)?,
                    },
                    started_at: row.try_get(5)?,
                },
            );
        }
    }
    Ok(out)
}

/// PostgreSQL: deletes the stored rows of written executions whose `started_at` changed.
/// The key there is `(tenant, id, started_at)` (a partitioned table's key holds its partition
/// key), so the upsert would otherwise keep the old row beside the new one.
async fn remove_moved(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    written: &[(&Execution, &String)],
    existed: &HashMap<String, i64>,
) -> Result<(), sqlx::Error> {
    let moved: Vec<&str> = written
        .iter()
        .filter(|(e, _)| existed.get(&e.id).is_some_and(|at| *at != e.started_at))
        .map(|(e, _)| e.id.as_str())
        .collect();
    delete_by_ids(
        tx,
        "DELETE FROM executions WHERE tenant = ",
        " AND id IN (",
        tenant,
        &moved,
    )
    .await
}

/// Runs `DELETE … WHERE tenant = ? AND <column> IN (…)` over `ids`, a statement per chunk.
async fn delete_by_ids(
    tx: &mut sqlx::AnyConnection,
    head: &str,
    in_clause: &str,
    tenant: &str,
    ids: &[&str],
) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let mut s = Statement::new(head);
        s.bind(tenant.to_owned()).push(in_clause);
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                s.push(", ");
            }
            s.bind((*id).to_owned());
        }
        s.push(")");
        s.execute(tx).await?;
    }
    Ok(())
}

async fn write_executions(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    written: &[(&Execution, &String)],
    now: i64,
) -> Result<(), sqlx::Error> {
    for chunk in written.chunks(ROWS_PER_STATEMENT) {
        let mut s = Statement::new(
            "INSERT INTO executions (id, version, kind, workflow_id, user_id, status, database_type, started_at, completed_at, duration_ms, record, received_at, tenant) VALUES ",
        );
        for (i, (e, text)) in chunk.iter().enumerate() {
            s.row(i == 0, |r| {
                r.value(e.id.clone())
                    .value(e.version as i64)
                    .value(e.kind.as_str().to_owned())
                    .value(e.workflow_id.clone())
                    .value(e.user_id.clone())
                    .value(e.status.as_str().to_owned())
                    .value(e.database_type().map(str::to_owned))
                    .value(e.started_at)
                    .value(e.completed_at)
                    .value_cast(e.duration_ms.map(|ms| ms.to_string()), "DOUBLE PRECISION")
                    .value((*text).clone())
                    .value(now)
                    .value(tenant.to_owned());
            });
        }
        // PostgreSQL's key holds `started_at` (see `crate::partitions`); a row whose
        // `started_at` changed was removed by `remove_moved`.
        s.push(if tx.backend_name() == "PostgreSQL" {
            " ON CONFLICT (tenant, id, started_at) DO UPDATE SET"
        } else {
            " ON CONFLICT (tenant, id) DO UPDATE SET started_at = excluded.started_at,"
        });
        s.push(
            "
            version = excluded.version, kind = excluded.kind, workflow_id = excluded.workflow_id,
            user_id = excluded.user_id, status = excluded.status, database_type = excluded.database_type,
            completed_at = excluded.completed_at,
            duration_ms = excluded.duration_ms, record = excluded.record, received_at = excluded.received_at",
        );
        s.execute(tx).await?;
    }
    Ok(())
}

/// Lineage rows of the written executions (the old rows of those stored before go first).
async fn write_outputs(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    written: &[(&Execution, &String)],
    existed: &HashMap<String, i64>,
) -> Result<(), sqlx::Error> {
    let replaced: Vec<&str> = written
        .iter()
        .map(|(e, _)| e.id.as_str())
        .filter(|id| existed.contains_key(*id))
        .collect();
    delete_by_ids(
        tx,
        "DELETE FROM execution_outputs WHERE tenant = ",
        " AND execution_id IN (",
        tenant,
        &replaced,
    )
    .await?;
    let rows: Vec<(&str, &str, i64)> = written
        .iter()
        .flat_map(|(e, _)| {
            let names: BTreeSet<&str> = e.outputs.iter().map(|o| o.name.as_str()).collect();
            names
                .into_iter()
                .map(move |name| (e.id.as_str(), name, e.started_at))
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut s = Statement::new(
            "INSERT INTO execution_outputs (tenant, execution_id, name, started_at) VALUES ",
        );
        for (i, (id, name, started_at)) in chunk.iter().enumerate() {
            s.row(i == 0, |r| {
                r.value(tenant.to_owned())
                    .value((*id).to_owned())
                    .value((*name).to_owned())
                    .value(*started_at);
            });
        }
        s.execute(tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_versionless_text_is_restamped_exactly_as_serializing_would() {
        // An id holding the pattern itself, and a node input with a version of its own.
        let mut e: Execution = serde_json::from_value(serde_json::json!({
            "id": "a,\"version\":0,b", "status": "success", "kind": "workflow", "startedAt": 5,
            "completedAt": 9, "nodes": [{ "id": "n", "status": "success", "startedAt": 5,
            "completedAt": 6, "input": { "version": 0 } }],
        }))
        .unwrap();
        let zero = to_text(&e);
        e.version = 7;
        assert_eq!(at_version(&zero, 7).as_deref(), Some(to_text(&e).as_str()));
        assert_eq!(at_version("{\"id\":\"x\"}", 7), None);
    }
}
