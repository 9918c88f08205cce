//! The behavioural suite every [`Store`] must pass: memory natively, IndexedDB in Chromium.
//!
//! Each case gets a fresh, empty store. Run them all with [`run_all`].

use std::future::Future;

use serde_json::json;

use super::{DeadLetter, FailPoint, OutboxCounts, Store, Synced};
use crate::error::StoreError;
use crate::history::{ExternalRef, HistoryQuery};
use crate::model::{Execution, Kind, NodeRun, NodeStatus, QueryInfo, Status};
use crate::stats::{Cell, Rollups, SLOT_MS};

/// 2023-11-14T22:13:20Z, a base for test timestamps.
pub const T0: i64 = 1_700_000_000_000;

/// A finished workflow execution with two node runs.
pub fn sample(id: &str, workflow: &str, started_at: i64, status: Status) -> Execution {
    let node = |nid: &str, at: i64| NodeRun {
        id: nid.into(),
        attempt: 1,
        status: NodeStatus::Success,
        started_at: at,
        completed_at: Some(at + 5),
        duration_ms: Some(5.0),
        input: json!({"rows": [1, 2, 3], "from": nid}).into(),
        output: json!({"ok": true}).into(),
        ..NodeRun::default()
    };
    let mut e = Execution {
        id: id.into(),
        version: 1,
        kind: Kind::Workflow,
        workflow_id: Some(workflow.into()),
        user_id: Some("u1".into()),
        status,
        started_at,
        completed_at: status.is_final().then_some(started_at + 20),
        nodes: vec![node("fetch", started_at + 1), node("load", started_at + 10)],
        ..Execution::default()
    };
    e.refresh_node_summary();
    e
}

fn ids(items: &[Execution]) -> Vec<&str> {
    items.iter().map(|e| e.id.as_str()).collect()
}

async fn history<S: Store>(store: &S, q: HistoryQuery) -> Vec<String> {
    let page = store.history(&q).await.expect("history");
    ids(&page.items).into_iter().map(String::from).collect()
}

/// Runs every case against fresh stores from `make(case_name)`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn(&'static str) -> Fut,
    Fut: Future<Output = S>,
{
    write_then_get_round_trips_the_whole_execution(&make("round_trip").await).await;
    history_items_are_summaries_without_payloads(&make("summaries").await).await;
    history_is_newest_first_and_pages_without_gaps_or_repeats(&make("pages").await).await;
    pagination_is_stable_while_new_records_arrive(&make("stable_pages").await).await;
    history_filters_combine(&make("filters").await).await;
    rewriting_replaces_the_earlier_version(&make("rewrite").await).await;
    delete_removes_metadata_and_payload(&make("delete").await).await;
    clear_removes_one_workflow_or_everything(&make("clear").await).await;
    a_failed_write_leaves_nothing_partial_and_keeps_what_was_stored(&make("atomic").await).await;
    quota_failure_is_typed_and_loses_nothing(&make("quota").await).await;
    running_lists_only_running_executions_with_nodes(&make("running").await).await;
    written_records_wait_in_the_outbox_until_acknowledged(&make("outbox").await).await;
    a_record_changed_in_flight_is_sent_again(&make("in_flight").await).await;
    refused_records_are_dead_lettered_kept_and_retryable(&make("dead_letters").await).await;
    discarded_dead_letters_leave_and_are_not_sent_again(&make("discard").await).await;
    rollups_follow_every_change_and_equal_a_rebuild(&make("rollups").await, 7, 120).await;
    node_failures_outputs_and_external_ids_are_found_through_indexes(&make("lineage").await).await;
    pruning_goes_oldest_first_and_keeps_running_and_unsynced_records(&make("prune").await).await;
}

fn synced(id: &str, version: u64) -> Synced {
    Synced {
        id: id.into(),
        version,
    }
}

/// The outbox's records, checking that each one's JSON is the whole execution it names.
async fn queued<S: Store>(store: &S, limit: usize) -> Vec<Execution> {
    let out = store.outbox(limit, None).await.expect("outbox");
    out.into_iter()
        .map(|o| {
            let e: Execution = serde_json::from_str(&o.json).expect("outbox JSON is an execution");
            assert_eq!((e.id.as_str(), e.version), (o.id.as_str(), o.version));
            e
        })
        .collect()
}

