//! The IndexedDB store (browsers), through web-sys.
//!
//! Layout (database version [`DB_VERSION`]):
//!
//! ```text
//! executions  keyPath id   {id, version, startedAt, status, workflowId?, userId?,
//!                            query?: {databaseType}, seg, …index keys, j}: the indexed fields,
//!                            and the summary (no node runs) as JSON text in `j`
//!   by_started   [startedAt, id]
//!   by_workflow  [workflowId, startedAt, id]
//!   by_user      [userId, startedAt, id]
//!   by_database  [query.databaseType, startedAt, id]
//!   by_status    [status, startedAt, id]
//! segments    keyPath seg  {seg, ids, ends, text}: the node runs of one flushed batch, each
//!                            execution's JSON back to back in `text` (`{seg, nodes: {id: "[…]"}}`
//!                            when moved from version 4); metadata names it in `seg`
//! outbox      keyPath [id, version]  {id, version, queuedAt}: to be sent to the server
//!   by_queued    [queuedAt, id]
//! dead_letters keyPath [id, version]  {id, version, reason, at}: refused, retryable
//!   by_at        [at, id]
//! rollup_pages keyPath k    {k: [workflowId | 0, page], s: page, json}: the stats cells
//!                            of one workflow (0: none) over the 8 slots from `page`
//!                            (`stats::encode_page`)
//!   by_slot      s
//! ```
//!
//! Writes, deletes and clears read the previous metadata of what they change and update the
//! rollup cells in the same transaction, so stats can never disagree with the records. Cells
//! are stored a page per workflow and four hours because Chromium's IndexedDB pays tens of µs
//! per record read: a workflow's stats over a day read 6 pages, not hundreds of cells, in one
//! contiguous key range.
//!
//! Outbox marks and dead letters are keyed by id and version so that acknowledging version
//! `v` is a blind range delete of `[id]..=[id, v]`: no read, and a newer version written in
//! the meantime survives it. A write replaces the marks of older versions the same way.
//!
//! Chromium's IndexedDB charges per record and per index entry, so a flushed batch writes its
//! node runs as one segment record (see [`segment`]), not one record per execution; entries
//! leave their segment in the transaction that replaces or removes them (compaction).
//!
//! Every history filter walks one of these indexes newest-first from the cursor position;
//! records are never scanned wholesale. A write puts metadata, the segment and outbox marks of
//! the whole batch in one readwrite transaction: it commits entirely or not at all, so a stored
//! record is always either acknowledged by the server or marked to be sent.

mod request;
mod schema;
mod segment;

use std::cell::RefCell;

use js_sys::{Array, Object, Reflect};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    IdbCursorDirection, IdbCursorWithValue, IdbDatabase, IdbKeyRange, IdbTransaction,
    IdbTransactionMode,
};

pub use request::error_parts;
use request::{once, Request, TxDone};
pub use schema::{create_legacy_v1, create_legacy_v3, create_legacy_v4, DB_VERSION};
use segment::{drop_entries, nodes_in, note_removal, seg_of, Removals};

use super::{
    classify_failure, DeadLetter, FailPoint, OutboxCounts, Outgoing, QueuePosition, Store, Synced,
};
use crate::error::StoreError;
use crate::history::{paginate, Cursor, HistoryPage, HistoryQuery, IndexPlan};
use crate::model::{Execution, Status};
use crate::retention::{verdict, PruneReport, PruneRequest, Verdict};
use crate::stats::{
    changes, decode_page, encode_page, page_slot, Cell, CellKey, Contribution, Rollups,
};

const EXECUTIONS: &str = "executions";
const SEGMENTS: &str = "segments";
const OUTBOX: &str = "outbox";
const DEAD_LETTERS: &str = "dead_letters";
const ROLLUPS: &str = "rollup_pages";
/// The stores keyed by execution id (`executions`) or `[id, version]` (the others).
const PER_ID: &[&str] = &[EXECUTIONS, OUTBOX, DEAD_LETTERS];
const ALL_AND_ROLLUPS: &[&str] = &[EXECUTIONS, SEGMENTS, OUTBOX, DEAD_LETTERS, ROLLUPS];

/// Deletes every record of execution `id` (metadata, outbox marks, dead letters) from the
/// [`PER_ID`] stores; its segment entry is the caller's to drop.
fn delete_per_id(
    stores: &[web_sys::IdbObjectStore],
    id: &str,
    err: impl Fn(JsValue) -> StoreError,
) -> Result<(), StoreError> {
    let key = JsValue::from(id);
    let every_version: JsValue = versions_of(id, None).into();
    for (store, name) in stores.iter().zip(PER_ID) {
        let k = if *name == EXECUTIONS {
            &key
        } else {
            &every_version
        };
        store.delete(k).map_err(&err)?;
    }
    Ok(())
}

