//! Browser tests: real IndexedDB in headless Chromium (run with
//! `cargo test --target wasm32-unknown-unknown`, which `npm test` does).
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Promise, Reflect};
use runledger::bindings::{held_names, owner_lock_name, HeldLock, Tracker};
use runledger::config::TrackerOptions;
use runledger::model::{Execution, Status};
use runledger::retention::PruneRequest;
use runledger::store::indexeddb::{create_legacy_v1, create_legacy_v3, create_legacy_v4, IdbStore};
use runledger::store::{suite, DeadLetter, FailPoint, Store, Synced};
use serde::Serialize;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn obj(v: serde_json::Value) -> JsValue {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap()
}

/// The JS `Run` and `NodeRun` handles (js/api.js), mirrored for Rust tests: they call the
/// same id-based tracker methods.
trait Record {
    fn start(&self, spec: JsValue) -> Result<TestRun<'_>, JsValue>;
}

impl Record for Tracker {
    fn start(&self, spec: JsValue) -> Result<TestRun<'_>, JsValue> {
        Ok(TestRun {
            t: self,
            id: self.start_run(spec)?,
        })
    }
}

struct TestRun<'a> {
    t: &'a Tracker,
    id: String,
}

impl TestRun<'_> {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn node(&self, def: JsValue, input: JsValue) -> Result<TestNode<'_>, JsValue> {
        Ok(TestNode {
            run: self,
            index: self.t.start_node(self.id.as_str().into(), def, input)?,
        })
    }
    fn output(&self, output: JsValue) -> Result<(), JsValue> {
        self.t.add_output(self.id.as_str().into(), output)
    }
    fn succeed(&self) -> Result<(), JsValue> {
        self.t
            .finish_run(self.id.as_str().into(), "success", JsValue::UNDEFINED)
    }
    fn fail(&self, error: JsValue) -> Result<(), JsValue> {
        self.t.finish_run(self.id.as_str().into(), "failed", error)
    }
}

struct TestNode<'a> {
    run: &'a TestRun<'a>,
    index: u32,
}

impl TestNode<'_> {
    fn succeed(&self, output: JsValue) -> Result<(), JsValue> {
        self.run
            .t
            .end_node(self.run.id.as_str().into(), self.index, "success", output)
    }
}

fn unique(name: &str) -> String {
    format!(
        "{name}-{}",
        js_sys::Math::random().to_string().replace("0.", "")
    )
}