async fn counts<S: Store>(store: &S) -> (usize, usize) {
    let OutboxCounts {
        pending,
        dead_lettered,
    } = store.outbox_counts().await.expect("outbox counts");
    (pending, dead_lettered)
}

/// `get` returns exactly what was written, node payloads included.
pub async fn write_then_get_round_trips_the_whole_execution<S: Store>(store: &S) {
    let e = sample("a", "wf", T0, Status::Success);
    store.write(std::slice::from_ref(&e)).await.unwrap();
    assert_eq!(store.get("a").await.unwrap(), Some(e));
    assert_eq!(store.get("missing").await.unwrap(), None);
}

/// History lists metadata only, with the node count kept.
pub async fn history_items_are_summaries_without_payloads<S: Store>(store: &S) {
    store
        .write(&[sample("a", "wf", T0, Status::Success)])
        .await
        .unwrap();
    let page = store.history(&HistoryQuery::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.items[0].nodes.is_empty());
    assert_eq!(page.items[0].node_count, 2);
}

/// Pages come newest first and together list every record once.
pub async fn history_is_newest_first_and_pages_without_gaps_or_repeats<S: Store>(store: &S) {
    // Two share a start time: the id breaks the tie.
    let batch: Vec<_> = (0..7)
        .map(|i| {
            sample(
                &format!("e{i}"),
                "wf",
                T0 + (i.min(5) as i64) * 1000,
                Status::Success,
            )
        })
        .collect();
    store.write(&batch).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = store
            .history(&HistoryQuery {
                limit: Some(3),
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|e| e.id.clone()));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["e6", "e5", "e4", "e3", "e2", "e1", "e0"]);
}

/// A record that arrives between two pages does not shift the next page.
pub async fn pagination_is_stable_while_new_records_arrive<S: Store>(store: &S) {
    let batch: Vec<_> = (0..4)
        .map(|i| sample(&format!("e{i}"), "wf", T0 + i * 1000, Status::Success))
        .collect();
    store.write(&batch).await.unwrap();
    let first = store
        .history(&HistoryQuery {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&first.items), ["e3", "e2"]);
    store
        .write(&[sample("newer", "wf", T0 + 9000, Status::Running)])
        .await
        .unwrap();
    let second = store
        .history(&HistoryQuery {
            limit: Some(2),
            cursor: first.next_cursor,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&second.items), ["e1", "e0"]);
    assert_eq!(second.next_cursor, None);
}

/// Workflow, status, user, database type and time filters, alone and combined.
pub async fn history_filters_combine<S: Store>(store: &S) {
    let mut q1 = sample("q1", "wf-q", T0 + 1000, Status::Failed);
    q1.query = Some(QueryInfo {
        database_type: Some("kdb".into()),
        ..Default::default()
    });
    q1.user_id = Some("u2".into());
    let mut q2 = sample("q2", "wf-q", T0 + 2000, Status::Success);
    q2.query = Some(QueryInfo {
        database_type: Some("starburst".into()),
        ..Default::default()
    });
    q2.user_id = Some("u2".into());
    store
        .write(&[
            sample("a", "wf-a", T0, Status::Success),
            sample("b", "wf-a", T0 + 3000, Status::Failed),
            sample("c", "wf-b", T0 + 4000, Status::Running),
            q1,
            q2,
        ])
        .await
        .unwrap();
    let wf = |w: &str| Some(w.to_owned());
    assert_eq!(
        history(
            store,
            HistoryQuery {
                workflow_id: wf("wf-a"),
                ..Default::default()
            }
        )
        .await,
        ["b", "a"]
    );
    assert_eq!(
        history(
            store,
            HistoryQuery {
                workflow_id: wf("wf-a"),
                status: Some(Status::Failed),
                ..Default::default()
            }
        )
        .await,
        ["b"]
    );
    assert_eq!(
        history(
            store,
            HistoryQuery {
                status: Some(Status::Failed),
                ..Default::default()
            }
        )
        .await,
        ["b", "q1"]
    );
    assert_eq!(
        history(
            store,
            HistoryQuery {
                user_id: wf("u2"),
                database_type: wf("kdb"),
                ..Default::default()
            }
        )
        .await,
        ["q1"]
    );
    assert_eq!(
        history(
            store,
            HistoryQuery {
                database_type: wf("starburst"),
                ..Default::default()
            }
        )
        .await,
        ["q2"]
    );
    assert_eq!(
        history(
            store,
            HistoryQuery {
                since: Some(T0 + 1000),
                until: Some(T0 + 3000),
                ..Default::default()
            }
        )
        .await,
        ["b", "q2", "q1"]
    );
    assert_eq!(
        history(
            store,
            HistoryQuery {
                workflow_id: wf("wf-a"),
                until: Some(T0 + 2999),
                ..Default::default()
            }
        )
        .await,
        ["a"]
    );
    assert!(history(
        store,
        HistoryQuery {
            workflow_id: wf("nope"),
            ..Default::default()
        }
    )
    .await
    .is_empty());
}

