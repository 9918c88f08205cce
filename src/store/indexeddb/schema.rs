//! Opening the database, creating its layout, and migrating older layouts.
//!
//! Versions:
//! - 1: the pre-release layout: one `executions` store holding whole executions, node runs
//!   embedded, with one index `by_started` on `startedAt`.
//! - 2: metadata and payloads in separate stores, one index per history filter.
//! - 3: the sync outbox and dead letters, and stats rollups. Every record stored before is
//!   put in the outbox (so history kept by an older version reaches the server too) and
//!   counted in the rollups.
//! - 4: rollup cells stored a page per workflow and slot (`rollup_pages`) instead of one
//!   record per cell (`rollups`, dropped): the pages are rebuilt from the records.
//! - 5: node runs in segments, one record per flushed batch (`segments`, see
//!   [`super::segment`]) instead of one `payloads` record per execution. The upgrade moves
//!   every payload into segments of [`MIGRATED_SEGMENT_SIZE`], reading one segment's worth at
//!   a time, points each metadata record at its segment and drops `payloads`; metadata, outbox marks, dead letters and rollup
//!   pages are kept as they are. It runs inside the upgrade transaction: all or nothing.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    IdbCursorWithValue, IdbDatabase, IdbFactory, IdbKeyRange, IdbObjectStore,
    IdbObjectStoreParameters, IdbOpenDbRequest, IdbTransaction, IdbVersionChangeEvent,
};

use super::request::{error_parts, Request};
use super::{DEAD_LETTERS, EXECUTIONS, OUTBOX, ROLLUPS, SEGMENTS};
use crate::error::StoreError;

/// The database version this library creates and migrates to.
pub const DB_VERSION: u32 = 5;

/// The one-record-per-execution node run store of versions 2 to 4.
const PAYLOADS: &str = "payloads";

/// How many executions' node runs a migrated segment holds.
const MIGRATED_SEGMENT_SIZE: usize = 1000;

/// The one-record-per-cell rollup store of version 3.
const CELL_ROLLUPS_V3: &str = "rollups";

const INDEXES: &[(&str, &[&str])] = &[
    ("by_started", &["startedAt", "id"]),
    ("by_workflow", &["workflowId", "startedAt", "id"]),
    ("by_user", &["userId", "startedAt", "id"]),
    ("by_database", &["query.databaseType", "startedAt", "id"]),
    ("by_status", &["status", "startedAt", "id"]),
    (
        "by_workflow_status",
        &["workflowId", "status", "startedAt", "id"],
    ),
    (
        "by_user_database",
        &["userId", "query.databaseType", "startedAt", "id"],
    ),
];

const MULTI_ENTRY_INDEXES: &[(&str, &str)] = &[
    ("by_failed_node", "failedNodeKeys"),
    ("by_output", "outputKeys"),
    ("by_external", "externalKeys"),
];

fn factory() -> Result<IdbFactory, JsValue> {
    Reflect::get(&js_sys::global(), &"indexedDB".into())?
        .dyn_into::<IdbFactory>()
        .map_err(|_| JsValue::from_str("IndexedDB is not available in this environment"))
}

fn open_error(name: &str) -> impl Fn(JsValue) -> StoreError + '_ {
    move |e| {
        let (kind, message) = error_parts(&e);
        StoreError::Open {
            name: name.to_owned(),
            reason: format!("{kind}: {message}"),
        }
    }
}

fn store_params(key_path: &str) -> IdbObjectStoreParameters {
    let params = IdbObjectStoreParameters::new();
    params.set_key_path(&JsValue::from_str(key_path));
    params
}

fn store_key_path(parts: &[&str]) -> IdbObjectStoreParameters {
    let params = IdbObjectStoreParameters::new();
    params.set_key_path(&key_path(parts));
    params
}

fn key_path(parts: &[&str]) -> Array {
    parts.iter().map(|p| JsValue::from_str(p)).collect()
}

fn has_store(db: &IdbDatabase, name: &str) -> bool {
    db.object_store_names().contains(name)
}