async fn wait(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

async fn open(name: &str) -> Tracker {
    Tracker::open_with(TrackerOptions {
        name: Some(name.into()),
        ..Default::default()
    })
    .await
    .expect("open")
}

async fn get(t: &Tracker, id: &str) -> Option<Execution> {
    let v = wait(t.get(id.into())).await.unwrap();
    (!v.is_null()).then(|| serde_wasm_bindgen::from_value(v).unwrap())
}

fn error_name(e: &JsValue) -> String {
    Reflect::get(e, &"name".into())
        .unwrap()
        .as_string()
        .unwrap()
}

async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

#[wasm_bindgen_test]
async fn indexeddb_store_passes_the_shared_suite() {
    suite::run_all(|case| async move { IdbStore::open(&unique(case)).await.unwrap() }).await;
}

#[wasm_bindgen_test]
async fn records_survive_close_and_reopen_with_their_node_runs() {
    let name = unique("persist");
    let t = open(&name).await;
    assert_eq!(t.storage(), "indexeddb");
    let run = t
        .start(obj(
            json!({"workflowId": "wf-1", "workflowName": "Import", "userId": "u1",
                           "trigger": {"type": "manual", "data": {"apiKey": "k-123"}}}),
        ))
        .unwrap();
    let n = run
        .node(
            obj(json!({"id": "n1", "name": "Fetch", "type": "http"})),
            obj(json!({"url": "https://x", "password": "pw"})),
        )
        .unwrap();
    n.succeed(obj(json!({"rows": 3}))).unwrap();
    run.output(obj(
        json!({"name": "orders", "kind": "table", "rows": 1200, "role": "primary",
                           "columns": [{"name": "id", "type": "int"}]}),
    ))
    .unwrap();
    run.succeed().unwrap();
    // Recording returned at once; the write is still pending.
    assert!(t.pending() > 0);
    let query_id = t
        .log_query(obj(json!({"query": "select 1", "databaseType": "kdb", "status": "success", "executionTime": 0.25, "totalRows": 1})))
        .unwrap();
    wait(t.flush()).await.unwrap();
    assert_eq!(t.pending(), 0);
    wait(t.close()).await.unwrap();
    assert!(
        t.start(obj(json!({}))).is_err(),
        "a closed tracker refuses to record"
    );

    let t = open(&name).await;
    let e = get(&t, &run.id()).await.expect("stored");
    assert_eq!(e.status, Status::Success);
    assert_eq!(e.nodes.len(), 1);
    assert_eq!(e.nodes[0].output, json!({"rows": 3}));
    assert_eq!(
        e.nodes[0].input,
        json!({"url": "https://x", "password": "[REDACTED]"})
    );
    assert_eq!(e.trigger.unwrap().data, json!({"apiKey": "[REDACTED]"}));
    assert_eq!(e.outputs[0].rows, Some(1200));
    let q = get(&t, &query_id).await.expect("query stored");
    assert_eq!(q.duration_ms, Some(250.0));
    let page: runledger::HistoryPage = {
        let v = wait(t.history(obj(json!({"workflowId": "wf-1"}))))
            .await
            .unwrap();
        let items: Vec<Execution> =
            serde_wasm_bindgen::from_value(Reflect::get(&v, &"items".into()).unwrap()).unwrap();
        runledger::HistoryPage {
            items,
            next_cursor: None,
        }
    };
    assert_eq!(page.items.len(), 1);
    assert!(page.items[0].nodes.is_empty(), "history lists summaries");
    wait(t.close()).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_failed_flush_rejects_keeps_the_records_and_a_later_flush_stores_them() {
    let name = unique("atomic");
    // No background retry while the database is inspected below: with the default backoff
    // (full jitter from 0 ms) a retry could store both records before the direct reads run,
    // as it did under load. `flush()` writes at once whatever the backoff.
    let t = Tracker::open_with(TrackerOptions {
        name: Some(name.clone()),
        retry: Some(runledger::config::RetryOption {
            base_ms: Some(3_600_000.0),
            cap_ms: Some(3_600_000.0),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let a = t.start(obj(json!({"workflowId": "wf"}))).unwrap();
    a.succeed().unwrap();
    let b = t.start(obj(json!({"workflowId": "wf"}))).unwrap();
    // The abort comes after the first execution's metadata and payload were put.
    t.inject_write_failure(3, "AbortError".into());
    let err = wait(t.flush()).await.unwrap_err();
    assert_eq!(error_name(&err), "StoreError");
    assert!(t.pending() >= 2, "the records are still queued");
    // Nothing partial reached the database, though one execution's puts had succeeded.
    let direct = IdbStore::open(&name).await.unwrap();
    assert_eq!(direct.get(&a.id()).await.unwrap(), None);
    assert_eq!(direct.get(&b.id()).await.unwrap(), None);
    direct.close();
    wait(t.flush()).await.unwrap();
    assert_eq!(get(&t, &a.id()).await.unwrap().status, Status::Success);
    assert_eq!(get(&t, &b.id()).await.unwrap().status, Status::Running);
    wait(t.close()).await.unwrap();
}

#[wasm_bindgen_test]
async fn quota_errors_are_typed_reach_error_listeners_and_lose_nothing() {
    let name = unique("quota");
    let t = Tracker::open_with(TrackerOptions {
        name: Some(name.clone()),
        flush_interval_ms: Some(5),
        retry: Some(runledger::config::RetryOption {
            base_ms: Some(20.0),
            cap_ms: Some(40.0),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let first = t.start(obj(json!({"workflowId": "wf"}))).unwrap();
    first.succeed().unwrap();
    wait(t.flush()).await.unwrap();

    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let sink = seen.clone();
    let listener = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        sink.borrow_mut().push(error_name(&e))
    });
    t.on(
        "error".into(),
        listener
            .as_ref()
            .unchecked_ref::<js_sys::Function>()
            .clone()
            .into(),
    )
    .unwrap();
    t.inject_write_failure(0, "QuotaExceededError".into());
    let second = t.start(obj(json!({"workflowId": "wf"}))).unwrap();
    second.succeed().unwrap();
    // The background flush fails, reports, and a retry stores the record.
    for _ in 0..100 {
        if !seen.borrow().is_empty() && t.pending() == 0 {
            break;
        }
        sleep(20).await;
    }
    assert_eq!(
        seen.borrow().first().map(String::as_str),
        Some("QuotaExceededError")
    );
    assert_eq!(t.pending(), 0, "the retry wrote the record");
    wait(t.close()).await.unwrap();
    let store = IdbStore::open(&name).await.unwrap();
    assert!(store.get(&first.id()).await.unwrap().is_some());
    assert!(store.get(&second.id()).await.unwrap().is_some());
}

#[wasm_bindgen_test]
async fn explicit_flush_rejects_with_a_quota_error() {
    let t = open(&unique("quota-flush")).await;
    t.start(obj(json!({}))).unwrap().succeed().unwrap();
    t.inject_write_failure(1, "QuotaExceededError".into());
    let err = wait(t.flush()).await.unwrap_err();
    assert_eq!(error_name(&err), "QuotaExceededError");
    let message = Reflect::get(&err, &"message".into())
        .unwrap()
        .as_string()
        .unwrap();
    assert!(message.contains("rolled back"), "{message}");
    wait(t.flush()).await.unwrap();
}

#[wasm_bindgen_test]
async fn an_older_database_layout_is_migrated_on_open() {
    let name = unique("legacy");
    let legacy = obj(json!({
        "id": "old-1", "status": "success", "startedAt": 1_700_000_000_000i64,
        "completedAt": 1_700_000_001_000i64, "workflowId": "wf-old",
        "nodes": [{"id": "n1", "status": "success", "startedAt": 1_700_000_000_100i64, "input": {"a": 1}}]
    }));
    create_legacy_v1(&name, &[legacy]).await.unwrap();
    let t = open(&name).await;
    let e = get(&t, "old-1").await.expect("migrated record");
    assert_eq!(e.nodes.len(), 1);
    assert_eq!(e.nodes[0].input, json!({"a": 1}));
    assert_eq!(
        e.nodes[0].attempt, 1,
        "fields the old layout lacked get their defaults"
    );
    let v = wait(t.history(obj(json!({"workflowId": "wf-old"}))))
        .await
        .unwrap();
    let items: Vec<Execution> =
        serde_wasm_bindgen::from_value(Reflect::get(&v, &"items".into()).unwrap()).unwrap();
    assert_eq!(items.len(), 1, "the new indexes cover migrated records");
    assert_eq!(
        workflow_total(&t, "wf-old").await,
        1.0,
        "counted in the rollups"
    );
    assert_eq!(items[0].node_count, 1);
    assert!(
        items[0].nodes.is_empty(),
        "payloads moved out of the metadata"
    );
    wait(t.close()).await.unwrap();
    let store = IdbStore::open(&name).await.unwrap();
    let queued = store.outbox(10, None).await.unwrap();
    assert!(
        queued[0].json.contains(r#""nodes":[{"#),
        "{}",
        queued[0].json
    );
    assert_eq!(
        queued.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["old-1"],
        "history kept before sync existed is queued to be sent"
    );
}

/// The total of `stats()` for one workflow, through the tracker.
async fn workflow_total(t: &Tracker, workflow: &str) -> f64 {
    let v = wait(t.stats(obj(json!({"filter": {"workflowId": workflow}}))))
        .await
        .unwrap();
    let groups: Array = Reflect::get(&v, &"groups".into()).unwrap().unchecked_into();
    if groups.length() == 0 {
        return 0.0;
    }
    Reflect::get(&groups.get(0), &"total".into())
        .unwrap()
        .as_f64()
        .unwrap()
}

#[wasm_bindgen_test]
async fn a_version_3_database_gets_its_rollup_pages_rebuilt_from_the_records() {
    let name = unique("legacy-v3");
    let record = |id: &str, wf: &str, at: i64| {
        obj(json!({
            "id": id, "schemaVersion": 1, "version": 3, "kind": "workflow", "status": "success",
            "workflowId": wf, "startedAt": at, "completedAt": at + 250, "durationMs": 250,
            "metadata": {}, "nodeCount": 0
        }))
    };
    let hour = 3_600_000;
    let records = [
        record("v3-a", "wf-a", suite::T0),
        record("v3-b", "wf-a", suite::T0 + 5 * hour),
        record("v3-c", "wf-b", suite::T0 + 30 * hour),
    ];
    create_legacy_v3(&name, &records).await.unwrap();
    let t = open(&name).await;
    assert_eq!(workflow_total(&t, "wf-a").await, 2.0);
    assert_eq!(workflow_total(&t, "wf-b").await, 1.0);
    assert_eq!(workflow_total(&t, "wf-none").await, 0.0);
    wait(t.close()).await.unwrap();
    let store = IdbStore::open(&name).await.unwrap();
    assert!(
        store.outbox(10, None).await.unwrap().is_empty(),
        "a version-3 outbox is kept as it was (empty here), not refilled"
    );
    let cells = store.cells(None, None).await.unwrap();
    assert_eq!(cells.iter().map(|c| c.count).sum::<u64>(), 3);
}

#[wasm_bindgen_test]
async fn runs_of_a_dead_tracker_are_interrupted_but_a_live_ones_are_not() {
    let name = unique("recovery");
    let store = IdbStore::open(&name).await.unwrap();
    let mut dead = suite::sample("dead-run", "wf", suite::T0, Status::Running);
    dead.owner = Some("ghost".into());
    dead.last_seen_at = Some(suite::T0 + 700);
    let mut alive = suite::sample("alive-run", "wf", suite::T0, Status::Running);
    alive.owner = Some("other-tab".into());
    store.write(&[dead, alive]).await.unwrap();
    store.close();
    // Another tab that is still recording holds its owner lock.
    let lock = HeldLock::acquire(&owner_lock_name(&name, "other-tab"))
        .await
        .expect("web locks");
    assert!(held_names()
        .await
        .unwrap()
        .contains(&owner_lock_name(&name, "other-tab")));

    let t = open(&name).await;
    let recovered: Vec<String> = t.recovered().iter().filter_map(|v| v.as_string()).collect();
    assert_eq!(recovered, ["dead-run"]);
    let e = get(&t, "dead-run").await.unwrap();
    assert_eq!(e.status, Status::Interrupted);
    assert_eq!(
        e.completed_at,
        Some(suite::T0 + 700),
        "finished when last seen"
    );
    assert_eq!(e.nodes.len(), 2, "node runs are kept");
    assert_eq!(get(&t, "alive-run").await.unwrap().status, Status::Running);
    wait(t.close()).await.unwrap();
    lock.release();
}

#[wasm_bindgen_test]
async fn delete_and_clear_through_the_tracker() {
    let t = open(&unique("delete")).await;
    let ids: Vec<String> = ["wf-a", "wf-a", "wf-b"]
        .iter()
        .map(|w| {
            let r = t.start(obj(json!({"workflowId": w}))).unwrap();
            r.succeed().unwrap();
            r.id()
        })
        .collect();
    assert_eq!(
        wait(t.delete(ids[0].as_str().into())).await.unwrap(),
        JsValue::TRUE
    );
    assert_eq!(
        wait(t.delete(ids[0].as_str().into())).await.unwrap(),
        JsValue::FALSE
    );
    assert!(get(&t, &ids[0]).await.is_none());
    assert_eq!(
        wait(t.clear(obj(json!({"workflowId": "wf-a"}))))
            .await
            .unwrap()
            .as_f64(),
        Some(1.0)
    );
    assert!(get(&t, &ids[2]).await.is_some());
    assert_eq!(
        wait(t.clear(JsValue::UNDEFINED)).await.unwrap().as_f64(),
        Some(1.0)
    );
    // A run deleted before its write is not written afterwards.
    let quick = t.start(obj(json!({"workflowId": "wf-c"}))).unwrap();
    quick.succeed().unwrap();
    assert_eq!(
        wait(t.delete(quick.id().into())).await.unwrap(),
        JsValue::TRUE
    );
    wait(t.flush()).await.unwrap();
    assert!(get(&t, &quick.id()).await.is_none());
}

#[wasm_bindgen_test]
async fn errors_thrown_to_js_name_what_and_where() {
    let t = open(&unique("errors")).await;
    let err = t
        .start(obj(json!({"startedAt": "yesterday"})))
        .err()
        .unwrap();
    assert_eq!(error_name(&err), "ValidationError");
    assert_eq!(
        Reflect::get(&err, &"field".into())
            .unwrap()
            .as_string()
            .as_deref(),
        Some("spec.startedAt")
    );
    let run = t.start(obj(json!({}))).unwrap();
    run.succeed().unwrap();
    let err = run.fail(JsValue::from_str("late")).unwrap_err();
    assert_eq!(error_name(&err), "LifecycleError");
    let err = wait(t.history(obj(json!({"limit": 0})))).await.unwrap_err();
    assert_eq!(error_name(&err), "ValidationError");
    let err = Tracker::open_with(serde_json::from_value(json!({"maxBatchSize": 0})).unwrap())
        .await
        .err()
        .unwrap();
    assert_eq!(err.name(), "ConfigError");
}

// ---- The batch layout (version 5): node runs in one segment per flushed batch ----

fn batch(prefix: &str, n: i64, status: Status) -> Vec<Execution> {
    (0..n)
        .map(|i| suite::sample(&format!("{prefix}{i}"), "wf", suite::T0 + i * 1000, status))
        .collect()
}

/// The same executions one version later, finished.
fn finished(batch: &[Execution]) -> Vec<Execution> {
    batch
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.version += 1;
            e.status = Status::Success;
            e.completed_at = Some(e.started_at + 50);
            e
        })
        .collect()
}

async fn entries(store: &IdbStore) -> Vec<usize> {
    store
        .segment_census()
        .await
        .unwrap()
        .into_iter()
        .map(|(_, n)| n)
        .collect()
}

#[wasm_bindgen_test]
async fn a_flush_is_one_segment_and_rewrites_move_entries_out_of_older_segments() {
    let store = IdbStore::open(&unique("segments")).await.unwrap();
    let running = batch("s", 5, Status::Running);
    store.write(&running).await.unwrap();
    assert_eq!(
        entries(&store).await,
        [5],
        "one segment for the whole batch"
    );
    // Three of them finish: their entries move to the new segment, the old one keeps two.
    let done = finished(&running[..3]);
    store.write(&done).await.unwrap();
    assert_eq!(entries(&store).await, [2, 3]);
    // The last two finish: the first segment is empty and deleted.
    store.write(&finished(&running[3..])).await.unwrap();
    assert_eq!(entries(&store).await, [3, 2]);
    for e in finished(&running) {
        assert_eq!(store.get(&e.id).await.unwrap(), Some(e));
    }
    // The outbox sends the newest version with its node runs, spliced from the segment.
    let queued = store.outbox(10, None).await.unwrap();
    assert_eq!(queued.len(), 5);
    for q in &queued {
        assert_eq!(q.version, 2);
        assert!(q.json.contains(r#""nodes":[{"#), "{}", q.json);
        assert!(
            !q.json.contains(r#""seg""#),
            "the segment key is not sent: {}",
            q.json
        );
    }
}

#[wasm_bindgen_test]
async fn a_flush_failing_midway_keeps_the_stored_records_and_their_segment() {
    // An abort (a crash of the flush: the tab going away rolls back the same way) and a
    // quota failure, after the metadata of some of the batch was put.
    for (error, after_puts) in [
        ("AbortError", 3),
        ("QuotaExceededError", 5),
        ("AbortError", 6),
    ] {
        let store = IdbStore::open(&unique("midway")).await.unwrap();
        let first = batch("m", 3, Status::Running);
        store.write(&first).await.unwrap();
        let mut second = finished(&first);
        second.extend(batch("n", 2, Status::Success));
        store.inject_failure(FailPoint {
            after_puts,
            error_name: error.into(),
        });
        let err = store.write(&second).await.unwrap_err();
        // A quota failure is its own typed error; any other keeps the platform's name.
        assert!(
            format!("{err:?}").contains(error.trim_end_matches("Error")),
            "{err:?}"
        );
        assert_eq!(
            entries(&store).await,
            [3],
            "{error}: the old segment is intact"
        );
        for e in &first {
            assert_eq!(store.get(&e.id).await.unwrap().as_ref(), Some(e), "{error}");
        }
        assert_eq!(
            store.get("n0").await.unwrap(),
            None,
            "{error}: nothing partial"
        );
        assert_eq!(store.outbox_counts().await.unwrap().pending, 3);
        // The same batch written again stores everything and compacts the old segment away.
        store.write(&second).await.unwrap();
        assert_eq!(entries(&store).await, [5]);
        for e in &second {
            assert_eq!(store.get(&e.id).await.unwrap().as_ref(), Some(e));
        }
        store.close();
    }
}

#[wasm_bindgen_test]
async fn two_tabs_flushing_at_once_get_distinct_segments_and_lose_nothing() {
    let name = unique("two-tabs");
    let (a, b) = (
        IdbStore::open(&name).await.unwrap(),
        IdbStore::open(&name).await.unwrap(),
    );
    let (from_a, from_b) = (
        batch("a", 20, Status::Success),
        batch("b", 20, Status::Success),
    );
    for round in 0..3 {
        let (ra, rb) = futures::join!(
            a.write(&from_a[round * 5..round * 5 + 5]),
            b.write(&from_b[round * 5..round * 5 + 5])
        );
        ra.unwrap();
        rb.unwrap();
    }
    // Six flushes, six segments of five: no tab overwrote the other's segment.
    assert_eq!(entries(&a).await, [5; 6]);
    for e in from_a[..15].iter().chain(&from_b[..15]) {
        assert_eq!(b.get(&e.id).await.unwrap().as_ref(), Some(e));
    }
    assert_eq!(a.outbox_counts().await.unwrap().pending, 30);
}

#[wasm_bindgen_test]
async fn retention_delete_and_clear_compact_segments_but_keep_unsynced_and_running_records() {
    let store = IdbStore::open(&unique("compaction")).await.unwrap();
    // r0..r5: r1 is running; r0, r2, r3 reach the server, r4 and r5 do not.
    let mut records = batch("r", 6, Status::Success);
    records[1].status = Status::Running;
    records[1].completed_at = None;
    store.write(&records).await.unwrap();
    let acked: Vec<Synced> = ["r0", "r2", "r3"]
        .map(|id| Synced {
            id: id.into(),
            version: 1,
        })
        .to_vec();
    store.settle(&acked, &[]).await.unwrap();
    let report = store
        .prune(&PruneRequest {
            before: None,
            excess: 6,
            protect_unsynced: true,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(report.removed, ["r0", "r2", "r3"]);
    assert_eq!(
        entries(&store).await,
        [3],
        "the pruned entries left the segment"
    );
    for id in ["r1", "r4", "r5"] {
        let kept = store.get(id).await.unwrap().expect(id);
        assert_eq!(kept.nodes.len(), 2, "{id} keeps its node runs");
    }
    assert!(store.delete("r4").await.unwrap());
    assert_eq!(entries(&store).await, [2]);
    assert_eq!(store.clear(Some("wf")).await.unwrap(), 2);
    assert!(
        entries(&store).await.is_empty(),
        "an emptied segment is deleted"
    );
    store.write(&batch("c", 2, Status::Success)).await.unwrap();
    assert_eq!(store.clear(None).await.unwrap(), 2);
    assert!(entries(&store).await.is_empty());
}

#[wasm_bindgen_test]
async fn a_version_4_database_is_moved_into_segments_keeping_every_record() {
    let name = unique("legacy-v4");
    let mut records = batch("v4-", 1200, Status::Success);
    records[7].status = Status::Running;
    records[7].completed_at = None;
    let dead = [DeadLetter {
        id: "v4-3".into(),
        version: 1,
        reason: "refused: too large".into(),
        at: suite::T0,
    }];
    create_legacy_v4(&name, &records, &dead).await.unwrap();
    let store = IdbStore::open(&name).await.unwrap();
    // 1,200 payloads, read and moved one segment of 1,000 at a time in key order ("v4-0",
    // "v4-1", "v4-10", …): the second read starts just after the first chunk's last key.
    assert_eq!(entries(&store).await, [1000, 200]);
    let mut ids: Vec<&str> = records.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    let boundaries = [0, 999, 1000, 1199].map(|i| ids[i]);
    let sampled = [0, 7, 999, 1000, 1199].map(|i| records[i].id.as_str());
    for id in boundaries.iter().chain(&sampled) {
        let e = records.iter().find(|e| e.id == *id).unwrap();
        assert_eq!(
            store.get(&e.id).await.unwrap().as_ref(),
            Some(e),
            "{}",
            e.id
        );
    }
    assert_eq!(store.dead_letters().await.unwrap(), dead);
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!((counts.pending, counts.dead_lettered), (1200, 1));
    let queued = store.outbox(3, None).await.unwrap();
    assert!(
        queued[0].json.contains(r#""nodes":[{"#),
        "{}",
        queued[0].json
    );
    let total: u64 = store
        .cells(None, None)
        .await
        .unwrap()
        .iter()
        .map(|c| c.count)
        .sum();
    assert_eq!(total, 1200, "the rollup pages are kept, not counted twice");
    assert_eq!(store.running().await.unwrap().len(), 1);
    // Writing after the upgrade continues after the migrated segments.
    store.write(&finished(&records[7..8])).await.unwrap();
    let after = entries(&store).await;
    assert_eq!(after.len(), 3, "{after:?}");
    assert_eq!(after.iter().sum::<usize>(), 1200, "{after:?}");
    assert_eq!(after.last(), Some(&1), "{after:?}");
    // Records as version 4 stored them (the summary's own fields) and as a flush stores them
    // now (the summary as text in `j`) page, filter and send alike.
    let page = store
        .history(&runledger::history::HistoryQuery {
            workflow_id: Some("wf".into()),
            status: Some(Status::Success),
            until: Some(records[8].started_at),
            limit: Some(3),
            ..Default::default()
        })
        .await
        .unwrap();
    let paged: Vec<&str> = page.items.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(paged, ["v4-8", "v4-7", "v4-6"]);
    assert_eq!(page.items[1].version, 2, "the rewritten record");
    let queued = store.outbox(1200, None).await.unwrap();
    let rewritten = queued.iter().find(|q| q.id == "v4-7").unwrap();
    assert_eq!(rewritten.version, 2);
    let sent: Execution = serde_json::from_str(&rewritten.json).unwrap();
    assert_eq!(sent, finished(&records[7..8])[0]);
    store.close();
}