/// Writing a newer version replaces the old one in every index.
pub async fn rewriting_replaces_the_earlier_version<S: Store>(store: &S) {
    let mut e = sample("a", "wf", T0, Status::Running);
    store.write(std::slice::from_ref(&e)).await.unwrap();
    e.status = Status::Success;
    e.completed_at = Some(T0 + 50);
    e.version = 2;
    store.write(std::slice::from_ref(&e)).await.unwrap();
    assert!(history(
        store,
        HistoryQuery {
            status: Some(Status::Running),
            ..Default::default()
        }
    )
    .await
    .is_empty());
    assert_eq!(
        history(
            store,
            HistoryQuery {
                status: Some(Status::Success),
                ..Default::default()
            }
        )
        .await,
        ["a"]
    );
    assert_eq!(store.get("a").await.unwrap().unwrap().version, 2);
}

/// Delete removes the payload with the metadata.
pub async fn delete_removes_metadata_and_payload<S: Store>(store: &S) {
    store
        .write(&[
            sample("a", "wf", T0, Status::Success),
            sample("b", "wf", T0 + 1, Status::Success),
        ])
        .await
        .unwrap();
    assert!(store.delete("a").await.unwrap());
    assert!(!store.delete("a").await.unwrap());
    assert_eq!(store.get("a").await.unwrap(), None);
    assert_eq!(history(store, HistoryQuery::default()).await, ["b"]);
    // A deleted record is not sent either.
    assert_eq!(ids(&queued(store, 10).await), ["b"]);
    // Writing the id again starts from nothing: no stale payload resurfaces.
    let mut bare = sample("a", "wf", T0, Status::Success);
    bare.nodes.clear();
    store.write(&[bare]).await.unwrap();
    assert!(store.get("a").await.unwrap().unwrap().nodes.is_empty());
}

/// Clear removes one workflow's history, or everything.
pub async fn clear_removes_one_workflow_or_everything<S: Store>(store: &S) {
    store
        .write(&[
            sample("a1", "wf-a", T0, Status::Success),
            sample("a2", "wf-a", T0 + 1, Status::Failed),
            sample("b1", "wf-b", T0 + 2, Status::Success),
        ])
        .await
        .unwrap();
    assert_eq!(store.clear(Some("wf-a")).await.unwrap(), 2);
    assert_eq!(history(store, HistoryQuery::default()).await, ["b1"]);
    assert_eq!(store.get("a1").await.unwrap(), None);
    assert_eq!(ids(&queued(store, 10).await), ["b1"]);
    assert_eq!(store.clear(None).await.unwrap(), 1);
    assert!(history(store, HistoryQuery::default()).await.is_empty());
    assert_eq!(counts(store).await, (0, 0));
    assert!(
        store.cells(None, None).await.unwrap().is_empty(),
        "no stats remain for records that are gone"
    );
}