/// Opens `name` at [`DB_VERSION`], creating or migrating it inside the upgrade transaction.
pub async fn open(name: &str) -> Result<IdbDatabase, StoreError> {
    let req: IdbOpenDbRequest = factory()
        .and_then(|f| f.open_with_u32(name, DB_VERSION))
        .map_err(open_error(name))?;
    let upgrade_error: Rc<RefCell<Option<String>>> = Rc::default();
    let upgrade_error_in = upgrade_error.clone();
    let req_in = req.clone();
    let on_upgrade =
        Closure::<dyn FnMut(IdbVersionChangeEvent)>::new(move |event: IdbVersionChangeEvent| {
            let old = event.old_version() as u32;
            let result = req_in
                .result()
                .and_then(|db| db.dyn_into::<IdbDatabase>())
                .and_then(|db| {
                    let tx = req_in
                        .transaction()
                        .ok_or_else(|| JsValue::from_str("no upgrade transaction"))?;
                    upgrade(&db, &tx, old)
                });
            if let Err(e) = result {
                let (kind, message) = error_parts(&e);
                *upgrade_error_in.borrow_mut() = Some(format!(
                    "upgrade from version {old} failed: {kind}: {message}"
                ));
                if let Some(tx) = req_in.transaction() {
                    let _ = tx.abort();
                }
            }
        });
    req.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let opened = Request::new(req.clone().unchecked_into()).next().await;
    req.set_onupgradeneeded(None);
    let db = match opened {
        Ok(db) => db.unchecked_into::<IdbDatabase>(),
        Err(e) => {
            let reason = upgrade_error.borrow_mut().take();
            return Err(match reason {
                Some(reason) => StoreError::Open {
                    name: name.to_owned(),
                    reason,
                },
                None => open_error(name)(e),
            });
        }
    };
    // Another tab upgrading the database asks us to let go; holding on would block it.
    let db_in = db.clone();
    let on_version_change = Closure::<dyn FnMut()>::new(move || db_in.close());
    db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
    on_version_change.forget();
    Ok(db)
}

fn upgrade(db: &IdbDatabase, tx: &IdbTransaction, old: u32) -> Result<(), JsValue> {
    let executions: IdbObjectStore = if has_store(db, EXECUTIONS) {
        tx.object_store(EXECUTIONS)?
    } else {
        db.create_object_store_with_optional_parameters(EXECUTIONS, &store_params("id"))?
    };
    // Version 1 had `by_started` on `startedAt` alone: rebuild every index from the table.
    for (index, parts) in INDEXES {
        if executions.index_names().contains(index) {
            executions.delete_index(index)?;
        }
        executions.create_index_with_str_sequence(index, &key_path(parts))?;
    }
    // Multi-entry indexes over derived arrays of `[value, startedAt, id]` keys (see
    // `index_keys`): one index entry per failed node, output, external id.
    for (index, field) in MULTI_ENTRY_INDEXES {
        if executions.index_names().contains(index) {
            executions.delete_index(index)?;
        }
        let params = web_sys::IdbIndexParameters::new();
        params.set_multi_entry(true);
        executions.create_index_with_str_and_optional_parameters(index, field, &params)?;
    }
    if !has_store(db, SEGMENTS) {
        db.create_object_store_with_optional_parameters(SEGMENTS, &store_params("seg"))?;
    }
    let segments = tx.object_store(SEGMENTS)?;
    // Older layouts' payloads (version 1 had them embedded: the split needs the store) are
    // moved into segments below, then the store is dropped.
    let payloads = match (1..5).contains(&old) {
        true if has_store(db, PAYLOADS) => Some(tx.object_store(PAYLOADS)?),
        true => {
            Some(db.create_object_store_with_optional_parameters(PAYLOADS, &store_params("id"))?)
        }
        false => None,
    };
    let outbox = if has_store(db, OUTBOX) {
        tx.object_store(OUTBOX)?
    } else {
        let outbox = db.create_object_store_with_optional_parameters(
            OUTBOX,
            &store_key_path(&["id", "version"]),
        )?;
        outbox.create_index_with_str_sequence("by_queued", &key_path(&["queuedAt", "id"]))?;
        outbox
    };
    if !has_store(db, DEAD_LETTERS) {
        let dead = db.create_object_store_with_optional_parameters(
            DEAD_LETTERS,
            &store_key_path(&["id", "version"]),
        )?;
        dead.create_index_with_str_sequence("by_at", &key_path(&["at", "id"]))?;
    }
    if has_store(db, CELL_ROLLUPS_V3) {
        db.delete_object_store(CELL_ROLLUPS_V3)?;
    }
    let rollups = if has_store(db, ROLLUPS) {
        tx.object_store(ROLLUPS)?
    } else {
        let pages = db.create_object_store_with_optional_parameters(ROLLUPS, &store_params("k"))?;
        pages.create_index_with_str("by_slot", "s")?;
        pages
    };
    if let Some(payloads) = payloads {
        let tx = tx.clone();
        let db = db.clone();
        // Runs in microtasks inside the upgrade transaction, which stays open while only IDB
        // requests are awaited; the open request succeeds only after it commits. One task,
        // one step after the other: both steps rewrite the same records.
        wasm_bindgen_futures::spawn_local(async move {
            let migrated = async {
                if old == 1 {
                    let cursor = Request::new(executions.open_cursor()?.unchecked_into());
                    split_payloads(&cursor, &payloads).await?;
                }
                // Version 4 has its rollup pages already.
                if old < 4 {
                    let cursor = Request::new(executions.open_cursor()?.unchecked_into());
                    // Version 3 had an outbox already; before it, everything is queued.
                    let outbox = (old < 3).then_some(&outbox);
                    count_and_enqueue(&cursor, outbox, &rollups).await?;
                }
                payloads_to_segments(&executions, &payloads, &segments).await?;
                db.delete_object_store(PAYLOADS)
            };
            if let Err(e) = migrated.await {
                web_sys::console::error_2(
                    &"runledger: migrating the execution store failed; the upgrade is rolled back"
                        .into(),
                    &e,
                );
                let _ = tx.abort();
            }
        });
    }
    Ok(())
}

