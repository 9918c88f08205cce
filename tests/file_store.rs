#![cfg(not(target_arch = "wasm32"))]
//! The durable file store natively (std::fs): the shared store suite, reopening, torn and
//! corrupt tails, garbage, compaction, the older layout's migration. (In Node, through the
//! package, with killed processes and two processes: tests/node/file-store.test.mjs.)

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::executor::block_on;
use runledger::history::ExternalRef;
use runledger::history::HistoryQuery;
use runledger::model::{Kind, Output, QueryInfo};
use runledger::store::file::{FileStore, StdFileIo};
use runledger::store::suite::{self, sample, T0};
use runledger::store::{DeadLetter, Store, Synced};
use runledger::{MemoryStore, Status};

fn temp_dir(case: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "runledger-file-{}-{}-{case}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn open(dir: &PathBuf) -> FileStore<StdFileIo> {
    FileStore::open(StdFileIo::new(dir, "store").unwrap())
        .unwrap()
        .0
}

fn ids(store: &FileStore<StdFileIo>) -> Vec<String> {
    block_on(store.history(&HistoryQuery {
        limit: Some(1000),
        ..HistoryQuery::default()
    }))
    .unwrap()
    .items
    .into_iter()
    .map(|e| e.id)
    .collect()
}

#[test]
fn the_file_store_passes_the_shared_suite() {
    block_on(suite::run_all(|case| async move { open(&temp_dir(case)) }));
}

#[test]
fn everything_comes_back_after_reopening() {
    let dir = temp_dir("reopen");
    let store = open(&dir);
    let batch: Vec<_> = (0..5)
        .map(|i| sample(&format!("e{i}"), "wf", T0 + i * 1000, Status::Success))
        .collect();
    block_on(store.write(&batch)).unwrap();
    block_on(store.settle(
        &[Synced {
            id: "e0".into(),
            version: 1,
        }],
        &[],
    ))
    .unwrap();
    block_on(store.delete("e3")).unwrap();
    let cells = block_on(store.cells(None, None)).unwrap();
    drop(store);
    let again = open(&dir);
    assert_eq!(ids(&again), ["e4", "e2", "e1", "e0"]);
    assert_eq!(block_on(again.get("e1")).unwrap(), Some(batch[1].clone()));
    assert_eq!(block_on(again.outbox_counts()).unwrap().pending, 3);
    assert_eq!(block_on(again.cells(None, None)).unwrap(), cells);
}

#[test]
fn discarded_dead_letters_stay_discarded_after_reopening_and_compaction() {
    let dir = temp_dir("discard");
    let store = open(&dir);
    let batch: Vec<_> = (0..3)
        .map(|i| sample(&format!("e{i}"), "wf", T0 + i * 1000, Status::Success))
        .collect();
    block_on(store.write(&batch)).unwrap();
    let refused: Vec<DeadLetter> = (0..3)
        .map(|i| DeadLetter {
            id: format!("e{i}"),
            version: 1,
            reason: "refused".into(),
            at: T0 + 10 + i,
        })
        .collect();
    block_on(store.settle(&[], &refused)).unwrap();
    assert_eq!(
        block_on(store.discard_dead_letters(Some(&["e1".to_string()]))).unwrap(),
        1
    );
    drop(store);
    // Replayed from the log: e1's letter stays gone, nothing is queued again.
    let again = open(&dir);
    let left: Vec<String> = block_on(again.dead_letters())
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(left, ["e0", "e2"]);
    assert_eq!(block_on(again.outbox_counts()).unwrap().pending, 0);
    assert_eq!(block_on(again.discard_dead_letters(None)).unwrap(), 2);
    // Compaction writes the index from the state: still none after another reopen.
    again.compact().unwrap();
    drop(again);
    let third = open(&dir);
    assert!(block_on(third.dead_letters()).unwrap().is_empty());
    assert_eq!(block_on(third.outbox_counts()).unwrap().dead_lettered, 0);
    assert_eq!(ids(&third), ["e2", "e1", "e0"]);
}

/// Runs `e{i}` one second apart, one write (one frame) each.
fn write_runs(store: &FileStore<StdFileIo>, runs: std::ops::Range<i64>) {
    for i in runs {
        let run = sample(&format!("e{i}"), "wf", T0 + i * 1000, Status::Success);
        block_on(store.write(&[run])).unwrap();
    }
}

fn damaged(case: &str, damage: impl Fn(&mut Vec<u8>)) -> (Vec<String>, Option<String>) {
    let dir = temp_dir(case);
    let store = open(&dir);
    write_runs(&store, 0..4);
    let log = StdFileIo::new(&dir, "store").unwrap().log_path();
    drop(store);
    let mut bytes = std::fs::read(&log).unwrap();
    damage(&mut bytes);
    std::fs::write(&log, &bytes).unwrap();
    let (store, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    // The damaged tail is gone from the file too: reopening reports nothing more.
    let (_, second) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert_eq!(second.damage, None);
    // And the store takes new writes after it.
    block_on(store.write(&[sample("after", "wf", T0 + 9_000, Status::Success)])).unwrap();
    let mut kept = ids(&store);
    kept.retain(|id| id != "after");
    (kept, report.damage)
}

#[test]
fn a_torn_tail_is_cut_off_and_reported_and_everything_before_is_intact() {
    let (kept, damage) = damaged("torn", |b| b.truncate(b.len() - 7));
    assert_eq!(kept, ["e2", "e1", "e0"]);
    assert!(damage.unwrap().contains("torn"));
}

#[test]
fn flipped_bytes_are_caught_by_the_checksum() {
    let (kept, damage) = damaged("flipped", |b| {
        let at = b.len() - 20;
        b[at] ^= 0x5a;
    });
    assert_eq!(kept, ["e2", "e1", "e0"]);
    assert!(damage.unwrap().contains("checksum"));
}

#[test]
fn a_garbage_file_opens_empty_with_a_warning() {
    let dir = temp_dir("garbage");
    let io = StdFileIo::new(&dir, "store").unwrap();
    std::fs::write(io.log_path(), b"PK\x03\x04 definitely not a runledger log").unwrap();
    let (store, report) = FileStore::open(io).unwrap();
    assert!(report.damage.is_some());
    assert!(ids(&store).is_empty());
    // The bytes cut off are kept beside the log, not destroyed.
    let saved = report.damage_saved_to.expect("the cut bytes are saved");
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        b"PK\x03\x04 definitely not a runledger log"
    );
    block_on(store.write(&[sample("new", "wf", T0, Status::Success)])).unwrap();
    assert_eq!(ids(&open(&dir)), ["new"]);
}