/// A write that fails part-way leaves none of its records, and earlier ones intact.
pub async fn a_failed_write_leaves_nothing_partial_and_keeps_what_was_stored<S: Store>(store: &S) {
    let kept = sample("kept", "wf", T0, Status::Success);
    store.write(std::slice::from_ref(&kept)).await.unwrap();
    let mut changed = kept.clone();
    changed.version = 2;
    changed.status = Status::Failed;
    // Fails after the first execution's metadata, payload and outbox mark, and the second
    // one's metadata.
    store.inject_failure(FailPoint {
        after_puts: 4,
        error_name: "AbortError".into(),
    });
    let err = store
        .write(&[
            sample("new1", "wf", T0 + 1, Status::Success),
            sample("new2", "wf", T0 + 2, Status::Success),
            changed,
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Transaction { .. }), "{err:?}");
    assert_eq!(store.get("new1").await.unwrap(), None);
    assert_eq!(store.get("new2").await.unwrap(), None);
    assert_eq!(store.get("kept").await.unwrap(), Some(kept));
    assert_eq!(history(store, HistoryQuery::default()).await, ["kept"]);
    // No outbox mark was left for what was not stored.
    assert_eq!(ids(&queued(store, 10).await), ["kept"]);
    assert_eq!(queued(store, 10).await[0].version, 1);
    // The same write succeeds once the fault is gone.
    store
        .write(&[sample("new1", "wf", T0 + 1, Status::Success)])
        .await
        .unwrap();
    assert!(store.get("new1").await.unwrap().is_some());
}

/// A full disk is reported as a quota error; nothing already stored is lost.
pub async fn quota_failure_is_typed_and_loses_nothing<S: Store>(store: &S) {
    store
        .write(&[sample("kept", "wf", T0, Status::Success)])
        .await
        .unwrap();
    store.inject_failure(FailPoint {
        after_puts: 1,
        error_name: "QuotaExceededError".into(),
    });
    let err = store
        .write(&[sample("big", "wf", T0 + 1, Status::Success)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::QuotaExceeded { records: 1, .. }),
        "{err:?}"
    );
    assert_eq!(history(store, HistoryQuery::default()).await, ["kept"]);
}

/// `running` lists running executions with their node runs.
pub async fn running_lists_only_running_executions_with_nodes<S: Store>(store: &S) {
    store
        .write(&[
            sample("done", "wf", T0, Status::Success),
            sample("live", "wf", T0 + 1, Status::Running),
        ])
        .await
        .unwrap();
    let running = store.running().await.unwrap();
    assert_eq!(ids(&running), ["live"]);
    assert_eq!(running[0].nodes.len(), 2);
}

/// Every write marks its records to be sent; an acknowledgement removes the mark.
pub async fn written_records_wait_in_the_outbox_until_acknowledged<S: Store>(store: &S) {
    store
        .write(&[
            sample("a", "wf", T0, Status::Success),
            sample("b", "wf", T0 + 1, Status::Success),
        ])
        .await
        .unwrap();
    store
        .write(&[sample("c", "wf", T0 + 2, Status::Success)])
        .await
        .unwrap();
    assert_eq!(counts(store).await, (3, 0));
    // The longest waiting first, whole (node payloads included), bounded by the limit.
    let first = queued(store, 2).await;
    assert_eq!(ids(&first), ["a", "b"]);
    assert_eq!(first[0], sample("a", "wf", T0, Status::Success));
    // Reading on from a position continues after it.
    let head = store.outbox(2, None).await.unwrap();
    let rest = store.outbox(10, Some(&head[1].position)).await.unwrap();
    assert_eq!(
        rest.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        ["c"]
    );
    assert!(store
        .outbox(10, Some(&rest[0].position))
        .await
        .unwrap()
        .is_empty());
    store
        .settle(&[synced("a", 1), synced("b", 1)], &[])
        .await
        .unwrap();
    assert_eq!(counts(store).await, (1, 0));
    assert_eq!(ids(&queued(store, 10).await), ["c"]);
    // Acknowledging is idempotent, and acknowledged records stay stored locally.
    store.settle(&[synced("a", 1)], &[]).await.unwrap();
    assert_eq!(counts(store).await, (1, 0));
    assert!(store.get("a").await.unwrap().is_some());
}