/// Counts every stored execution in the rollup pages and, with `outbox`, puts it there at its
/// current version.
async fn count_and_enqueue(
    cursor: &Request,
    outbox: Option<&IdbObjectStore>,
    pages: &IdbObjectStore,
) -> Result<(), JsValue> {
    let queued_at = JsValue::from(js_sys::Date::now());
    let mut cells = crate::stats::Rollups::default();
    loop {
        let next = cursor.next().await?;
        let Some(c) = next.dyn_ref::<IdbCursorWithValue>() else {
            super::put_pages(pages, cells.cells()).map_err(|e| JsValue::from(e.to_string()))?;
            return Ok(());
        };
        let record = c.value()?;
        let text = js_sys::JSON::stringify(&record)?
            .as_string()
            .unwrap_or_default();
        let e: crate::model::Execution = serde_json::from_str(&text).map_err(|e| {
            JsValue::from(format!("record {:?} cannot be read: {e}", c.primary_key()))
        })?;
        cells.replace(None, Some(&e));
        let Some(outbox) = outbox else {
            c.continue_()?;
            continue;
        };
        let mark = js_sys::Object::new();
        Reflect::set(&mark, &"id".into(), &c.primary_key()?)?;
        let version = Reflect::get(&record, &"version".into())?;
        let version = if version.is_undefined() {
            JsValue::from(0)
        } else {
            version
        };
        Reflect::set(&mark, &"version".into(), &version)?;
        Reflect::set(&mark, &"queuedAt".into(), &queued_at)?;
        outbox.put(&mark)?;
        c.continue_()?;
    }
}

/// Moves every payload record into segments of [`MIGRATED_SEGMENT_SIZE`] and points each
/// metadata record at its segment, one segment at a time: a chunk of payloads is read in key
/// order (`getAll` from just after the last key read, at most one segment's worth), written as
/// one segment, and the metadata records of that key range are pointed at it, so memory holds
/// one chunk whatever the size of the store. All of it inside the upgrade transaction.
async fn payloads_to_segments(
    executions: &IdbObjectStore,
    payloads: &IdbObjectStore,
    segments: &IdbObjectStore,
) -> Result<(), JsValue> {
    let mut after: Option<JsValue> = None;
    let mut seg = 0u64;
    loop {
        seg += 1;
        let range = match &after {
            Some(key) => IdbKeyRange::lower_bound_with_open(key, true)?.into(),
            None => JsValue::UNDEFINED,
        };
        let chunk: Array = Request::new(
            payloads.get_all_with_key_and_limit(&range, MIGRATED_SEGMENT_SIZE as u32)?,
        )
        .next()
        .await?
        .unchecked_into();
        if chunk.length() == 0 {
            return Ok(());
        }
        let first = Reflect::get(&chunk.get(0), &"id".into())?;
        let last = Reflect::get(&chunk.get(chunk.length() - 1), &"id".into())?;
        let (record, nodes) = super::segment::new_segment(seg);
        let mut ids = std::collections::HashSet::with_capacity(chunk.length() as usize);
        for payload in chunk.iter() {
            let Some(id) = Reflect::get(&payload, &"id".into())?.as_string() else {
                continue;
            };
            Reflect::set(
                &nodes,
                &id.as_str().into(),
                &Reflect::get(&payload, &"nodes".into())?,
            )?;
            ids.insert(id);
        }
        segments.put(&record)?;
        point_at_segment(executions, &IdbKeyRange::bound(&first, &last)?, &ids, seg).await?;
        after = Some(last);
    }
}