#[test]
fn compaction_keeps_everything_and_shrinks_the_log() {
    let dir = temp_dir("compact");
    let store = open(&dir);
    let mut e = sample("busy", "wf", T0, Status::Running);
    for v in 1..=50 {
        e.version = v;
        block_on(store.write(std::slice::from_ref(&e))).unwrap();
    }
    block_on(store.write(&[sample("other", "wf", T0 + 1, Status::Success)])).unwrap();
    let before = store.log_len();
    let cells = block_on(store.cells(None, None)).unwrap();
    store.compact().unwrap();
    assert!(
        store.log_len() < before / 10,
        "{} vs {before}",
        store.log_len()
    );
    let again = open(&dir);
    assert_eq!(block_on(again.get("busy")).unwrap().unwrap().version, 50);
    assert_eq!(ids(&again), ["other", "busy"]);
    assert_eq!(block_on(again.cells(None, None)).unwrap(), cells);
    assert_eq!(block_on(again.outbox_counts()).unwrap().pending, 2);
}

#[test]
fn the_older_layout_is_migrated_on_open() {
    let dir = temp_dir("legacy");
    std::fs::create_dir_all(&dir).unwrap();
    let lines: Vec<String> = (0..3)
        .map(|i| {
            serde_json::to_string(&sample(
                &format!("old{i}"),
                "wf",
                T0 + i * 10,
                Status::Success,
            ))
            .unwrap()
        })
        .collect();
    std::fs::write(dir.join("store.jsonl"), lines.join("\n")).unwrap();
    let (store, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert_eq!(report.migrated, 3);
    assert_eq!(ids(&store), ["old2", "old1", "old0"]);
    assert!(dir.join("store.jsonl.migrated").exists());
    drop(store);
    let (again, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert_eq!(report.migrated, 0, "migrated once");
    assert_eq!(ids(&again).len(), 3);
}

#[test]
fn a_log_from_a_newer_format_is_refused_not_rewritten() {
    let dir = temp_dir("newer");
    let io = StdFileIo::new(&dir, "store").unwrap();
    let frame = runledger::store::file::encode_frame(br#"{"op":"header","format":99}"#);
    std::fs::write(io.log_path(), &frame).unwrap();
    let err = FileStore::open(io.clone()).unwrap_err();
    assert!(err.to_string().contains("newer runledger"), "{err}");
    assert_eq!(
        std::fs::read(io.log_path()).unwrap(),
        frame,
        "left as it was"
    );
}

/// Five records, an index written after the first three.
fn indexed_store(case: &str) -> PathBuf {
    let dir = temp_dir(case);
    let store = open(&dir);
    write_runs(&store, 0..3);
    store.checkpoint().unwrap();
    write_runs(&store, 3..5);
    dir
}

#[test]
fn opening_reads_the_index_and_replays_only_what_came_after_it() {
    let dir = indexed_store("indexed");
    let (store, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(report.indexed);
    let one_frame = runledger::store::file::encode_frame(
        format!(
            "R{}",
            serde_json::to_string(&sample("e4", "wf", T0 + 4000, Status::Success)).unwrap()
        )
        .as_bytes(),
    )
    .len() as u64;
    assert_eq!(
        report.replayed_bytes,
        2 * one_frame,
        "only the two later frames"
    );
    assert_eq!(ids(&store), ["e4", "e3", "e2", "e1", "e0"]);
    // Node runs are read back from the log.
    let e0 = block_on(store.get("e0")).unwrap().unwrap();
    assert_eq!(e0, sample("e0", "wf", T0, Status::Success));
    assert_eq!(block_on(store.outbox(10, None)).unwrap().len(), 5);
}

#[test]
fn an_index_of_another_log_or_a_damaged_index_is_ignored() {
    for (case, spoil) in [
        ("index-garbage", 0),
        ("index-other-log", 1),
        ("index-longer", 2),
        ("index-flipped-byte", 3),
        ("index-format-1-json", 4),
    ] {
        let dir = indexed_store(case);
        let io = StdFileIo::new(&dir, "store").unwrap();
        match spoil {
            0 => std::fs::write(io.index_path(), b"{not json").unwrap(),
            1 => {
                // The log replaced by another one (a new log id), the old index left behind.
                let other = temp_dir(&format!("{case}-other"));
                let s = open(&other);
                block_on(s.write(&[sample("x", "wf", T0, Status::Success)])).unwrap();
                drop(s);
                let other_log = StdFileIo::new(&other, "store").unwrap().log_path();
                std::fs::copy(other_log, io.log_path()).unwrap();
            }
            2 => {
                // The log cut shorter than the index says: the index cannot be trusted.
                let bytes = std::fs::read(io.log_path()).unwrap();
                std::fs::write(io.log_path(), &bytes[..bytes.len() / 4]).unwrap();
            }
            3 => {
                // One bit flipped inside a summary: the index's checksum catches it.
                let mut bytes = std::fs::read(io.index_path()).unwrap();
                let at = bytes.len() / 2;
                bytes[at] ^= 0x01;
                std::fs::write(io.index_path(), bytes).unwrap();
            }
            _ => {
                // The JSON index earlier versions wrote, describing this very log.
                let log = std::fs::read(io.log_path()).unwrap();
                let header = runledger::store::file::scan(&log).frames[0].1.to_vec();
                let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
                let old = serde_json::json!({
                    "format": 1, "logId": header["logId"], "logLen": 0,
                    "state": {"executions": [], "outbox": [], "dead": []}, "frames": []
                });
                std::fs::write(io.index_path(), old.to_string()).unwrap();
            }
        }
        let (store, report) = FileStore::open(io).unwrap();
        assert!(!report.indexed, "{case}");
        let kept = ids(&store);
        match spoil {
            0 | 3 | 4 => assert_eq!(kept.len(), 5, "{case}"),
            1 => assert_eq!(kept, ["x"], "{case}"),
            _ => {
                assert!(report.damage.is_some(), "{case}");
                assert!(kept.len() < 5, "{case}");
                for id in kept {
                    assert!(block_on(store.get(&id)).unwrap().is_some());
                }
            }
        }
    }
}

#[test]
fn a_damaged_record_behind_the_index_is_a_corrupt_error_for_that_record_only() {
    let dir = indexed_store("behind-index");
    let io = StdFileIo::new(&dir, "store").unwrap();
    let mut bytes = std::fs::read(io.log_path()).unwrap();
    // A byte inside the first record frame (after the header frame).
    let header_len = 8 + u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    bytes[header_len + 40] ^= 0x20;
    std::fs::write(io.log_path(), &bytes).unwrap();
    let (store, report) = FileStore::open(io).unwrap();
    assert!(report.indexed);
    let err = block_on(store.get("e0")).unwrap_err();
    assert!(err.to_string().contains("e0"), "{err}");
    assert!(err.to_string().contains("damaged"), "{err}");
    for id in ["e1", "e2", "e3", "e4"] {
        assert!(block_on(store.get(id)).unwrap().is_some());
    }
}

/// Runs that differ in every field history filters on.
fn varied_runs(n: i64) -> Vec<runledger::Execution> {
    let statuses = [
        Status::Success,
        Status::Failed,
        Status::Running,
        Status::Timeout,
    ];
    (0..n)
        .map(|i| {
            let mut e = sample(
                &format!("r{i:03}"),
                &format!("wf-{}", i % 3),
                // Some share a start time: the id breaks the tie.
                T0 + (i / 2) * 1000,
                statuses[(i % 4) as usize],
            );
            e.user_id = (i % 5 != 0).then(|| format!("u{}", i % 2));
            if i % 3 == 1 {
                e.kind = Kind::Query;
                e.query = Some(QueryInfo {
                    database_type: Some(["postgres", "duckdb"][(i % 2) as usize].into()),
                    ..QueryInfo::default()
                });
            }
            if i % 7 == 0 {
                e.kind = Kind::Other("backfill".into());
                e.workflow_id = None;
            }
            if e.status == Status::Failed {
                e.failed_nodes = vec!["load".into()];
            }
            if i % 4 == 0 {
                e.outputs = vec![Output {
                    name: format!("orders-{}", i % 8),
                    ..Output::default()
                }];
            }
            if i % 6 == 0 {
                e.external_ids.insert("airflow".into(), format!("run-{i}"));
            }
            e
        })
        .collect()
}

fn all_pages<S: Store>(store: &S, mut query: HistoryQuery) -> Vec<String> {
    query.limit = Some(7);
    let mut seen = Vec::new();
    loop {
        let page = block_on(store.history(&query)).unwrap();
        seen.extend(page.items.iter().map(|e| serde_json::to_string(e).unwrap()));
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => return seen,
        }
    }
}

/// Every history query, page by page, the outbox, its counts, the dead letters and the
/// rollups of `store` are those of `reference` (and every query but one finds something, when
/// `every_query_finds`).
fn assert_answers_as(
    store: &FileStore<StdFileIo>,
    reference: &MemoryStore,
    every_query_finds: bool,
) {
    let queries = [
        HistoryQuery::default(),
        HistoryQuery {
            workflow_id: Some("wf-1".into()),
            ..HistoryQuery::default()
        },
        HistoryQuery {
            workflow_id: Some("wf-2".into()),
            status: Some(Status::Failed),
            ..HistoryQuery::default()
        },
        HistoryQuery {
            user_id: Some("u1".into()),
            database_type: Some("duckdb".into()),
            ..HistoryQuery::default()
        },
        HistoryQuery {
            kind: Some(Kind::Other("backfill".into())),
            ..HistoryQuery::default()
        },
        // One filter each: the sealed index's user and status orders.
        HistoryQuery {
            user_id: Some("u0".into()),
            ..HistoryQuery::default()
        },
        HistoryQuery {
            status: Some(Status::Running),
            until: Some(T0 + 25_000),
            ..HistoryQuery::default()
        },
        HistoryQuery {
            since: Some(T0 + 5_000),
            until: Some(T0 + 20_000),
            ..HistoryQuery::default()
        },
        HistoryQuery {
            failed_node: Some("load".into()),
            ..HistoryQuery::default()
        },
        HistoryQuery {
            output: Some("orders-4".into()),
            ..HistoryQuery::default()
        },
        HistoryQuery {
            external_id: Some(ExternalRef {
                system: "airflow".into(),
                id: "run-12".into(),
            }),
            ..HistoryQuery::default()
        },
        // Postings with time bounds and another filter: walked from `until`, stopped at
        // `since` (T0 + 20,000 is the start of two runs: both count).
        HistoryQuery {
            failed_node: Some("load".into()),
            workflow_id: Some("wf-1".into()),
            until: Some(T0 + 20_000),
            ..HistoryQuery::default()
        },
        HistoryQuery {
            output: Some("orders-0".into()),
            since: Some(T0 + 10_000),
            ..HistoryQuery::default()
        },
        HistoryQuery {
            until: Some(T0 + 20_000),
            ..HistoryQuery::default()
        },
        HistoryQuery {
            workflow_id: Some("no-such-workflow".into()),
            ..HistoryQuery::default()
        },
    ];
    for q in queries {
        let want = all_pages(reference, q.clone());
        let expect_none = q.workflow_id.as_deref() == Some("no-such-workflow");
        if every_query_finds {
            assert_eq!(want.is_empty(), expect_none, "{q:?} finds something");
        }
        assert_eq!(all_pages(store, q.clone()), want, "{q:?}");
    }
    let outbox_ids = |items: Vec<runledger::store::Outgoing>| -> Vec<String> {
        items.into_iter().map(|o| o.id).collect()
    };
    assert_eq!(
        outbox_ids(block_on(store.outbox(100, None)).unwrap()),
        outbox_ids(block_on(reference.outbox(100, None)).unwrap())
    );
    assert_eq!(
        block_on(store.outbox_counts()).unwrap(),
        block_on(reference.outbox_counts()).unwrap()
    );
    assert_eq!(
        block_on(store.dead_letters()).unwrap(),
        block_on(reference.dead_letters()).unwrap()
    );
    let mut cells = block_on(store.cells(None, None)).unwrap();
    let mut want = block_on(reference.cells(None, None)).unwrap();
    cells.sort_by(|a, b| a.key.cmp(&b.key));
    want.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(cells, want);
    // One workflow's cells, and windows of slots (the sealed cells are read by range).
    let first = want.first().map_or(0, |c| c.key.slot);
    let windows = [
        (None, None),
        (Some(first), Some(first)),
        (Some(first + 1), None),
    ];
    for w in ["wf-0", "wf-1", "wf-9", "no-such-workflow"] {
        for (from, to) in windows {
            let mut got = block_on(store.workflow_cells(w, from, to)).unwrap();
            let mut want = block_on(reference.workflow_cells(w, from, to)).unwrap();
            got.sort_by(|a, b| a.key.cmp(&b.key));
            want.sort_by(|a, b| a.key.cmp(&b.key));
            assert_eq!(got, want, "{w} {from:?}..{to:?}");
        }
    }
    for (from, to) in windows {
        let mut got = block_on(store.cells(from, to)).unwrap();
        let mut want = block_on(reference.cells(from, to)).unwrap();
        got.sort_by(|a, b| a.key.cmp(&b.key));
        want.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(got, want, "{from:?}..{to:?}");
    }
}

#[test]
fn after_reopening_from_its_index_the_store_answers_as_the_memory_store_does() {
    let dir = temp_dir("index-vs-memory");
    let store = open(&dir);
    let reference = MemoryStore::new();
    let runs = varied_runs(60);
    for chunk in runs.chunks(16) {
        block_on(store.write(chunk)).unwrap();
        block_on(reference.write(chunk)).unwrap();
    }
    let synced: Vec<Synced> = (0..60)
        .step_by(3)
        .map(|i| Synced {
            id: format!("r{i:03}"),
            version: 1,
        })
        .collect();
    let refused = [DeadLetter {
        id: "r005".into(),
        version: 1,
        reason: "schema".into(),
        at: T0,
    }];
    block_on(store.settle(&synced, &refused)).unwrap();
    block_on(reference.settle(&synced, &refused)).unwrap();
    block_on(store.delete("r010")).unwrap();
    block_on(reference.delete("r010")).unwrap();
    store.checkpoint().unwrap();
    drop(store);
    let (again, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(report.indexed);
    assert_eq!(report.replayed_bytes, 0, "everything came from the index");

    assert_answers_as(&again, &reference, true);
    assert_eq!(all_pages(&again, HistoryQuery::default()).len(), 59);
    let mut want = block_on(reference.cells(None, None)).unwrap();
    want.sort_by(|a, b| a.key.cmp(&b.key));
    // The rollups rebuilt from the summaries agree with those the index kept.
    block_on(again.rebuild_rollups()).unwrap();
    let mut rebuilt = block_on(again.cells(None, None)).unwrap();
    rebuilt.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(rebuilt, want);
}

/// Changes to sealed records: new versions (another workflow, status and user), removals, a
/// removal then a new write, sync acknowledgements, a refusal and its retry, a workflow
/// cleared, new records.
fn change_after_checkpoint<S: Store>(store: &S) {
    let mut changed = varied_runs(60)[4].clone();
    changed.version = 2;
    changed.status = Status::Failed;
    changed.workflow_id = Some("wf-9".into());
    changed.user_id = Some("u0".into());
    changed.failed_nodes = vec!["fetch".into()];
    block_on(store.write(&[changed])).unwrap();
    block_on(store.delete("r010")).unwrap();
    block_on(store.delete("r011")).unwrap();
    let mut back = varied_runs(60)[11].clone();
    back.version = 3;
    block_on(store.write(&[back])).unwrap();
    let synced: Vec<Synced> = (0..30)
        .step_by(2)
        .map(|i| Synced {
            id: format!("r{i:03}"),
            version: 1,
        })
        .collect();
    let refused = [
        DeadLetter {
            id: "r005".into(),
            version: 1,
            reason: "schema".into(),
            at: T0,
        },
        DeadLetter {
            id: "r007".into(),
            version: 1,
            reason: "schema".into(),
            at: T0 + 1,
        },
    ];
    block_on(store.settle(&synced, &refused)).unwrap();
    block_on(store.retry_dead_letters(Some(&["r007".to_owned()]))).unwrap();
    // wf-2: i % 3 == 2, less those without a workflow (i % 7 == 0).
    assert_eq!(block_on(store.clear(Some("wf-2"))).unwrap(), 17);
    let mut newer = varied_runs(70).split_off(60);
    // One starts among the sealed ones: the walks interleave.
    newer[0].started_at = T0 + 3_500;
    block_on(store.write(&newer)).unwrap();
}

#[test]
fn changes_after_a_checkpoint_hide_the_sealed_rows_they_replace() {
    let dir = temp_dir("sealed-and-recent");
    let store = open(&dir);
    let reference = MemoryStore::new();
    for chunk in varied_runs(60).chunks(16) {
        block_on(store.write(chunk)).unwrap();
        block_on(reference.write(chunk)).unwrap();
    }
    store.checkpoint().unwrap();
    assert_answers_as(&store, &reference, false);
    change_after_checkpoint(&store);
    change_after_checkpoint(&reference);
    // The sealed index and the recent records together.
    assert_answers_as(&store, &reference, false);
    let running = |s: &dyn Fn() -> Vec<runledger::Execution>| {
        let mut ids: Vec<String> = s().into_iter().map(|e| e.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        running(&|| block_on(store.running()).unwrap()),
        running(&|| block_on(reference.running()).unwrap())
    );
    assert_eq!(block_on(store.get("r010")).unwrap(), None);
    assert_eq!(block_on(store.get("r004")).unwrap().unwrap().version, 2);
    assert_eq!(
        block_on(store.get("r011")).unwrap(),
        None,
        "written again, then cleared"
    );
    // Merged into a new sealed index, then read back from it after reopening.
    store.checkpoint().unwrap();
    assert_answers_as(&store, &reference, false);
    drop(store);
    let (again, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(report.indexed);
    assert_eq!(report.replayed_bytes, 0);
    assert_answers_as(&again, &reference, false);
    // Retention decides over both in the same way.
    let request = runledger::retention::PruneRequest {
        before: Some(T0 + 12_000),
        excess: 5,
        limit: 100,
        protect_unsynced: true,
    };
    let pruned = block_on(again.prune(&request)).unwrap();
    assert_eq!(pruned, block_on(reference.prune(&request)).unwrap());
    assert!(!pruned.removed.is_empty());
    assert_answers_as(&again, &reference, false);
}

/// A store written by index format 3 (every entry decoded on open; made by commit 2a96da9's
/// code from the format-2 fixture, whose open rewrote the index, then e7 written after it).
#[test]
fn a_store_written_by_index_format_3_opens_and_upgrades_to_format_5() {
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/file-store-index-format-3");
    let dir = temp_dir("upgrade-3");
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["store.log", "store.index"] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    assert_eq!(index_format(&dir), 3);
    let (store, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(report.indexed, "an index of format 3 is read");
    assert!(report.replayed_bytes > 0, "e7 came after it");
    assert!(report.warnings().is_empty(), "{:?}", report.warnings());
    let check = |store: &FileStore<StdFileIo>| {
        assert_eq!(ids(store), ["e7", "e6", "e4", "e3", "e2", "e1", "e0"]);
        let e4 = block_on(store.get("e4")).unwrap().unwrap();
        assert_eq!(e4.failed_nodes, ["load"]);
        assert_eq!(block_on(store.get("e5")).unwrap(), None);
        assert_eq!(block_on(store.outbox_counts()).unwrap().pending, 6);
        let failed = block_on(store.history(&HistoryQuery {
            status: Some(Status::Failed),
            ..HistoryQuery::default()
        }))
        .unwrap();
        let failed: Vec<_> = failed.items.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(failed, ["e7", "e4"]);
        let by_external = block_on(store.history(&HistoryQuery {
            external_id: Some(ExternalRef {
                system: "airflow".into(),
                id: "run-2".into(),
            }),
            ..HistoryQuery::default()
        }))
        .unwrap();
        assert_eq!(by_external.items.len(), 1);
        assert_eq!(by_external.items[0].id, "e2");
        let wf_a = block_on(store.history(&HistoryQuery {
            workflow_id: Some("wf-a".into()),
            ..HistoryQuery::default()
        }))
        .unwrap();
        let wf_a: Vec<_> = wf_a.items.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(wf_a, ["e6", "e4", "e2", "e0"]);
    };
    check(&store);
    let cells = block_on(store.cells(None, None)).unwrap();
    drop(store);
    assert_eq!(index_format(&dir), 5, "rewritten on open");
    let (again, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(report.indexed);
    assert_eq!(
        report.replayed_bytes, 0,
        "everything came from the new index"
    );
    check(&again);
    assert_eq!(block_on(again.cells(None, None)).unwrap(), cells);
}

/// A store written by index format 4 (rollup cells as JSON in its footer; made by commit
/// b3daa10's code from the format-3 fixture, whose open rewrote the index, then e8 written
/// after it).
#[test]
fn a_store_written_by_index_format_4_opens_and_upgrades_to_format_5() {
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/file-store-index-format-4");
    let dir = temp_dir("upgrade-4");
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["store.log", "store.index"] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    assert_eq!(index_format(&dir), 4);
    let (store, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(report.indexed, "an index of format 4 is read");
    assert!(report.replayed_bytes > 0, "e8 came after it");
    assert!(report.warnings().is_empty(), "{:?}", report.warnings());
    let stats_of = |store: &FileStore<StdFileIo>, workflow: &str| {
        let cells = block_on(store.workflow_cells(workflow, None, None)).unwrap();
        (
            cells.iter().map(|c| c.count).sum::<u64>(),
            cells.iter().map(|c| c.timed).sum::<u64>(),
        )
    };
    let check = |store: &FileStore<StdFileIo>| {
        assert_eq!(ids(store), ["e8", "e7", "e6", "e4", "e3", "e2", "e1", "e0"]);
        assert_eq!(
            block_on(store.get("e4")).unwrap().unwrap().failed_nodes,
            ["load"]
        );
        assert_eq!(block_on(store.get("e5")).unwrap(), None);
        assert_eq!(block_on(store.outbox_counts()).unwrap().pending, 7);
        let wf_a = block_on(store.history(&HistoryQuery {
            workflow_id: Some("wf-a".into()),
            ..HistoryQuery::default()
        }))
        .unwrap();
        let wf_a: Vec<_> = wf_a.items.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(wf_a, ["e6", "e4", "e2", "e0"]);
        // The cells read back count the same records as the history holds.
        assert_eq!(stats_of(store, "wf-a").0, 4);
    };
    check(&store);
    let cells = block_on(store.cells(None, None)).unwrap();
    assert_eq!(
        cells.iter().map(|c| c.count).sum::<u64>(),
        8,
        "every stored record counted once"
    );
    let wf_b = stats_of(&store, "wf-b");
    drop(store);
    assert_eq!(index_format(&dir), 5, "rewritten on open");
    let (again, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(report.indexed);
    assert_eq!(
        report.replayed_bytes, 0,
        "everything came from the new index"
    );
    check(&again);
    assert_eq!(block_on(again.cells(None, None)).unwrap(), cells);
    assert_eq!(stats_of(&again, "wf-b"), wf_b);
    // A rebuild from the records agrees with the cells carried over from format 4.
    assert_eq!(block_on(again.rebuild_rollups()).unwrap(), cells.len());
    assert_eq!(block_on(again.cells(None, None)).unwrap(), cells);
}

/// A store of many records, checkpointed: its index spans many pages.
fn large_indexed_store(case: &str, n: i64) -> PathBuf {
    let dir = temp_dir(case);
    let store = open(&dir);
    let runs: Vec<_> = (0..n)
        .map(|i| {
            sample(
                &format!("e{i:05}"),
                &format!("wf-{}", i % 4),
                T0 + i,
                Status::Success,
            )
        })
        .collect();
    for chunk in runs.chunks(500) {
        block_on(store.write(chunk)).unwrap();
    }
    store.checkpoint().unwrap();
    dir
}

#[test]
fn a_damaged_index_page_met_after_opening_is_rebuilt_from_the_log() {
    let dir = large_indexed_store("index-page-damage", 3000);
    let io = StdFileIo::new(&dir, "store").unwrap();
    let mut bytes = std::fs::read(io.index_path()).unwrap();
    assert!(bytes.len() > 20 * 4096, "many pages: {}", bytes.len());
    // A bit flipped in a page of rows in the middle (not the first page, not the footer's).
    let at = bytes.len() / 4;
    bytes[at] ^= 0x10;
    std::fs::write(io.index_path(), &bytes).unwrap();
    let (store, report) = FileStore::open(io).unwrap();
    assert!(
        report.indexed,
        "opening reads only the first page and the footer"
    );
    // Every page is read by these walks: the damage is met, the catalog rebuilt from the log.
    let all = all_pages(&store, HistoryQuery::default());
    assert_eq!(all.len(), 3000);
    let wf = all_pages(
        &store,
        HistoryQuery {
            workflow_id: Some("wf-1".into()),
            ..HistoryQuery::default()
        },
    );
    assert_eq!(wf.len(), 750);
    drop(store);
    let (again, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(report.indexed);
    assert_eq!(report.replayed_bytes, 0, "a new index was written");
    assert_eq!(ids(&again).len(), 1000, "a page of 1000");
    assert_eq!(all_pages(&again, HistoryQuery::default()).len(), 3000);
}

#[test]
fn opening_reads_a_bounded_part_of_a_large_index() {
    // Reads of the index while opening are counted: the first page and the footer.
    struct Counting {
        inner: StdFileIo,
        read: std::cell::Cell<u64>,
    }
    impl runledger::store::file::FileIo for Counting {
        fn read_from(&self, offset: u64) -> Result<Vec<u8>, String> {
            self.inner.read_from(offset)
        }
        fn read_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, String> {
            self.inner.read_at(offset, len)
        }
        fn log_size(&self) -> Result<u64, String> {
            self.inner.log_size()
        }
        fn append(&self, at: u64, bytes: &[u8]) -> Result<(), String> {
            self.inner.append(at, bytes)
        }
        fn set_len(&self, len: u64) -> Result<(), String> {
            self.inner.set_len(len)
        }
        fn truncate(&self, len: u64) -> Result<String, String> {
            self.inner.truncate(len)
        }
        fn keep_aside(&self, at: u64, bytes: &[u8]) -> Result<String, String> {
            self.inner.keep_aside(at, bytes)
        }
        fn replace(&self, bytes: &[u8]) -> Result<(), String> {
            self.inner.replace(bytes)
        }
        fn index_size(&self) -> Result<Option<u64>, String> {
            self.inner.index_size()
        }
        fn read_index_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, String> {
            let bytes = self.inner.read_index_at(offset, len)?;
            self.read.set(self.read.get() + bytes.len() as u64);
            Ok(bytes)
        }
        fn begin_index(&self) -> Result<(), String> {
            self.inner.begin_index()
        }
        fn append_index(&self, bytes: &[u8]) -> Result<(), String> {
            self.inner.append_index(bytes)
        }
        fn commit_index(&self) -> Result<(), String> {
            self.inner.commit_index()
        }
        fn fresh_id(&self) -> String {
            self.inner.fresh_id()
        }
        fn read_legacy(&self) -> Result<Option<String>, String> {
            self.inner.read_legacy()
        }
        fn retire_legacy(&self) -> Result<(), String> {
            self.inner.retire_legacy()
        }
    }
    let dir = large_indexed_store("open-reads", 3000);
    let io = StdFileIo::new(&dir, "store").unwrap();
    let index_bytes = std::fs::metadata(io.index_path()).unwrap().len();
    let (store, report) = FileStore::open(Counting {
        inner: io,
        read: 0.into(),
    })
    .unwrap();
    assert!(report.indexed);
    let at_open = store.io().read.get();
    assert!(
        at_open <= 4 * 4096,
        "{at_open} bytes of a {index_bytes}-byte index read to open"
    );
    // A page of history reads a few pages more, not the index.
    let page = block_on(store.history(&HistoryQuery {
        workflow_id: Some("wf-3".into()),
        limit: Some(50),
        ..HistoryQuery::default()
    }))
    .unwrap();
    assert_eq!(page.items.len(), 50);
    assert_eq!(page.items[0].id, "e02999");
    let for_page = store.io().read.get() - at_open;
    assert!(
        for_page < index_bytes / 4,
        "{for_page} bytes of a {index_bytes}-byte index read for a page"
    );
}

/// The log's frame offsets, read back by walking its headers.
fn frame_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        starts.push(at);
        at += 8 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    starts
}

#[test]
fn one_flipped_byte_at_ten_percent_of_a_thousand_records_costs_one_record() {
    let dir = temp_dir("mid-damage");
    let store = open(&dir);
    write_runs(&store, 0..1000);
    drop(store);
    let io = StdFileIo::new(&dir, "store").unwrap();
    let mut bytes = std::fs::read(io.log_path()).unwrap();
    let starts = frame_starts(&bytes);
    // Frame 0 is the header; frame 101 holds e100, at 10% of the log.
    bytes[starts[101] + 30] ^= 0x5a;
    let damaged_len = starts[102] - starts[101];
    std::fs::write(io.log_path(), &bytes).unwrap();

    let (store, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    let kept = ids(&store);
    assert_eq!(kept.len(), 999);
    assert!(!kept.contains(&"e100".to_owned()));
    assert_eq!(report.damaged.len(), 1);
    let damage = &report.damaged[0];
    assert!(!damage.tail);
    assert_eq!(
        (damage.at, damage.bytes),
        (starts[101] as u64, damaged_len as u64)
    );
    assert!(damage.reason.contains("checksum"), "{}", damage.reason);
    let warnings = report.warnings();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("resumed at the next valid frame"));
    // The damaged bytes are kept aside, exactly.
    assert_eq!(
        std::fs::read(&damage.saved_to).unwrap(),
        &bytes[starts[101]..starts[102]]
    );
    // Every kept record reads back, and the rewritten log reopens without damage.
    assert!(block_on(store.get("e999")).unwrap().is_some());
    assert!(block_on(store.get("e99")).unwrap().is_some());
    block_on(store.write(&[sample("after", "wf", T0, Status::Success)])).unwrap();
    drop(store);
    let (again, second) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(second.damaged.is_empty(), "{:?}", second.damaged);
    assert_eq!(ids(&again).len(), 1000);
}

/// The std file I/O, but appends fail once `fail_appends` is set, after writing half of
/// their bytes (a disk filling up mid-write); `fail_cuts` makes the rollback fail too.
struct FillingDisk {
    inner: StdFileIo,
    fail_appends: std::cell::Cell<bool>,
    fail_cuts: std::cell::Cell<bool>,
    fail_index: std::cell::Cell<bool>,
}

impl runledger::store::file::FileIo for FillingDisk {
    fn read_from(&self, offset: u64) -> Result<Vec<u8>, String> {
        self.inner.read_from(offset)
    }
    fn read_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, String> {
        self.inner.read_at(offset, len)
    }
    fn log_size(&self) -> Result<u64, String> {
        self.inner.log_size()
    }
    fn append(&self, at: u64, bytes: &[u8]) -> Result<(), String> {
        if self.fail_appends.get() {
            self.inner.append(at, &bytes[..bytes.len() / 2])?;
            return Err("ENOSPC: no space left on device, write".into());
        }
        self.inner.append(at, bytes)
    }
    fn set_len(&self, len: u64) -> Result<(), String> {
        if self.fail_cuts.get() {
            return Err("EIO: i/o error".into());
        }
        self.inner.set_len(len)
    }
    fn truncate(&self, len: u64) -> Result<String, String> {
        self.inner.truncate(len)
    }
    fn keep_aside(&self, at: u64, bytes: &[u8]) -> Result<String, String> {
        self.inner.keep_aside(at, bytes)
    }
    fn replace(&self, bytes: &[u8]) -> Result<(), String> {
        self.inner.replace(bytes)
    }
    fn index_size(&self) -> Result<Option<u64>, String> {
        self.inner.index_size()
    }
    fn read_index_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, String> {
        self.inner.read_index_at(offset, len)
    }
    fn begin_index(&self) -> Result<(), String> {
        self.inner.begin_index()
    }
    fn append_index(&self, bytes: &[u8]) -> Result<(), String> {
        if self.fail_index.get() {
            return Err("ENOSPC: no space left on device, write".into());
        }
        self.inner.append_index(bytes)
    }
    fn commit_index(&self) -> Result<(), String> {
        self.inner.commit_index()
    }
    fn fresh_id(&self) -> String {
        self.inner.fresh_id()
    }
    fn read_legacy(&self) -> Result<Option<String>, String> {
        self.inner.read_legacy()
    }
    fn retire_legacy(&self) -> Result<(), String> {
        self.inner.retire_legacy()
    }
}

fn filling_disk(dir: &PathBuf) -> FileStore<FillingDisk> {
    FileStore::open(FillingDisk {
        inner: StdFileIo::new(dir, "store").unwrap(),
        fail_appends: false.into(),
        fail_cuts: false.into(),
        fail_index: false.into(),
    })
    .unwrap()
    .0
}

fn run(i: i64) -> runledger::Execution {
    sample(&format!("e{i}"), "wf", T0 + i * 1000, Status::Success)
}

#[test]
fn a_write_that_fills_the_disk_is_rolled_back_and_loses_no_confirmed_record() {
    let dir = temp_dir("enospc");
    let store = filling_disk(&dir);
    let mut confirmed = Vec::new();
    for i in 0..45 {
        // Every fifth write hits a full disk half way; the next one goes through.
        store.io().fail_appends.set(i % 5 == 3);
        match block_on(store.write(&[run(i)])) {
            Ok(()) => confirmed.push(format!("e{i}")),
            Err(e) => {
                assert!(
                    matches!(e, runledger::StoreError::QuotaExceeded { records: 1, .. }),
                    "{e:?}"
                );
                assert!(e.to_string().contains("ENOSPC"), "{e}");
            }
        }
    }
    assert_eq!(confirmed.len(), 36);
    drop(store);
    let (again, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(report.damaged.is_empty(), "{:?}", report.damaged);
    let mut kept = ids(&again);
    kept.sort();
    confirmed.sort();
    assert_eq!(kept, confirmed);
    for id in &confirmed {
        assert!(block_on(again.get(id)).unwrap().is_some(), "{id}");
    }
}

#[test]
fn a_failed_write_that_cannot_be_rolled_back_seals_the_log_until_reopened() {
    let dir = temp_dir("sealed");
    let store = filling_disk(&dir);
    block_on(store.write(&[run(0)])).unwrap();
    store.io().fail_appends.set(true);
    store.io().fail_cuts.set(true);
    assert!(block_on(store.write(&[run(1)])).is_err());
    store.io().fail_appends.set(false);
    store.io().fail_cuts.set(false);
    let sealed = block_on(store.write(&[run(2)])).unwrap_err();
    assert!(sealed.to_string().contains("sealed"), "{sealed}");
    drop(store);
    // Reopening cuts the partial frame as a torn tail; the confirmed record is there.
    let (again, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(report.damaged.iter().all(|d| d.tail));
    assert_eq!(ids(&again), ["e0"]);
    block_on(again.write(&[run(3)])).unwrap();
    assert_eq!(ids(&again), ["e3", "e0"]);
}

#[test]
fn an_index_that_cannot_be_written_fails_no_write_and_is_reported_once() {
    let dir = temp_dir("index-full");
    let store = filling_disk(&dir);
    store.io().fail_index.set(true);
    // 9 MiB of records: past the point where an index is written.
    let blob = "x".repeat(100 * 1024);
    let mut reported = 0;
    for i in 0..90 {
        let mut e = run(i);
        e.nodes[0].input = serde_json::json!({ "blob": blob }).into();
        block_on(store.write(&[e])).unwrap();
        if let Some(e) = store.take_maintenance_error() {
            assert!(e.to_string().contains("ENOSPC"), "{e}");
            reported += 1;
        }
    }
    assert_eq!(reported, 1, "tried again only after as much more log");
    drop(store);
    let (again, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(!report.indexed);
    assert_eq!(ids(&again).len(), 90);
}

/// A store written by the previous layout (index format 2, summaries in the index; made by
/// commit a91da22's code: six runs, e0 settled, e5 deleted, an index, then e6).
fn format_2_store(case: &str) -> PathBuf {
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/file-store-index-format-2");
    let dir = temp_dir(case);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["store.log", "store.index"] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    dir
}

fn index_format(dir: &std::path::Path) -> u32 {
    let bytes = std::fs::read(dir.join("store.index")).unwrap();
    u32::from_le_bytes(bytes[4..8].try_into().unwrap())
}

#[test]
fn a_store_written_by_the_previous_layout_opens_and_upgrades_its_index() {
    let dir = format_2_store("upgrade");
    assert_eq!(index_format(&dir), 2);
    let (store, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(!report.indexed, "an index of format 2 is not read");
    assert!(report.warnings().is_empty(), "{:?}", report.warnings());
    let check = |store: &FileStore<StdFileIo>| {
        assert_eq!(ids(store), ["e6", "e4", "e3", "e2", "e1", "e0"]);
        let e4 = block_on(store.get("e4")).unwrap().unwrap();
        assert_eq!(e4.status, Status::Failed);
        assert_eq!(e4.failed_nodes, ["load"]);
        assert_eq!(block_on(store.get("e5")).unwrap(), None);
        assert_eq!(block_on(store.outbox_counts()).unwrap().pending, 5);
        let by_external = block_on(store.history(&HistoryQuery {
            external_id: Some(ExternalRef {
                system: "airflow".into(),
                id: "run-2".into(),
            }),
            ..HistoryQuery::default()
        }))
        .unwrap();
        assert_eq!(by_external.items.len(), 1);
        assert_eq!(by_external.items[0].id, "e2");
        assert!(
            by_external.items[0].nodes.is_empty(),
            "a summary: no node runs"
        );
        let by_workflow = block_on(store.history(&HistoryQuery {
            workflow_id: Some("wf-a".into()),
            ..HistoryQuery::default()
        }))
        .unwrap();
        let wf_a: Vec<_> = by_workflow.items.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(wf_a, ["e6", "e4", "e2", "e0"]);
    };
    check(&store);
    let cells = block_on(store.cells(None, None)).unwrap();
    assert!(!cells.is_empty());
    drop(store);
    assert_eq!(
        index_format(&dir),
        runledger::store::file::INDEX_FORMAT,
        "rewritten on open"
    );
    let (again, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(report.indexed);
    assert_eq!(
        report.replayed_bytes, 0,
        "everything came from the new index"
    );
    check(&again);
    assert_eq!(block_on(again.cells(None, None)).unwrap(), cells);
    // The rollups the new index kept are those the records give.
    block_on(again.rebuild_rollups()).unwrap();
    assert_eq!(block_on(again.cells(None, None)).unwrap(), cells);
}

#[test]
fn pages_read_before_a_compaction_are_not_served_from_moved_frames() {
    let dir = temp_dir("cache-compaction");
    let store = open(&dir);
    write_runs(&store, 0..6);
    // Read every summary once (the cache keeps them by frame offset).
    assert_eq!(ids(&store), ["e5", "e4", "e3", "e2", "e1", "e0"]);
    // New versions of the older runs, then a compaction: frames move, offsets are reused.
    for i in 0..3 {
        let mut run = sample(&format!("e{i}"), "wf", T0 + i * 1000, Status::Failed);
        run.version = 2;
        block_on(store.write(&[run])).unwrap();
    }
    block_on(store.delete("e4")).unwrap();
    store.compact().unwrap();
    let page = block_on(store.history(&HistoryQuery::default())).unwrap();
    let seen: Vec<(String, Status, u64)> = page
        .items
        .iter()
        .map(|e| (e.id.clone(), e.status, e.version))
        .collect();
    let expected: Vec<(String, Status, u64)> = [5, 3, 2, 1, 0]
        .iter()
        .map(|&i| {
            let status = if i < 3 {
                Status::Failed
            } else {
                Status::Success
            };
            (format!("e{i}"), status, if i < 3 { 2 } else { 1 })
        })
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn closing_after_much_log_writes_an_index_and_after_little_leaves_it() {
    let dir = temp_dir("close-index");
    let store = open(&dir);
    // 5 MiB of records: past what closing leaves to replay, short of a checkpoint.
    let blob = "x".repeat(100 * 1024);
    for i in 0..50 {
        let mut e = run(i);
        e.nodes[0].input = serde_json::json!({ "blob": blob }).into();
        block_on(store.write(&[e])).unwrap();
    }
    store.close_index();
    drop(store);
    let (again, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(report.indexed);
    assert_eq!(report.replayed_bytes, 0, "closing wrote an index");
    block_on(again.write(&[run(50)])).unwrap();
    again.close_index();
    drop(again);
    let (third, report) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
    assert!(
        report.replayed_bytes > 0,
        "one small record is replayed, not indexed"
    );
    assert_eq!(ids(&third).len(), 51);
}

/// Cells over many slots: read by window and by workflow from the sealed index, under
/// changes since it was written, then merged into a new one; always as the memory store has
/// them.
#[test]
fn rollup_cells_over_many_slots_read_by_window_from_the_sealed_index() {
    let dir = temp_dir("cells-by-window");
    let store = open(&dir);
    let reference = MemoryStore::new();
    // Ten minutes apart: three runs a slot, over 40 slots.
    let runs: Vec<_> = (0..120)
        .map(|i| {
            let mut e = sample(
                &format!("c{i:03}"),
                &format!("wf-{}", i % 3),
                T0 + i * 600_000,
                [Status::Success, Status::Failed][(i % 2) as usize],
            );
            e.user_id = Some(format!("u{}", i % 4));
            e
        })
        .collect();
    block_on(store.write(&runs)).unwrap();
    block_on(reference.write(&runs)).unwrap();
    let slot0 = T0.div_euclid(runledger::stats::SLOT_MS);
    let compare = |store: &FileStore<StdFileIo>| {
        let windows = [
            (None, None),
            (Some(slot0 + 5), Some(slot0 + 9)),
            (Some(slot0 + 30), None),
            (None, Some(slot0 + 2)),
            (Some(slot0 + 100), None),
        ];
        let sorted = |mut cells: Vec<runledger::stats::Cell>| {
            cells.sort_by(|a, b| a.key.cmp(&b.key));
            cells
        };
        for (from, to) in windows {
            for w in ["wf-0", "wf-1", "wf-2", "wf-7"] {
                assert_eq!(
                    sorted(block_on(store.workflow_cells(w, from, to)).unwrap()),
                    sorted(block_on(reference.workflow_cells(w, from, to)).unwrap()),
                    "{w} {from:?}..{to:?}"
                );
            }
            assert_eq!(
                sorted(block_on(store.cells(from, to)).unwrap()),
                sorted(block_on(reference.cells(from, to)).unwrap()),
                "{from:?}..{to:?}"
            );
        }
    };
    store.checkpoint().unwrap();
    compare(&store);
    assert!(
        !block_on(store.workflow_cells("wf-1", Some(slot0 + 5), Some(slot0 + 9)))
            .unwrap()
            .is_empty(),
        "a window in the middle finds cells"
    );
    // Changes since: a run moved to another workflow and slot, removals (a cell emptied),
    // a workflow cleared, new runs in new and old slots.
    let mut moved = runs[10].clone();
    moved.version = 2;
    moved.workflow_id = Some("wf-7".into());
    moved.started_at = T0 + 95 * 600_000;
    let mut later: Vec<_> = (120..130)
        .map(|i| {
            sample(
                &format!("c{i:03}"),
                "wf-1",
                T0 + i * 600_000,
                Status::Success,
            )
        })
        .collect();
    later[0].started_at = T0 + 7 * 600_000;
    fn change<S: Store>(s: &S, moved: &runledger::Execution, later: &[runledger::Execution]) {
        block_on(s.write(std::slice::from_ref(moved))).unwrap();
        block_on(s.delete("c020")).unwrap();
        block_on(s.delete("c050")).unwrap();
        block_on(s.clear(Some("wf-2"))).unwrap();
        block_on(s.write(later)).unwrap();
    }
    change(&store, &moved, &later);
    change(&reference, &moved, &later);
    compare(&store);
    store.checkpoint().unwrap();
    compare(&store);
    drop(store);
    let again = open(&dir);
    compare(&again);
    // A rebuild from the records ends where the cells kept in step did.
    block_on(again.rebuild_rollups()).unwrap();
    compare(&again);
}