/// A record written again while its older version was in flight stays in the outbox.
pub async fn a_record_changed_in_flight_is_sent_again<S: Store>(store: &S) {
    let mut e = sample("a", "wf", T0, Status::Running);
    store.write(std::slice::from_ref(&e)).await.unwrap();
    let in_flight = queued(store, 10).await;
    e.version = 2;
    e.status = Status::Success;
    store.write(std::slice::from_ref(&e)).await.unwrap();
    store
        .settle(&[synced("a", in_flight[0].version)], &[])
        .await
        .unwrap();
    let again = queued(store, 10).await;
    assert_eq!(ids(&again), ["a"]);
    assert_eq!((again[0].version, again[0].status), (2, Status::Success));
    store.settle(&[synced("a", 2)], &[]).await.unwrap();
    assert_eq!(counts(store).await, (0, 0));
}

/// A refused record leaves the outbox for the dead letters with its reason; the record itself
/// stays; retrying puts it back in the outbox.
pub async fn refused_records_are_dead_lettered_kept_and_retryable<S: Store>(store: &S) {
    store
        .write(&[
            sample("good", "wf", T0, Status::Success),
            sample("bad", "wf", T0 + 1, Status::Success),
        ])
        .await
        .unwrap();
    let letter = DeadLetter {
        id: "bad".into(),
        version: 1,
        reason: "the record is larger than the server accepts".into(),
        at: T0 + 5,
    };
    store
        .settle(&[synced("good", 1)], std::slice::from_ref(&letter))
        .await
        .unwrap();
    assert_eq!(counts(store).await, (0, 1));
    assert_eq!(store.dead_letters().await.unwrap(), [letter]);
    assert!(store.get("bad").await.unwrap().is_some());
    assert!(queued(store, 10).await.is_empty());
    assert_eq!(
        store
            .retry_dead_letters(Some(&["other".to_string()]))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.retry_dead_letters(None).await.unwrap(), 1);
    assert_eq!(counts(store).await, (1, 0));
    assert_eq!(ids(&queued(store, 10).await), ["bad"]);
    // Once a version is accepted, nothing about it is left behind.
    store.settle(&[synced("bad", 1)], &[]).await.unwrap();
    assert_eq!(counts(store).await, (0, 0));
}

/// Discarding dead letters (some by id, then the rest) removes them without queueing them
/// again; the records stay stored, and a later refusal of a newer version is a new letter.
pub async fn discarded_dead_letters_leave_and_are_not_sent_again<S: Store>(store: &S) {
    store
        .write(&[
            sample("a", "wf", T0, Status::Success),
            sample("b", "wf", T0 + 1, Status::Failed),
            sample("c", "wf", T0 + 2, Status::Success),
        ])
        .await
        .unwrap();
    let letter = |id: &str, at: i64| DeadLetter {
        id: id.into(),
        version: 1,
        reason: format!("{id} failed the server's checks"),
        at,
    };
    let refused = [
        letter("a", T0 + 10),
        letter("b", T0 + 11),
        letter("c", T0 + 12),
    ];
    store.settle(&[], &refused).await.unwrap();
    assert_eq!(counts(store).await, (0, 3));

    // By id: only the named ones go; an unknown id (and a repeated one) counts nothing.
    let named = ["b".to_string(), "nope".to_string(), "b".to_string()];
    assert_eq!(store.discard_dead_letters(Some(&named)).await.unwrap(), 1);
    assert_eq!(
        store.dead_letters().await.unwrap(),
        [refused[0].clone(), refused[2].clone()]
    );
    assert_eq!(counts(store).await, (0, 2));
    assert!(
        queued(store, 10).await.is_empty(),
        "a discarded letter is not sent again"
    );
    assert!(
        store.get("b").await.unwrap().is_some(),
        "the record itself stays"
    );

    // All of them; then nothing is left to discard or retry.
    assert_eq!(store.discard_dead_letters(None).await.unwrap(), 2);
    assert_eq!(counts(store).await, (0, 0));
    assert_eq!(store.discard_dead_letters(None).await.unwrap(), 0);
    assert_eq!(store.retry_dead_letters(None).await.unwrap(), 0);
    assert!(queued(store, 10).await.is_empty());
    assert_eq!(history(store, HistoryQuery::default()).await.len(), 3);

    // A newer version is sent, and refused again: a new letter, discardable in turn.
    let mut a = sample("a", "wf", T0, Status::Success);
    a.version = 2;
    store.write(std::slice::from_ref(&a)).await.unwrap();
    assert_eq!(ids(&queued(store, 10).await), ["a"]);
    let again = DeadLetter {
        version: 2,
        ..letter("a", T0 + 20)
    };
    store
        .settle(&[], std::slice::from_ref(&again))
        .await
        .unwrap();
    assert_eq!(store.dead_letters().await.unwrap(), [again]);
    assert_eq!(
        store
            .discard_dead_letters(Some(&["a".to_string()]))
            .await
            .unwrap(),
        1
    );
    assert_eq!(counts(store).await, (0, 0));
}