/// Sets `seg` on the metadata records in `range` whose id is in `ids`.
async fn point_at_segment(
    executions: &IdbObjectStore,
    range: &IdbKeyRange,
    ids: &std::collections::HashSet<String>,
    seg: u64,
) -> Result<(), JsValue> {
    let cursor = Request::new(executions.open_cursor_with_range(range)?.unchecked_into());
    loop {
        let next = cursor.next().await?;
        let Some(c) = next.dyn_ref::<IdbCursorWithValue>() else {
            return Ok(());
        };
        let id = c.primary_key()?.as_string().unwrap_or_default();
        if ids.contains(&id) {
            let record = c.value()?;
            Reflect::set(&record, &"seg".into(), &JsValue::from(seg as f64))?;
            c.update(&record)?;
        }
        c.continue_()?;
    }
}

/// Moves the node runs embedded in version-1 records into the payload store.
async fn split_payloads(cursor: &Request, payloads: &IdbObjectStore) -> Result<(), JsValue> {
    loop {
        let next = cursor.next().await?;
        let Some(c) = next.dyn_ref::<IdbCursorWithValue>() else {
            return Ok(());
        };
        let record = c.value()?;
        let nodes = Reflect::get(&record, &"nodes".into())?;
        let nodes: JsValue = if nodes.is_undefined() {
            Array::new().into()
        } else {
            nodes
        };
        let payload = js_sys::Object::new();
        Reflect::set(
            &payload,
            &"id".into(),
            &Reflect::get(&record, &"id".into())?,
        )?;
        Reflect::set(&payload, &"nodes".into(), &nodes)?;
        payloads.put(&payload)?;
        Reflect::delete_property(record.unchecked_ref::<js_sys::Object>(), &"nodes".into())?;
        let count = nodes.dyn_ref::<Array>().map_or(0, Array::length);
        Reflect::set(&record, &"nodeCount".into(), &JsValue::from(count))?;
        c.update(&record)?;
        c.continue_()?;
    }
}

/// Creates a database in the version-1 layout holding `records` (JS objects, node runs
/// embedded): what an early build of this library left behind. Used by the migration test.
#[doc(hidden)]
pub async fn create_legacy_v1(name: &str, records: &[JsValue]) -> Result<(), StoreError> {
    create_legacy(name, 1, records, |db, _| {
        if let Ok(store) =
            db.create_object_store_with_optional_parameters(EXECUTIONS, &store_params("id"))
        {
            let _ = store.create_index_with_str("by_started", "startedAt");
        }
    })
    .await
}

/// Creates a database in the version-3 layout (one record per rollup cell in `rollups`)
/// holding `records` (execution metadata, no node runs) and no cells for them: what version 3
/// of this library left behind, minus its cells, so the migration test sees the pages rebuilt
/// from the records.
#[doc(hidden)]
pub async fn create_legacy_v3(name: &str, records: &[JsValue]) -> Result<(), StoreError> {
    create_legacy(name, 3, records, |db, tx| {
        let _ = upgrade(db, tx, 0);
        let _ = db.delete_object_store(ROLLUPS);
        if let Ok(cells) =
            db.create_object_store_with_optional_parameters(CELL_ROLLUPS_V3, &store_params("id"))
        {
            let _ = cells.create_index_with_str_sequence("by_slot", &key_path(&["slot", "id"]));
        }
    })
    .await
}