/// The stored metadata of `e` as JSON text:
/// - `j`: its summary (no node runs) as JSON text, what every read decodes: a string is one
///   copy for IndexedDB's structured clone, where the summary as an object costs a property
///   and a value each, and it is sent to the server as it is;
/// - beside it, only the fields the indexes cover (`id`, `version`, `startedAt`,
///   `workflowId`, `userId`, `status`, `query.databaseType`), `seg` when its node runs are in
///   a segment, and the derived fields of the multi-entry indexes: `[value…, startedAt, id]`
///   per failed node, output and external id (sparse: absent when empty).
///
/// A flush parses the whole batch's text at once instead of building objects field by field
/// across the wasm boundary. Records written before `j` existed hold the summary's fields
/// themselves; [`from_js`] and [`outgoing`] read both.
pub(super) fn meta_json(
    e: &Execution,
    seg: Option<u64>,
    out: &mut String,
) -> Result<(), StoreError> {
    let encode_error = |err: serde_json::Error| StoreError::Transaction {
        operation: "encode",
        name: "DataError".into(),
        message: err.to_string(),
    };
    let quoted = |value: &str| serde_json::to_string(value).map_err(encode_error);
    let summary = serde_json::to_string(&e.summary()).map_err(encode_error)?;
    let id = quoted(&e.id)?;
    out.push_str(&format!(
        r#"{{"id":{id},"version":{},"startedAt":{},"status":"{}""#,
        e.version,
        e.started_at,
        e.status.as_str()
    ));
    for (name, value) in [("workflowId", &e.workflow_id), ("userId", &e.user_id)] {
        if let Some(value) = value {
            out.push_str(&format!(r#","{name}":{}"#, quoted(value)?));
        }
    }
    if let Some(database) = e.query.as_ref().and_then(|q| q.database_type.as_ref()) {
        out.push_str(&format!(
            r#","query":{{"databaseType":{}}}"#,
            quoted(database)?
        ));
    }
    if let Some(seg) = seg {
        out.push_str(&format!(r#","seg":{seg}"#));
    }
    let tail = format!("{},{id}", e.started_at);
    let heads: [(&str, Vec<Vec<&str>>); 3] = [
        (
            "failedNodeKeys",
            e.failed_nodes.iter().map(|n| vec![n.as_str()]).collect(),
        ),
        (
            "outputKeys",
            e.outputs.iter().map(|o| vec![o.name.as_str()]).collect(),
        ),
        (
            "externalKeys",
            e.external_ids
                .iter()
                .map(|(system, id)| vec![system.as_str(), id.as_str()])
                .collect(),
        ),
    ];
    for (name, keys) in heads {
        if keys.is_empty() {
            continue;
        }
        out.push_str(&format!(r#","{name}":["#));
        for (i, head) in keys.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            for value in head {
                out.push_str(&quoted(value)?);
                out.push(',');
            }
            out.push_str(&tail);
            out.push(']');
        }
        out.push(']');
    }
    out.push_str(r#","j":"#);
    out.push_str(&quoted(&summary)?);
    out.push('}');
    Ok(())
}

/// The summary JSON a stored metadata record carries in `j` (absent in records written
/// before it).
fn summary_text(meta: &JsValue) -> Option<String> {
    Reflect::get(meta, &"j".into()).ok()?.as_string()
}

/// Removes the derived index fields and the segment key (they are not part of the record).
fn strip_stored_fields(record: &JsValue) {
    if let Some(o) = record.dyn_ref::<Object>() {
        for field in ["failedNodeKeys", "outputKeys", "externalKeys", "seg"] {
            let _ = Reflect::delete_property(o, &field.into());
        }
    }
}

/// The key of the rollup page starting at slot `page` (see [`page_slot`]) that holds a
/// workflow's (or no workflow's) cells.
fn page_key(workflow_id: Option<&str>, page: i64) -> Array {
    // 0 sorts before every string: the page of records without a workflow never mixes with
    // a workflow's, not even one named "".
    let head = workflow_id.map_or(JsValue::from(0), JsValue::from);
    [head, JsValue::from(page as f64)].into_iter().collect()
}

/// The stored form of one rollup page: `cells` all share a workflow and a slot.
fn page_record(cells: &[&Cell]) -> Result<Object, StoreError> {
    let first = cells.first().expect("a page holds at least one cell");
    let record = Object::new();
    let page = page_slot(first.key.slot);
    let key = page_key(first.key.workflow_id.as_deref(), page);
    let _ = Reflect::set(&record, &"k".into(), &key);
    let _ = Reflect::set(&record, &"s".into(), &JsValue::from(page as f64));
    let _ = Reflect::set(&record, &"json".into(), &JsValue::from(encode_page(cells)));
    Ok(record)
}

/// The page records of `cells` (grouped by workflow and slot).
fn page_records<'a>(cells: impl IntoIterator<Item = &'a Cell>) -> Result<Vec<Object>, StoreError> {
    let mut grouped: std::collections::BTreeMap<(Option<&str>, i64), Vec<&Cell>> =
        Default::default();
    for cell in cells {
        grouped
            .entry((cell.key.workflow_id.as_deref(), page_slot(cell.key.slot)))
            .or_default()
            .push(cell);
    }
    grouped.values().map(|page| page_record(page)).collect()
}

/// Puts `cells` as pages (grouped by workflow and slot) into `pages`.
pub(super) fn put_pages<'a>(
    pages: &web_sys::IdbObjectStore,
    cells: impl IntoIterator<Item = &'a Cell>,
) -> Result<usize, StoreError> {
    let records = page_records(cells)?;
    for record in &records {
        pages.put(record).map_err(js_err("rollups", 0))?;
    }
    Ok(records.len())
}

fn cells_of_page(record: &JsValue) -> Result<Vec<Cell>, StoreError> {
    let json = Reflect::get(record, &"json".into())
        .ok()
        .and_then(|j| j.as_string())
        .unwrap_or_default();
    decode_page(&json).map_err(|e| StoreError::Corrupt {
        key: "rollup page".into(),
        reason: e.to_string(),
    })
}

/// Applies contribution changes to the stored cells: every cell read at once, then changed
/// and written back (or dropped when empty), inside the caller's transaction.
async fn update_cells(
    pages: &web_sys::IdbObjectStore,
    all: Vec<(Contribution, i8)>,
    operation: &'static str,
) -> Result<(), StoreError> {
    let err = || js_err(operation, 0);
    type Deltas = Vec<(Contribution, i8)>;
    let mut by_page: std::collections::BTreeMap<(Option<String>, i64), Deltas> = Default::default();
    for (c, sign) in all {
        by_page
            .entry((c.key.workflow_id.clone(), page_slot(c.key.slot)))
            .or_default()
            .push((c, sign));
    }
    let reads = by_page
        .keys()
        .map(|(workflow, slot)| {
            pages
                .get(&page_key(workflow.as_deref(), *slot))
                .map(Request::new)
                .map_err(err())
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (((workflow, slot), deltas), read) in by_page.into_iter().zip(reads) {
        let stored = read.next().await.map_err(err())?;
        let mut cells: std::collections::BTreeMap<CellKey, Cell> = if stored.is_undefined() {
            Default::default()
        } else {
            cells_of_page(&stored)?
                .into_iter()
                .map(|c| (c.key.clone(), c))
                .collect()
        };
        for (c, sign) in &deltas {
            cells
                .entry(c.key.clone())
                .or_insert_with(|| Cell::new(c.key.clone()))
                .apply(c, *sign);
        }
        cells.retain(|_, cell| !cell.is_empty());
        if cells.is_empty() {
            pages
                .delete(&page_key(workflow.as_deref(), slot))
                .map_err(err())?;
        } else {
            let page: Vec<&Cell> = cells.values().collect();
            pages.put(page_record(&page)?.as_ref()).map_err(err())?;
        }
    }
    Ok(())
}

/// Keys `[id, version]` of versions up to `version` (all versions when `None`).
fn versions_of(id: &str, version: Option<u64>) -> IdbKeyRange {
    let lower: Array = [JsValue::from(id)].into_iter().collect();
    let upper: Array = match version {
        Some(v) => [JsValue::from(id), JsValue::from(v as f64)]
            .into_iter()
            .collect(),
        // An array sorts after every number: [id, []] is above every [id, version].
        None => [JsValue::from(id), Array::new().into()]
            .into_iter()
            .collect(),
    };
    IdbKeyRange::bound(&lower, &upper).expect("[id] sorts before [id, …]")
}

/// Keys `[id, version]` of versions strictly below `version`.
fn versions_below(id: &str, version: u64) -> IdbKeyRange {
    let lower: Array = [JsValue::from(id)].into_iter().collect();
    let upper: Array = [JsValue::from(id), JsValue::from(version as f64)]
        .into_iter()
        .collect();
    IdbKeyRange::bound_with_lower_open_and_upper_open(&lower, &upper, false, true)
        .expect("[id] sorts before [id, version]")
}

/// Executions in one IndexedDB database.
#[derive(Debug)]
pub struct IdbStore {
    db: IdbDatabase,
    fail: RefCell<Option<FailPoint>>,
}

fn js_err(operation: &'static str, records: usize) -> impl Fn(JsValue) -> StoreError {
    move |error| {
        let (name, message) = error_parts(&error);
        classify_failure(operation, records, &name, &message)
    }
}

// Records cross the wasm boundary as JSON text: `serde_json` plus the native `JSON.parse`
// and `JSON.stringify` cost far less than building objects property by property.
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, StoreError> {
    let encode_error = |message: String| StoreError::Transaction {
        operation: "encode",
        name: "DataError".into(),
        message,
    };
    let text = serde_json::to_string(value).map_err(|e| encode_error(e.to_string()))?;
    js_sys::JSON::parse(&text).map_err(|e| encode_error(error_parts(&e).1))
}

/// JSON text built in Rust as a JS value.
fn parse_stored(text: &str) -> Result<JsValue, StoreError> {
    js_sys::JSON::parse(text).map_err(|e| StoreError::Transaction {
        operation: "encode",
        name: "DataError".into(),
        message: error_parts(&e).1,
    })
}

fn from_js<T: DeserializeOwned>(key: &JsValue, value: &JsValue) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: key.as_string().unwrap_or_else(|| format!("{key:?}")),
        reason,
    };
    let text = match summary_text(value) {
        Some(text) => text,
        None => js_sys::JSON::stringify(value)
            .map_err(|e| corrupt(error_parts(&e).1))?
            .as_string()
            .unwrap_or_default(),
    };
    serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))
}

impl IdbStore {
    /// Opens (creating or migrating) the database `name`.
    pub async fn open(name: &str) -> Result<IdbStore, StoreError> {
        let db = schema::open(name).await?;
        Ok(IdbStore {
            db,
            fail: RefCell::new(None),
        })
    }

    /// Closes the connection (pending transactions still complete).
    pub fn close(&self) {
        self.db.close();
    }

    fn tx(
        &self,
        stores: &[&str],
        mode: IdbTransactionMode,
        operation: &'static str,
    ) -> Result<IdbTransaction, StoreError> {
        let names: Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
        self.db
            .transaction_with_str_sequence_and_mode(&names, mode)
            .map_err(js_err(operation, 0))
    }

    async fn collect_page(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        let (limit, cursor) = query.checked_bounds();
        let tx = self.tx(&[EXECUTIONS], IdbTransactionMode::Readonly, "history")?;
        let store = tx.object_store(EXECUTIONS).map_err(js_err("history", 0))?;
        let v = |s: &str| JsValue::from(s);
        let (index_name, prefix): (&str, Vec<JsValue>) = match query.plan() {
            IndexPlan::External(system, id) => ("by_external", vec![v(&system), v(&id)]),
            IndexPlan::FailedNode(n) => ("by_failed_node", vec![v(&n)]),
            IndexPlan::Output(o) => ("by_output", vec![v(&o)]),
            IndexPlan::WorkflowStatus(w, s) => ("by_workflow_status", vec![v(&w), v(s.as_str())]),
            IndexPlan::UserDatabase(u, d) => ("by_user_database", vec![v(&u), v(&d)]),
            IndexPlan::Workflow(w) => ("by_workflow", vec![v(&w)]),
            IndexPlan::User(u) => ("by_user", vec![v(&u)]),
            IndexPlan::DatabaseType(d) => ("by_database", vec![v(&d)]),
            IndexPlan::Status(s) => ("by_status", vec![v(s.as_str())]),
            IndexPlan::Time => ("by_started", vec![]),
        };
        let Some(range) = key_range(prefix, query.since, query.until, cursor.as_ref()) else {
            return Ok(HistoryPage::default());
        };
        let index = store.index(index_name).map_err(js_err("history", 0))?;
        if let Some(page) = Self::page_in_one_read(&index, &range, query, &cursor, limit).await? {
            return Ok(page);
        }
        let req = index
            .open_cursor_with_range_and_direction(&range, IdbCursorDirection::Prev)
            .map_err(js_err("history", 0))?;
        let cursor_req = Request::new(req.unchecked_into());
        let mut hits = Vec::with_capacity(limit + 1);
        while hits.len() <= limit {
            let next = cursor_req.next().await.map_err(js_err("history", 0))?;
            let Some(c) = next.dyn_ref::<IdbCursorWithValue>() else {
                break;
            };
            let e: Execution = from_js(
                &c.primary_key().unwrap_or(JsValue::NULL),
                &c.value().map_err(js_err("history", 0))?,
            )?;
            if query.matches(&e) && HistoryQuery::before(&cursor, &e) {
                hits.push(e);
            }
            c.continue_().map_err(js_err("history", 0))?;
        }
        Ok(paginate(hits, limit))
    }

    /// The page in one request, where the browser has `IDBIndex.getAllRecords` (newest first,
    /// `limit + 1` records): a cursor costs a round trip per record, this one in all. `None`
    /// when it cannot answer alone: no such method, or a record in the batch failed a filter
    /// the index does not cover (then the cursor walk reads as far as it must).
    async fn page_in_one_read(
        index: &web_sys::IdbIndex,
        range: &IdbKeyRange,
        query: &HistoryQuery,
        cursor: &Option<Cursor>,
        limit: usize,
    ) -> Result<Option<HistoryPage>, StoreError> {
        let method = Reflect::get(index, &"getAllRecords".into()).unwrap_or(JsValue::UNDEFINED);
        let Some(method) = method.dyn_ref::<js_sys::Function>() else {
            return Ok(None);
        };
        let options = Object::new();
        let set = |k: &str, v: &JsValue| Reflect::set(&options, &k.into(), v);
        set("query", range)
            .and_then(|_| set("count", &JsValue::from(limit as u32 + 1)))
            .and_then(|_| set("direction", &"prev".into()))
            .map_err(js_err("history", 0))?;
        let req = method
            .call1(index, &options)
            .map_err(js_err("history", 0))?;
        let records: Array = Request::new(req.unchecked_into())
            .next()
            .await
            .map_err(js_err("history", 0))?
            .unchecked_into();
        let mut hits = Vec::with_capacity(records.length() as usize);
        for record in records.iter() {
            let key = Reflect::get(&record, &"primaryKey".into()).unwrap_or(JsValue::NULL);
            let value = Reflect::get(&record, &"value".into()).map_err(js_err("history", 0))?;
            let e: Execution = from_js(&key, &value)?;
            if !(query.matches(&e) && HistoryQuery::before(cursor, &e)) {
                return Ok(None);
            }
            hits.push(e);
        }
        Ok(Some(paginate(hits, limit)))
    }

    /// One execution with its node runs, read in `tx`: its metadata, then its segment.
    async fn get_in(&self, tx: &IdbTransaction, id: &str) -> Result<Option<Execution>, StoreError> {
        let err = || js_err("get", 0);
        let key = JsValue::from(id);
        let meta = once(tx.object_store(EXECUTIONS).and_then(|s| s.get(&key)))
            .await
            .map_err(err())?;
        if meta.is_undefined() {
            return Ok(None);
        }
        let nodes = match seg_of(&meta) {
            Some(seg) => {
                let segment = once(
                    tx.object_store(SEGMENTS)
                        .and_then(|s| s.get(&JsValue::from(seg as f64))),
                )
                .await
                .map_err(err())?;
                nodes_in(&segment, id)
            }
            None => JsValue::UNDEFINED,
        };
        let mut e: Execution = from_js(&key, &meta)?;
        // JSON text since layout 2; an array in records migrated from layout 1.
        e.nodes = match nodes.as_string() {
            Some(text) => serde_json::from_str(&text).map_err(|err| StoreError::Corrupt {
                key: format!("payload {id}"),
                reason: err.to_string(),
            })?,
            None if nodes.is_undefined() => Vec::new(),
            None => from_js(&JsValue::from(format!("payload {id}")), &nodes)?,
        };
        Ok(Some(e))
    }

    /// The cells within `slots` of the pages in `range` (over the page keys, or over `by_slot`).
    async fn cells_in(
        &self,
        range: Option<JsValue>,
        by_slot: bool,
        slots: (Option<i64>, Option<i64>),
    ) -> Result<Vec<Cell>, StoreError> {
        let err = || js_err("stats", 0);
        let tx = self.tx(&[ROLLUPS], IdbTransactionMode::Readonly, "stats")?;
        let pages = tx.object_store(ROLLUPS).map_err(err())?;
        let request = match (&range, by_slot) {
            (None, _) => pages.get_all(),
            (Some(r), true) => pages.index("by_slot").and_then(|i| i.get_all_with_key(r)),
            (Some(r), false) => pages.get_all_with_key(r),
        };
        let all = once(request).await.map_err(err())?;
        let (from, to) = (slots.0.unwrap_or(i64::MIN), slots.1.unwrap_or(i64::MAX));
        let mut cells = Vec::new();
        for page in all.unchecked_into::<Array>().iter() {
            // The first and last pages may reach past the asked slots.
            cells.extend(
                cells_of_page(&page)?
                    .into_iter()
                    .filter(|c| (from..=to).contains(&c.key.slot)),
            );
        }
        Ok(cells)
    }

    /// Every stored execution (metadata) of a workflow, with the segment holding its nodes.
    async fn of_workflow(
        &self,
        tx: &IdbTransaction,
        workflow_id: &str,
    ) -> Result<Vec<(Execution, JsValue)>, StoreError> {
        let range = key_range(vec![JsValue::from(workflow_id)], None, None, None)
            .expect("an open range is always valid");
        let all = once(
            tx.object_store(EXECUTIONS)
                .and_then(|s| s.index("by_workflow"))
                .and_then(|i| i.get_all_with_key(&range)),
        )
        .await
        .map_err(js_err("clear", 0))?;
        all.unchecked_into::<Array>()
            .iter()
            .map(|v| {
                Ok((
                    from_js(&Reflect::get(&v, &"id".into()).unwrap_or_default(), &v)?,
                    v,
                ))
            })
            .collect()
    }

    /// The [`PER_ID`] stores of `tx`, in that order.
    fn per_id_stores(
        &self,
        tx: &IdbTransaction,
        operation: &'static str,
    ) -> Result<Vec<web_sys::IdbObjectStore>, StoreError> {
        PER_ID
            .iter()
            .map(|name| tx.object_store(name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(js_err(operation, 0))
    }

    /// How many node-run segments there are and how many entries each holds, by key: what
    /// compaction leaves behind (tests and the bench check it).
    #[doc(hidden)]
    pub async fn segment_census(&self) -> Result<Vec<(u64, usize)>, StoreError> {
        let tx = self.tx(&[SEGMENTS], IdbTransactionMode::Readonly, "census")?;
        let segments = tx.object_store(SEGMENTS).map_err(js_err("census", 0))?;
        segment::census(&segments)
            .await
            .map_err(js_err("census", 0))
    }
}

/// The key range over `[prefix…, startedAt, id]` for a query, or `None` when it is empty.
fn key_range(
    prefix: Vec<JsValue>,
    since: Option<i64>,
    until: Option<i64>,
    cursor: Option<&Cursor>,
) -> Option<IdbKeyRange> {
    let key = |tail: &[JsValue]| -> JsValue {
        prefix
            .iter()
            .cloned()
            .chain(tail.iter().cloned())
            .collect::<Array>()
            .into()
    };
    // An empty array sorts after every number and string, so it closes a range from above.
    let top = || JsValue::from(Array::new());
    let lower = match since {
        Some(s) => Some(key(&[JsValue::from(s as f64)])),
        None if !prefix.is_empty() => Some(key(&[])),
        None => None,
    };
    let (upper, upper_open) = match (cursor, until) {
        (Some(c), u) if u.is_none_or(|u| c.started_at <= u) => (
            key(&[
                JsValue::from(c.started_at as f64),
                JsValue::from(c.id.as_str()),
            ]),
            true,
        ),
        (_, Some(u)) => (key(&[JsValue::from(u as f64), top()]), false),
        (_, None) => (key(&[top()]), false),
    };
    match lower {
        // `bound` throws when lower > upper: that range is empty.
        Some(lower) => {
            IdbKeyRange::bound_with_lower_open_and_upper_open(&lower, &upper, false, upper_open)
                .ok()
        }
        None => IdbKeyRange::upper_bound_with_open(&upper, upper_open).ok(),
    }
}

impl Store for IdbStore {
    async fn write(&self, batch: &[Execution]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let fail_err = js_err("write", batch.len());
        let tx = self.tx(
            &[EXECUTIONS, SEGMENTS, OUTBOX, ROLLUPS],
            IdbTransactionMode::Readwrite,
            "write",
        )?;
        let done = TxDone::new(&tx);
        let abort = |error: StoreError| {
            let _ = tx.abort();
            error
        };
        let meta = tx.object_store(EXECUTIONS).map_err(&fail_err)?;
        let segments = tx.object_store(SEGMENTS).map_err(&fail_err)?;
        // What each record replaces (for the rollups and its old segment entry), then the
        // last segment key. Requests of a transaction complete in the order they were made,
        // so once the last one has its result every `get` has too: one await, no listener
        // per record.
        let previous = batch
            .iter()
            .map(|e| meta.get(&JsValue::from(e.id.as_str())).map_err(&fail_err))
            .collect::<Result<Vec<_>, _>>()?;
        let last_key = segment::start_last_key(&segments).map_err(&fail_err)?;
        let seg = segment::next_key(last_key).await.map_err(&fail_err)?;
        // Each id is written once, at its last position in the batch.
        let mut last_at: std::collections::HashMap<&str, usize> = Default::default();
        for (i, e) in batch.iter().enumerate() {
            last_at.insert(&e.id, i);
        }
        let mut latest: std::collections::HashMap<&str, &Execution> = Default::default();
        let mut deltas = Vec::new();
        let mut garbage = Removals::new();
        // Whether an id had a stored version: only then can older outbox marks exist.
        let mut replaces: std::collections::HashSet<&str> = Default::default();
        for (e, read) in batch.iter().zip(&previous) {
            let stored = read.result().map_err(&fail_err)?;
            let old = match latest.get(e.id.as_str()) {
                Some(earlier_in_batch) => Some((*earlier_in_batch).clone()),
                None if stored.is_undefined() => None,
                None => {
                    replaces.insert(&e.id);
                    note_removal(&mut garbage, &stored, &e.id);
                    Some(
                        from_js::<Execution>(&JsValue::from(e.id.as_str()), &stored)
                            .map_err(abort)?,
                    )
                }
            };
            deltas.extend(changes(old.as_ref(), Some(e)));
            latest.insert(&e.id, e);
        }
        // The whole batch's metadata and outbox marks as one JSON text, parsed once:
        // `[meta, mark, meta, mark, …]`. Metadata is stored as objects (its fields are
        // indexed); node runs as one text in the batch's one segment.
        let queued_at = js_sys::Date::now() as i64;
        let mut text = String::with_capacity(batch.len() * 512);
        let mut segment_text = segment::SegmentText::new();
        let mut written_ids = Vec::with_capacity(last_at.len());
        text.push('[');
        for (i, e) in batch.iter().enumerate() {
            if last_at.get(e.id.as_str()) != Some(&i) {
                continue;
            }
            let nodes = serde_json::to_string(&e.nodes).map_err(|err| {
                abort(StoreError::Transaction {
                    operation: "encode",
                    name: "DataError".into(),
                    message: err.to_string(),
                })
            })?;
            segment_text.push(&e.id, &nodes);
            if text.len() > 1 {
                text.push(',');
            }
            meta_json(e, Some(seg), &mut text).map_err(abort)?;
            let id = serde_json::to_string(&e.id).unwrap_or_default();
            text.push_str(&format!(
                r#",{{"id":{id},"version":{},"queuedAt":{queued_at}}}"#,
                e.version
            ));
            written_ids.push(e);
        }
        text.push(']');
        let records: Array = parse_stored(&text).map_err(abort)?.unchecked_into();
        let segment_record = segment_text.record(seg).map_err(&fail_err)?;
        let outbox = tx.object_store(OUTBOX).map_err(&fail_err)?;
        let fail = self.fail.borrow_mut().take();
        let mut puts = 0usize;
        let mut put = |store: &web_sys::IdbObjectStore, value: &JsValue| {
            if let Some(f) = fail.as_ref().filter(|f| f.after_puts == puts) {
                return Err(classify_failure(
                    "write",
                    batch.len(),
                    &f.error_name,
                    "injected failure",
                ));
            }
            puts += 1;
            store.put(value).map(drop).map_err(&fail_err)
        };
        let mut written: Result<(), StoreError> = Ok(());
        for (k, e) in written_ids.iter().enumerate() {
            let k = k as u32;
            // A new record has no older marks to replace: no range delete for it.
            if replaces.contains(e.id.as_str()) {
                written = outbox
                    .delete(&versions_below(&e.id, e.version))
                    .map(drop)
                    .map_err(&fail_err);
            }
            written = written
                .and_then(|()| put(&meta, &records.get(2 * k)))
                .and_then(|()| put(&outbox, &records.get(2 * k + 1)));
            if written.is_err() {
                break;
            }
        }
        let written = match written.and_then(|()| put(&segments, &segment_record)) {
            Ok(()) => {
                let rollups = tx.object_store(ROLLUPS).map_err(&fail_err)?;
                match update_cells(&rollups, deltas, "write").await {
                    Ok(()) => drop_entries(&segments, garbage, &fail_err).await,
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(error),
        };
        if let Err(error) = written {
            let _ = tx.abort();
            let _ = done.wait().await;
            return Err(error);
        }
        done.wait().await.map_err(fail_err)
    }

    async fn get(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        let tx = self.tx(&[EXECUTIONS, SEGMENTS], IdbTransactionMode::Readonly, "get")?;
        self.get_in(&tx, id).await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        self.collect_page(query).await
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let err = || js_err("delete", 1);
        let tx = self.tx(ALL_AND_ROLLUPS, IdbTransactionMode::Readwrite, "delete")?;
        let done = TxDone::new(&tx);
        let key = JsValue::from(id);
        let meta = tx.object_store(EXECUTIONS).map_err(err())?;
        let stored = once(meta.get(&key)).await.map_err(err())?;
        let existed = !stored.is_undefined();
        if existed {
            let old: Execution = from_js(&key, &stored)?;
            let rollups = tx.object_store(ROLLUPS).map_err(err())?;
            update_cells(&rollups, changes(Some(&old), None), "delete").await?;
            let mut garbage = Removals::new();
            note_removal(&mut garbage, &stored, id);
            let segments = tx.object_store(SEGMENTS).map_err(err())?;
            drop_entries(&segments, garbage, err()).await?;
        }
        let stores = self.per_id_stores(&tx, "delete")?;
        delete_per_id(&stores, id, err())?;
        done.wait().await.map_err(err())?;
        Ok(existed)
    }

    async fn clear(&self, workflow_id: Option<&str>) -> Result<usize, StoreError> {
        let tx = self.tx(ALL_AND_ROLLUPS, IdbTransactionMode::Readwrite, "clear")?;
        let done = TxDone::new(&tx);
        let removed = match workflow_id {
            None => {
                let n = once(tx.object_store(EXECUTIONS).and_then(|s| s.count()))
                    .await
                    .map_err(js_err("clear", 0))?
                    .as_f64()
                    .unwrap_or(0.0) as usize;
                for name in ALL_AND_ROLLUPS {
                    tx.object_store(name)
                        .and_then(|s| s.clear())
                        .map_err(js_err("clear", n))?;
                }
                n
            }
            Some(w) => {
                let removed = self.of_workflow(&tx, w).await?;
                let err = || js_err("clear", removed.len());
                let rollups = tx.object_store(ROLLUPS).map_err(err())?;
                let deltas = removed
                    .iter()
                    .flat_map(|(e, _)| changes(Some(e), None))
                    .collect();
                update_cells(&rollups, deltas, "clear").await?;
                let mut garbage = Removals::new();
                for (e, stored) in &removed {
                    note_removal(&mut garbage, stored, &e.id);
                }
                let segments = tx.object_store(SEGMENTS).map_err(err())?;
                drop_entries(&segments, garbage, err()).await?;
                let stores = self.per_id_stores(&tx, "clear")?;
                for (e, _) in &removed {
                    delete_per_id(&stores, &e.id, err())?;
                }
                removed.len()
            }
        };
        done.wait().await.map_err(js_err("clear", removed))?;
        Ok(removed)
    }

    async fn running(&self) -> Result<Vec<Execution>, StoreError> {
        let mut out = Vec::new();
        let mut query = HistoryQuery {
            status: Some(Status::Running),
            limit: Some(crate::history::MAX_PAGE_SIZE),
            ..HistoryQuery::default()
        };
        loop {
            let page = self.collect_page(&query).await?;
            for summary in page.items {
                out.extend(self.get(&summary.id).await?);
            }
            match page.next_cursor {
                Some(next) => query.cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    async fn outbox(
        &self,
        limit: usize,
        after: Option<&QueuePosition>,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let err = || js_err("outbox", 0);
        let tx = self.tx(
            &[OUTBOX, EXECUTIONS, SEGMENTS],
            IdbTransactionMode::Readonly,
            "outbox",
        )?;
        let index = tx
            .object_store(OUTBOX)
            .and_then(|s| s.index("by_queued"))
            .map_err(err())?;
        let range: JsValue = match after {
            Some(p) => {
                let from: Array = [JsValue::from(p.queued_at), JsValue::from(p.id.as_str())]
                    .into_iter()
                    .collect();
                IdbKeyRange::lower_bound_with_open(&from, true)
                    .map_err(err())?
                    .into()
            }
            None => JsValue::NULL,
        };
        // Marks in queue order, the longest waiting first.
        let marks = once(index.get_all_with_key_and_limit(&range, limit as u32))
            .await
            .map_err(err())?;
        let positions: Vec<QueuePosition> = marks
            .unchecked_into::<Array>()
            .iter()
            .filter_map(|m| {
                Some(QueuePosition {
                    queued_at: Reflect::get(&m, &"queuedAt".into()).ok()?.as_f64()?,
                    id: Reflect::get(&m, &"id".into()).ok()?.as_string()?,
                })
            })
            .collect();
        // Every read is issued before any is awaited (one round trip, not one per record):
        // the metadata, then the segments they name.
        let metas = tx.object_store(EXECUTIONS).map_err(err())?;
        let reads = positions
            .iter()
            .map(|p| {
                metas
                    .get(&JsValue::from(p.id.as_str()))
                    .map(Request::new)
                    .map_err(err())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut found = Vec::with_capacity(positions.len());
        for (position, read) in positions.into_iter().zip(reads) {
            let meta = read.next().await.map_err(err())?;
            if !meta.is_undefined() {
                found.push((position, meta));
            }
        }
        let segments = tx.object_store(SEGMENTS).map_err(err())?;
        let wanted: std::collections::BTreeSet<u64> =
            found.iter().filter_map(|(_, m)| seg_of(m)).collect();
        let reads = wanted
            .iter()
            .map(|seg| {
                segments
                    .get(&JsValue::from(*seg as f64))
                    .map(Request::new)
                    .map_err(err())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut by_key = std::collections::BTreeMap::new();
        for (seg, read) in wanted.into_iter().zip(reads) {
            by_key.insert(seg, read.next().await.map_err(err())?);
        }
        found
            .into_iter()
            .map(|(position, meta)| {
                let nodes = seg_of(&meta)
                    .and_then(|seg| by_key.get(&seg))
                    .map_or(JsValue::UNDEFINED, |s| nodes_in(s, &position.id));
                outgoing(position, &meta, &nodes)
            })
            .collect()
    }

    async fn settle(&self, synced: &[Synced], refused: &[DeadLetter]) -> Result<(), StoreError> {
        let records = synced.len() + refused.len();
        let err = || js_err("settle", records);
        let tx = self.tx(
            &[OUTBOX, DEAD_LETTERS],
            IdbTransactionMode::Readwrite,
            "settle",
        )?;
        let done = TxDone::new(&tx);
        let outbox = tx.object_store(OUTBOX).map_err(err())?;
        let dead = tx.object_store(DEAD_LETTERS).map_err(err())?;
        // Blind range deletes: nothing is read, and newer versions are out of range.
        for s in synced {
            let acknowledged = versions_of(&s.id, Some(s.version));
            outbox.delete(&acknowledged).map_err(err())?;
            dead.delete(&acknowledged).map_err(err())?;
        }
        for r in refused {
            outbox
                .delete(&versions_of(&r.id, Some(r.version)))
                .map_err(err())?;
            dead.delete(&versions_below(&r.id, r.version))
                .map_err(err())?;
            dead.put(&to_js(r)?).map_err(err())?;
        }
        done.wait().await.map_err(err())
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let err = || js_err("count", 0);
        let tx = self.tx(
            &[OUTBOX, DEAD_LETTERS],
            IdbTransactionMode::Readonly,
            "count",
        )?;
        let count = |name: &str| {
            let req = tx.object_store(name).and_then(|s| s.count());
            async move {
                once(req)
                    .await
                    .map(|n| n.as_f64().unwrap_or(0.0) as usize)
                    .map_err(err())
            }
        };
        Ok(OutboxCounts {
            pending: count(OUTBOX).await?,
            dead_lettered: count(DEAD_LETTERS).await?,
        })
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let err = || js_err("dead letters", 0);
        let tx = self.tx(
            &[DEAD_LETTERS],
            IdbTransactionMode::Readonly,
            "dead letters",
        )?;
        let all = once(
            tx.object_store(DEAD_LETTERS)
                .and_then(|s| s.index("by_at"))
                .and_then(|i| i.get_all()),
        )
        .await
        .map_err(err())?;
        all.unchecked_into::<Array>()
            .iter()
            .map(|v| from_js(&Reflect::get(&v, &"id".into()).unwrap_or_default(), &v))
            .collect()
    }

    async fn retry_dead_letters(&self, ids: Option<&[String]>) -> Result<usize, StoreError> {
        let letters = self.dead_letters().await?;
        let chosen: Vec<&DeadLetter> = letters
            .iter()
            .filter(|d| ids.is_none_or(|ids| ids.contains(&d.id)))
            .collect();
        let err = || js_err("retry", chosen.len());
        let tx = self.tx(
            &[OUTBOX, DEAD_LETTERS],
            IdbTransactionMode::Readwrite,
            "retry",
        )?;
        let done = TxDone::new(&tx);
        let outbox = tx.object_store(OUTBOX).map_err(err())?;
        let dead = tx.object_store(DEAD_LETTERS).map_err(err())?;
        let queued_at = JsValue::from(js_sys::Date::now());
        for letter in &chosen {
            dead.delete(&versions_of(&letter.id, None)).map_err(err())?;
            // A version already waiting (the same or newer) keeps its place.
            let waiting = once(outbox.count_with_key(&versions_of(&letter.id, None).into()))
                .await
                .map_err(err())?;
            if waiting.as_f64().unwrap_or(0.0) == 0.0 {
                outbox
                    .put(&outbox_mark(&letter.id, letter.version, &queued_at))
                    .map_err(err())?;
            }
        }
        done.wait().await.map_err(err())?;
        Ok(chosen.len())
    }

    async fn discard_dead_letters(&self, ids: Option<&[String]>) -> Result<usize, StoreError> {
        let err = || js_err("discard", ids.map_or(0, <[String]>::len));
        let tx = self.tx(&[DEAD_LETTERS], IdbTransactionMode::Readwrite, "discard")?;
        let done = TxDone::new(&tx);
        let dead = tx.object_store(DEAD_LETTERS).map_err(err())?;
        let counted = |n: JsValue| n.as_f64().unwrap_or(0.0) as usize;
        // Counted and deleted in the one transaction: a letter settled meanwhile by another
        // tab is neither counted nor resurrected.
        let mut removed = 0;
        match ids {
            None => {
                removed = counted(once(dead.count()).await.map_err(err())?);
                dead.clear().map_err(err())?;
            }
            Some(ids) => {
                for id in ids {
                    let range: JsValue = versions_of(id, None).into();
                    removed += counted(once(dead.count_with_key(&range)).await.map_err(err())?);
                    dead.delete(&range).map_err(err())?;
                }
            }
        }
        done.wait().await.map_err(err())?;
        Ok(removed)
    }

    async fn cells(
        &self,
        from_slot: Option<i64>,
        to_slot: Option<i64>,
    ) -> Result<Vec<Cell>, StoreError> {
        let at = |slot: i64| JsValue::from(page_slot(slot) as f64);
        let range = match (from_slot, to_slot) {
            (None, None) => None,
            (Some(f), None) => Some(IdbKeyRange::lower_bound(&at(f))),
            (None, Some(t)) => Some(IdbKeyRange::upper_bound(&at(t))),
            (Some(f), Some(t)) if f > t => return Ok(Vec::new()),
            (Some(f), Some(t)) => Some(IdbKeyRange::bound(&at(f), &at(t))),
        };
        let range = range.transpose().map_err(js_err("stats", 0))?;
        self.cells_in(range.map(Into::into), true, (from_slot, to_slot))
            .await
    }

    async fn workflow_cells(
        &self,
        workflow_id: &str,
        from_slot: Option<i64>,
        to_slot: Option<i64>,
    ) -> Result<Vec<Cell>, StoreError> {
        if from_slot.zip(to_slot).is_some_and(|(f, t)| f > t) {
            return Ok(Vec::new());
        }
        // Page keys are [workflowId, page]: one contiguous range per workflow.
        let lower = page_key(Some(workflow_id), from_slot.map_or(i64::MIN / 2, page_slot));
        let upper = page_key(Some(workflow_id), to_slot.map_or(i64::MAX / 2, page_slot));
        let range = IdbKeyRange::bound(&lower, &upper).map_err(js_err("stats", 0))?;
        self.cells_in(Some(range.into()), false, (from_slot, to_slot))
            .await
    }

    async fn rebuild_rollups(&self) -> Result<usize, StoreError> {
        let err = || js_err("rebuild", 0);
        let tx = self.tx(
            &[EXECUTIONS, ROLLUPS],
            IdbTransactionMode::Readwrite,
            "rebuild",
        )?;
        let done = TxDone::new(&tx);
        let all = once(tx.object_store(EXECUTIONS).and_then(|s| s.get_all()))
            .await
            .map_err(err())?;
        let records = all
            .unchecked_into::<Array>()
            .iter()
            .map(|v| from_js::<Execution>(&Reflect::get(&v, &"id".into()).unwrap_or_default(), &v))
            .collect::<Result<Vec<_>, _>>()?;
        let rebuilt = Rollups::rebuild(&records);
        let rollups = tx.object_store(ROLLUPS).map_err(err())?;
        rollups.clear().map_err(err())?;
        let n = rebuilt.cells().count();
        put_pages(&rollups, rebuilt.cells())?;
        done.wait().await.map_err(err())?;
        Ok(n)
    }

    async fn prune(&self, request: &PruneRequest) -> Result<PruneReport, StoreError> {
        let err = || js_err("prune", 0);
        let tx = self.tx(ALL_AND_ROLLUPS, IdbTransactionMode::Readwrite, "prune")?;
        let done = TxDone::new(&tx);
        let stores = self.per_id_stores(&tx, "prune")?;
        let (meta, outbox) = (&stores[0], &stores[1]);
        let cursor = Request::new(
            meta.index("by_started")
                .and_then(|i| i.open_cursor())
                .map_err(err())?
                .unchecked_into(),
        );
        let mut report = PruneReport {
            done: true,
            ..PruneReport::default()
        };
        let mut deltas = Vec::new();
        let mut garbage = Removals::new();
        loop {
            let next = cursor.next().await.map_err(err())?;
            let Some(c) = next.dyn_ref::<IdbCursorWithValue>() else {
                break;
            };
            let key = c.primary_key().map_err(err())?;
            let stored = c.value().map_err(err())?;
            let e: Execution = from_js(&key, &stored)?;
            let unsynced = request.protect_unsynced
                && once(outbox.count_with_key(&versions_of(&e.id, None)))
                    .await
                    .map_err(err())?
                    .as_f64()
                    .unwrap_or(0.0)
                    > 0.0;
            match verdict(&e, report.removed.len(), request, unsynced) {
                Verdict::Remove => {
                    delete_per_id(&stores, &e.id, err())?;
                    note_removal(&mut garbage, &stored, &e.id);
                    deltas.extend(changes(Some(&e), None));
                    report.removed.push(e.id);
                }
                Verdict::KeepUnsynced => report.kept_unsynced += 1,
                Verdict::KeepRunning => {}
                Verdict::Stop => {
                    report.done = report.removed.len() < request.limit;
                    break;
                }
            }
            c.continue_().map_err(err())?;
        }
        let rollups = tx.object_store(ROLLUPS).map_err(err())?;
        update_cells(&rollups, deltas, "prune").await?;
        // Compaction: only the removed records' entries go; a kept record's stay.
        let segments = tx.object_store(SEGMENTS).map_err(err())?;
        drop_entries(&segments, garbage, err()).await?;
        done.wait().await.map_err(err())?;
        Ok(report)
    }

    fn inject_failure(&self, fail: FailPoint) {
        *self.fail.borrow_mut() = Some(fail);
    }
}

/// The JSON of a stored execution, spliced from its metadata and its payload's node text:
/// the record is sent as stored, without decoding and re-encoding it.
fn outgoing(
    position: QueuePosition,
    meta: &JsValue,
    nodes: &JsValue,
) -> Result<Outgoing, StoreError> {
    let id = position.id.clone();
    let corrupt = |reason: String| StoreError::Corrupt {
        key: id.clone(),
        reason,
    };
    let text = |value: &JsValue| -> Result<String, StoreError> {
        js_sys::JSON::stringify(value)
            .map_err(|e| corrupt(error_parts(&e).1))?
            .as_string()
            .ok_or_else(|| corrupt("not JSON".into()))
    };
    let version = Reflect::get(meta, &"version".into())
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0) as u64;
    let mut json = match summary_text(meta) {
        Some(json) => json,
        None => {
            strip_stored_fields(meta);
            text(meta)?
        }
    };
    // JSON text since layout 2; an array in records migrated from layout 1.
    let nodes = match nodes.as_string() {
        Some(nodes) => Some(nodes),
        None if nodes.is_undefined() => None,
        None => Some(text(nodes)?),
    };
    if let Some(nodes) = nodes.filter(|n| n != "[]") {
        if !json.ends_with('}') {
            return Err(corrupt("the stored metadata is not an object".into()));
        }
        json.pop();
        json.push_str(if json.len() > 1 {
            ",\"nodes\":"
        } else {
            "\"nodes\":"
        });
        json.push_str(&nodes);
        json.push('}');
    }
    Ok(Outgoing {
        id,
        version,
        json,
        position,
    })
}

/// The outbox entry that marks version `version` of execution `id` to be sent.
fn outbox_mark(id: &str, version: u64, queued_at: &JsValue) -> Object {
    let mark = Object::new();
    let _ = Reflect::set(&mark, &"id".into(), &JsValue::from(id));
    let _ = Reflect::set(&mark, &"version".into(), &JsValue::from(version as f64));
    let _ = Reflect::set(&mark, &"queuedAt".into(), queued_at);
    mark
}