/// A small deterministic generator, so that a failing sequence can be replayed by its seed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// A random execution `id` at `version`, spread over slots, workflows, users, databases and
/// statuses.
fn random_execution(rng: &mut Lcg, id: &str, version: u64) -> Execution {
    const STATUSES: [Status; 5] = [
        Status::Running,
        Status::Success,
        Status::Failed,
        Status::Error,
        Status::Timeout,
    ];
    let status = STATUSES[rng.below(5) as usize];
    let started_at = T0 + rng.below(6) as i64 * SLOT_MS + rng.below(1_000) as i64;
    let mut e = sample(id, &format!("wf-{}", rng.below(3)), started_at, status);
    e.version = version;
    e.user_id = Some(format!("u{}", rng.below(3)));
    if rng.below(2) == 0 {
        e.kind = Kind::Query;
        e.query = Some(QueryInfo {
            database_type: Some(["kdb", "starburst"][rng.below(2) as usize].into()),
            total_rows: Some(rng.below(10_000)),
            ..QueryInfo::default()
        });
    }
    if status.is_final() {
        let duration = rng.below(5_000_000) as f64 / 997.0;
        e.completed_at = Some(started_at + duration as i64);
        e.duration_ms = Some(duration);
    }
    e
}

fn sorted(mut cells: Vec<Cell>) -> Vec<Cell> {
    cells.sort_by(|a, b| a.key.cmp(&b.key));
    cells
}

/// Rollups equal a recomputation from the records after a random sequence of writes,
/// rewrites, deletes, clears and prunes (`steps` operations from `seed`); a rebuild changes nothing.
pub async fn rollups_follow_every_change_and_equal_a_rebuild<S: Store>(
    store: &S,
    seed: u64,
    steps: usize,
) {
    let mut rng = Lcg(seed);
    let mut model: std::collections::BTreeMap<String, Execution> = Default::default();
    for step in 0..steps {
        match rng.below(10) {
            0 => {
                let id = format!("e{}", rng.below(25));
                let existed = model.remove(&id).is_some();
                assert_eq!(store.delete(&id).await.unwrap(), existed);
            }
            1 if step % 7 == 0 => {
                let w = format!("wf-{}", rng.below(3));
                model.retain(|_, e| e.workflow_id.as_deref() != Some(w.as_str()));
                store.clear(Some(&w)).await.unwrap();
            }
            2 if step % 5 == 0 => {
                let request = crate::retention::PruneRequest {
                    before: Some(T0 + rng.below(4) as i64 * SLOT_MS),
                    excess: rng.below(3) as usize,
                    protect_unsynced: false,
                    limit: 1 + rng.below(4) as usize,
                };
                let report = store.prune(&request).await.unwrap();
                for id in &report.removed {
                    let gone = model.remove(id).expect("pruned records existed");
                    assert!(gone.status.is_final(), "running records are never pruned");
                }
            }
            _ => {
                let batch: Vec<Execution> = (0..1 + rng.below(4))
                    .map(|_| rng.below(25))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .map(|n| {
                        let id = format!("e{n}");
                        let version = model.get(&id).map_or(1, |e| e.version + 1);
                        random_execution(&mut rng, &id, version)
                    })
                    .collect();
                store.write(&batch).await.unwrap();
                for e in batch {
                    model.insert(e.id.clone(), e);
                }
            }
        }
        if step % 20 == 19 || step + 1 == steps {
            let expected = sorted(Rollups::rebuild(model.values()).cells_in(None, None));
            let actual = sorted(store.cells(None, None).await.unwrap());
            assert_cells_agree(&actual, &expected, &format!("seed {seed}, step {step}"));
        }
    }
    let kept = sorted(store.cells(None, None).await.unwrap());
    assert_eq!(store.rebuild_rollups().await.unwrap(), kept.len());
    let before = sorted(store.cells(None, None).await.unwrap());
    assert_cells_agree(&kept, &before, "after a rebuild");
    assert_eq!(
        before,
        sorted(Rollups::rebuild(model.values()).cells_in(None, None)),
        "a rebuild knows every exact extreme"
    );
    // A slot range reads only its cells.
    let slot = T0.div_euclid(SLOT_MS) + 2;
    let some = store.cells(Some(slot), Some(slot)).await.unwrap();
    assert!(some.iter().all(|c| c.key.slot == slot));
    assert_eq!(
        some.len(),
        before.iter().filter(|c| c.key.slot == slot).count()
    );
    // So does a workflow's range.
    let of_wf = sorted(
        store
            .workflow_cells("wf-1", Some(slot), None)
            .await
            .unwrap(),
    );
    let expected: Vec<Cell> = before
        .iter()
        .filter(|c| c.key.slot >= slot && c.key.workflow_id.as_deref() == Some("wf-1"))
        .cloned()
        .collect();
    assert_eq!(of_wf, expected);
}