/// Creates a database in the version-4 layout (one `payloads` record per execution) holding
/// `executions` as version 4 of this library wrote them: metadata, payload, an outbox mark
/// each, their rollup pages, and `dead` as dead letters. Used by the migration test.
#[doc(hidden)]
pub async fn create_legacy_v4(
    name: &str,
    executions: &[crate::model::Execution],
    dead: &[crate::store::DeadLetter],
) -> Result<(), StoreError> {
    let fail = |e: StoreError| StoreError::Open {
        name: name.to_owned(),
        reason: e.to_string(),
    };
    let queued_at = JsValue::from(js_sys::Date::now());
    let (mut metas, mut payloads, mut marks, mut letters) = (vec![], vec![], vec![], vec![]);
    for e in executions {
        metas.push(legacy_meta(e).map_err(fail)?);
        let payload = js_sys::Object::new();
        let nodes = serde_json::to_string(&e.nodes).unwrap_or_else(|_| "[]".into());
        let _ = Reflect::set(&payload, &"id".into(), &JsValue::from(e.id.as_str()));
        let _ = Reflect::set(&payload, &"nodes".into(), &JsValue::from(nodes));
        payloads.push(payload.into());
        marks.push(super::outbox_mark(&e.id, e.version, &queued_at).into());
    }
    for d in dead {
        letters.push(super::to_js(d).map_err(fail)?);
    }
    let rollups = crate::stats::Rollups::rebuild(executions);
    let pages = super::page_records(rollups.cells()).map_err(fail)?;
    let data = vec![
        (EXECUTIONS, metas),
        (PAYLOADS, payloads),
        (OUTBOX, marks),
        (DEAD_LETTERS, letters),
        (ROLLUPS, pages.into_iter().map(Into::into).collect()),
    ];
    create_legacy_stores(name, 4, data, |db, tx| {
        let _ = upgrade(db, tx, 0);
        let _ = db.delete_object_store(SEGMENTS);
        let _ = db.create_object_store_with_optional_parameters(PAYLOADS, &store_params("id"));
    })
    .await
}

/// Metadata as versions 2 to 4 (and 5 before `j`) stored it: the summary's own fields plus
/// the multi-entry index keys, no `j`.
fn legacy_meta(e: &crate::model::Execution) -> Result<JsValue, StoreError> {
    let mut text = String::new();
    super::meta_json(e, None, &mut text)?;
    let current = super::parse_stored(&text)?;
    let summary = Reflect::get(&current, &"j".into()).unwrap_or_default();
    let meta = super::parse_stored(&summary.as_string().unwrap_or_default())?;
    for field in ["failedNodeKeys", "outputKeys", "externalKeys"] {
        let keys = Reflect::get(&current, &field.into()).unwrap_or_default();
        if !keys.is_undefined() {
            let _ = Reflect::set(&meta, &field.into(), &keys);
        }
    }
    Ok(meta)
}

/// Opens `name` at `version` with `layout` as its upgrade, then puts `records` into its
/// executions store.
async fn create_legacy(
    name: &str,
    version: u32,
    records: &[JsValue],
    layout: impl Fn(&IdbDatabase, &IdbTransaction) + 'static,
) -> Result<(), StoreError> {
    create_legacy_stores(name, version, vec![(EXECUTIONS, records.to_vec())], layout).await
}

/// Opens `name` at `version` with `layout` as its upgrade, then puts each list of records
/// into its store, in one transaction.
async fn create_legacy_stores(
    name: &str,
    version: u32,
    data: Vec<(&'static str, Vec<JsValue>)>,
    layout: impl Fn(&IdbDatabase, &IdbTransaction) + 'static,
) -> Result<(), StoreError> {
    let req = factory()
        .and_then(|f| f.open_with_u32(name, version))
        .map_err(open_error(name))?;
    let req_in = req.clone();
    let on_upgrade = Closure::<dyn FnMut()>::new(move || {
        let db = req_in.result().and_then(|db| db.dyn_into::<IdbDatabase>());
        if let (Ok(db), Some(tx)) = (db, req_in.transaction()) {
            layout(&db, &tx);
        }
    });
    req.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let db: IdbDatabase = Request::new(req.clone().unchecked_into())
        .next()
        .await
        .map_err(open_error(name))?
        .unchecked_into();
    req.set_onupgradeneeded(None);
    let names: Array = data.iter().map(|(n, _)| JsValue::from(*n)).collect();
    let tx = db
        .transaction_with_str_sequence_and_mode(&names, web_sys::IdbTransactionMode::Readwrite)
        .map_err(open_error(name))?;
    let done = super::request::TxDone::new(&tx);
    for (store, records) in &data {
        let store = tx.object_store(store).map_err(open_error(name))?;
        for record in records {
            store.put(record).map_err(open_error(name))?;
        }
    }
    done.wait().await.map_err(open_error(name))?;
    db.close();
    Ok(())
}