/// Cells kept up incrementally against cells rebuilt from the records: equal, except that an
/// extreme removed by a delete may be unknown (estimated) in the kept cell.
fn assert_cells_agree(kept: &[Cell], rebuilt: &[Cell], context: &str) {
    assert_eq!(kept.len(), rebuilt.len(), "{context}: cell count");
    for (k, r) in kept.iter().zip(rebuilt) {
        let strip = |c: &Cell| Cell {
            durations: crate::stats::Sketch::default(),
            ..c.clone()
        };
        assert_eq!(strip(k), strip(r), "{context}");
        assert!(
            k.durations.agrees_with(&r.durations),
            "{context}: {:?} vs {:?}",
            k.durations,
            r.durations
        );
    }
}

/// "Runs where node X failed", lineage by output name and lookups by external id, newest
/// first and paged; they combine with the other filters.
pub async fn node_failures_outputs_and_external_ids_are_found_through_indexes<S: Store>(store: &S) {
    let mut batch = Vec::new();
    for i in 0..7i64 {
        let mut e = sample(&format!("r{i}"), "wf", T0 + i * 1000, Status::Failed);
        // The load node fails in odd runs; fetch failed once in run 2 but was retried.
        if i % 2 == 1 {
            e.nodes[1].status = NodeStatus::Error;
        }
        if i == 2 {
            let mut retry = e.nodes[0].clone();
            e.nodes[0].status = NodeStatus::Error;
            retry.attempt = 2;
            e.nodes.push(retry);
        }
        e.refresh_node_summary();
        e.outputs.push(crate::model::Output {
            name: if i < 4 { "orders" } else { "invoices" }.into(),
            rows: Some(10),
            ..Default::default()
        });
        e.external_ids
            .insert("airflow".into(), format!("dag-run-{}", i % 3));
        batch.push(e);
    }
    store.write(&batch).await.unwrap();
    let q = |f: fn(&mut HistoryQuery)| {
        let mut q = HistoryQuery::default();
        f(&mut q);
        q
    };
    assert_eq!(
        history(store, q(|q| q.failed_node = Some("load".into()))).await,
        ["r5", "r3", "r1"]
    );
    assert!(
        history(store, q(|q| q.failed_node = Some("fetch".into())))
            .await
            .is_empty(),
        "a node that succeeded on retry did not fail the run"
    );
    // Paged: two, then the rest, no gaps or repeats.
    let first = store
        .history(&q(|q| {
            q.failed_node = Some("load".into());
            q.limit = Some(2);
        }))
        .await
        .unwrap();
    assert_eq!(ids(&first.items), ["r5", "r3"]);
    let mut next = q(|q| q.failed_node = Some("load".into()));
    next.cursor = first.next_cursor;
    assert_eq!(history(store, next).await, ["r1"]);
    assert_eq!(
        history(store, q(|q| q.output = Some("orders".into()))).await,
        ["r3", "r2", "r1", "r0"]
    );
    assert_eq!(
        history(
            store,
            q(|q| {
                q.output = Some("orders".into());
                q.failed_node = Some("load".into());
            })
        )
        .await,
        ["r3", "r1"]
    );
    assert_eq!(
        history(
            store,
            q(|q| {
                q.external_id = Some(ExternalRef {
                    system: "airflow".into(),
                    id: "dag-run-1".into(),
                })
            })
        )
        .await,
        ["r4", "r1"]
    );
    // A record rewritten without the failure leaves the index.
    let mut fixed = batch[5].clone();
    fixed.version += 1;
    fixed.nodes[1].status = NodeStatus::Success;
    fixed.refresh_node_summary();
    store.write(&[fixed]).await.unwrap();
    assert_eq!(
        history(store, q(|q| q.failed_node = Some("load".into()))).await,
        ["r3", "r1"]
    );
}

/// Pruning removes the oldest records (by age, then by count), in bounded steps, never a
/// running one, and never one the server has not acknowledged when asked to protect those;
/// the rollups follow.
pub async fn pruning_goes_oldest_first_and_keeps_running_and_unsynced_records<S: Store>(store: &S) {
    use crate::retention::PruneRequest;
    let batch: Vec<Execution> = (0..10i64)
        .map(|i| {
            let status = if i == 1 {
                Status::Running
            } else {
                Status::Success
            };
            sample(&format!("p{i}"), "wf", T0 + i * 1000, status)
        })
        .collect();
    store.write(&batch).await.unwrap();
    // p0..p4 reach the server; p5..p9 do not.
    let acked: Vec<Synced> = (0..5).map(|i| synced(&format!("p{i}"), 1)).collect();
    store.settle(&acked, &[]).await.unwrap();

    // Everything before p3's start, protected: p0 and p2 go (p1 is running).
    let by_age = PruneRequest {
        before: Some(T0 + 3000),
        excess: 0,
        protect_unsynced: true,
        limit: 100,
    };
    let report = store.prune(&by_age).await.unwrap();
    assert_eq!(report.removed, ["p0", "p2"]);
    assert!(report.done);
    assert_eq!(store.get("p0").await.unwrap(), None);
    assert!(store.get("p1").await.unwrap().is_some());

    // Six more by count, protected: only p3 and p4 are synced; five unsynced are kept.
    let by_count = PruneRequest {
        before: None,
        excess: 6,
        protect_unsynced: true,
        limit: 100,
    };
    let report = store.prune(&by_count).await.unwrap();
    assert_eq!(report.removed, ["p3", "p4"]);
    assert_eq!(report.kept_unsynced, 5);

    // Unprotected and in steps of two: the oldest unsynced go, two per step.
    let step = PruneRequest {
        before: None,
        excess: 3,
        protect_unsynced: false,
        limit: 2,
    };
    let first = store.prune(&step).await.unwrap();
    assert_eq!(
        (first.removed.as_slice(), first.done),
        (&["p5".to_string(), "p6".to_string()][..], false)
    );
    assert_eq!(
        history(store, HistoryQuery::default()).await,
        ["p9", "p8", "p7", "p1"]
    );
    let left: Vec<Execution> = futures::future::join_all(
        ["p1", "p7", "p8", "p9"].map(|id| async move { store.get(id).await.unwrap().unwrap() }),
    )
    .await;
    assert_eq!(
        sorted(store.cells(None, None).await.unwrap()),
        sorted(Rollups::rebuild(&left).cells_in(None, None)),
        "rollups follow pruning"
    );
    // Pruned records are not sent either.
    assert_eq!(ids(&queued(store, 10).await), ["p7", "p8", "p9"]);
}
