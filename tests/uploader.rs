//! The uploader's whole pass against a scripted ingest server, natively: batching, splitting,
//! dead letters, retries, in-flight changes, keepalive. (Over real HTTP against the real
//! server, in Chromium and Node: tests/sync/.)

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use futures::executor::block_on;
use futures::FutureExt;
use runledger::config::SyncConfig;
use runledger::store::suite::{sample, T0};
use runledger::store::{Outgoing, QueuePosition, Store};
use runledger::sync::{
    batch_id, ClientInfo, IngestRequest, IngestResponse, PassEnd, Rejected, Reply, SyncState,
    Uplink, Uploader, KEEPALIVE_BUDGET_BYTES,
};
use runledger::{MemoryStore, Status, SyncError};

/// What the scripted server does with one request.
#[derive(Clone)]
enum Script {
    /// Store the records (the default when the script is empty).
    Accept,
    /// Answer this status with this Retry-After.
    Status(u16, Option<f64>),
    /// No answer.
    Offline,
    /// 200 that lists nothing.
    Silent,
}

#[derive(Default)]
struct FakeServer {
    script: RefCell<VecDeque<Script>>,
    /// Id → highest version stored.
    stored: RefCell<HashMap<String, u64>>,
    /// Records in a batch with one of these ids make the whole batch a 400.
    unreadable: RefCell<Vec<String>>,
    /// Ids answered in `rejected`.
    rejected: RefCell<Vec<String>>,
    /// Bodies larger than this get 413.
    max_body: Cell<usize>,
    requests: RefCell<Vec<(IngestRequest, bool)>>,
    /// Runs once, while the next request is in flight.
    during_next_request: RefCell<Option<Box<dyn FnOnce()>>>,
}

impl Uplink for FakeServer {
    async fn post(&self, body: String, keepalive: bool) -> Reply {
        if let Some(hook) = self.during_next_request.borrow_mut().take() {
            hook();
        }
        let request: IngestRequest = serde_json::from_str(&body).expect("a valid ingest body");
        self.requests
            .borrow_mut()
            .push((request.clone(), keepalive));
        let status = |code| Reply::Status {
            code,
            retry_after_ms: None,
            message: format!("status {code}"),
        };
        match self
            .script
            .borrow_mut()
            .pop_front()
            .unwrap_or(Script::Accept)
        {
            Script::Offline => return Reply::Network("connection refused".into()),
            Script::Silent => return Reply::Ok(IngestResponse::default()),
            Script::Status(code, retry_after_ms) => {
                return Reply::Status {
                    code,
                    retry_after_ms,
                    message: format!("status {code}"),
                }
            }
            Script::Accept => {}
        }
        if self.max_body.get() > 0 && body.len() > self.max_body.get() {
            return status(413);
        }
        let unreadable = self.unreadable.borrow();
        if request.records.iter().any(|e| unreadable.contains(&e.id)) {
            return status(400);
        }
        let mut answer = IngestResponse::default();
        for e in request.records {
            if self.rejected.borrow().contains(&e.id) {
                answer.rejected.push(Rejected {
                    id: e.id,
                    reason: "workflowId is too long".into(),
                });
                continue;
            }
            let mut stored = self.stored.borrow_mut();
            let v = stored.entry(e.id.clone()).or_insert(0);
            *v = (*v).max(e.version);
            answer.accepted.push(e.id);
        }
        Reply::Ok(answer)
    }
    fn now(&self) -> i64 {
        T0
    }
    fn random(&self) -> f64 {
        0.5
    }
}

fn config() -> SyncConfig {
    SyncConfig {
        endpoint: Some("http://127.0.0.1:1".into()),
        max_batch_records: 4,
        ..SyncConfig::default()
    }
}

fn client() -> ClientInfo {
    ClientInfo {
        id: "tab-1".into(),
        sdk: "runledger-test".into(),
    }
}

fn records(n: usize) -> Vec<runledger::Execution> {
    (0..n)
        .map(|i| sample(&format!("e{i:02}"), "wf", T0 + i as i64, Status::Success))
        .collect()
}

fn uploader() -> (Uploader, Rc<RefCell<Vec<SyncState>>>) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    let up = Uploader::new(true, Box::new(move |s| sink.borrow_mut().push(s.clone())));
    (up, seen)
}

fn pass(up: &Uploader, store: &MemoryStore, server: &FakeServer) -> (PassEnd, Vec<SyncError>) {
    block_on(up.pass(store, server, &config(), &client(), false))
}

#[test]
fn a_pass_drains_the_outbox_in_bounded_batches_and_every_record_lands_once() {
    let store = MemoryStore::new();
    block_on(store.write(&records(10))).unwrap();
    let server = FakeServer::default();
    let (up, seen) = uploader();
    let (end, refusals) = pass(&up, &store, &server);
    assert_eq!(end, PassEnd::Drained);
    assert!(refusals.is_empty());
    let sizes: Vec<usize> = server
        .requests
        .borrow()
        .iter()
        .map(|(r, _)| r.records.len())
        .collect();
    assert_eq!(sizes, [4, 4, 2]);
    assert_eq!(server.stored.borrow().len(), 10);
    let state = up.state();
    assert_eq!((state.pending, state.in_flight), (0, 0));
    assert_eq!(state.last_success_at, Some(T0));
    // Observers saw the records in flight.
    assert!(seen.borrow().iter().any(|s| s.in_flight == 4));
    // A second pass has nothing to send.
    assert_eq!(pass(&up, &store, &server).0, PassEnd::Drained);
    assert_eq!(server.requests.borrow().len(), 3);
}

#[test]
fn offline_keeps_everything_and_backs_off_then_the_next_pass_sends_it() {
    let store = MemoryStore::new();
    block_on(store.write(&records(3))).unwrap();
    let server = FakeServer::default();
    server
        .script
        .borrow_mut()
        .extend([Script::Offline, Script::Offline]);
    let (up, _) = uploader();
    let (first, _) = pass(&up, &store, &server);
    let (second, _) = pass(&up, &store, &server);
    // Full jitter at 0.5: half of 1 s, then half of 2 s.
    assert!(
        matches!(first, PassEnd::Retry(ms, SyncError::Unreachable { .. }) if ms == 500.0),
        "{first:?}"
    );
    assert!(
        matches!(second, PassEnd::Retry(ms, _) if ms == 1000.0),
        "{second:?}"
    );
    let state = up.state();
    assert_eq!(state.pending, 3);
    assert!(state.last_error.unwrap().contains("cannot be reached"));
    assert_eq!(state.next_attempt_at, Some(T0 + 1000));
    assert_eq!(pass(&up, &store, &server).0, PassEnd::Drained);
    assert_eq!(server.stored.borrow().len(), 3);
    let state = up.state();
    assert_eq!(
        (state.pending, state.last_error, state.next_attempt_at),
        (0, None, None)
    );
}

#[test]
fn retry_after_is_honoured() {
    let store = MemoryStore::new();
    block_on(store.write(&records(1))).unwrap();
    let server = FakeServer::default();
    server
        .script
        .borrow_mut()
        .push_back(Script::Status(503, Some(7_000.0)));
    let (up, _) = uploader();
    let (end, _) = pass(&up, &store, &server);
    assert!(
        matches!(end, PassEnd::Retry(ms, SyncError::Server { status: 503, .. }) if ms == 7_000.0),
        "{end:?}"
    );
    assert_eq!(up.state().pending, 1);
}

#[test]
fn a_bad_record_is_found_by_splitting_and_only_it_is_dead_lettered() {
    let store = MemoryStore::new();
    block_on(store.write(&records(8))).unwrap();
    let server = FakeServer::default();
    server.unreadable.borrow_mut().push("e05".into());
    let (up, _) = uploader();
    let (end, refusals) = pass(&up, &store, &server);
    assert_eq!(end, PassEnd::Drained);
    assert_eq!(server.stored.borrow().len(), 7);
    assert!(!server.stored.borrow().contains_key("e05"));
    let letters = block_on(store.dead_letters()).unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].id, "e05");
    assert!(
        letters[0].reason.contains("cannot read"),
        "{}",
        letters[0].reason
    );
    assert!(matches!(&refusals[..], [SyncError::Refused { id, .. }] if id == "e05"));
    let state = up.state();
    assert_eq!((state.pending, state.dead_lettered), (0, 1));
    // The record itself is kept, and a retry sends it again.
    assert!(block_on(store.get("e05")).unwrap().is_some());
    server.unreadable.borrow_mut().clear();
    block_on(store.retry_dead_letters(None)).unwrap();
    assert_eq!(pass(&up, &store, &server).0, PassEnd::Drained);
    assert_eq!(server.stored.borrow().get("e05"), Some(&1));
    assert_eq!(up.state().dead_lettered, 0);
}

#[test]
fn a_record_too_large_for_the_server_is_dead_lettered_alone() {
    let store = MemoryStore::new();
    let mut batch = records(4);
    batch[2].tags = vec!["x".repeat(20_000)];
    block_on(store.write(&batch)).unwrap();
    let server = FakeServer::default();
    server.max_body.set(10_000);
    let (up, _) = uploader();
    let (end, _) = pass(&up, &store, &server);
    assert_eq!(end, PassEnd::Drained);
    assert_eq!(server.stored.borrow().len(), 3);
    let letters = block_on(store.dead_letters()).unwrap();
    assert_eq!(letters[0].id, "e02");
    assert!(letters[0].reason.contains("larger than the server accepts"));
}

#[test]
fn records_the_server_rejects_are_dead_lettered_with_its_reason() {
    let store = MemoryStore::new();
    block_on(store.write(&records(3))).unwrap();
    let server = FakeServer::default();
    server.rejected.borrow_mut().push("e01".into());
    let (up, _) = uploader();
    let (end, refusals) = pass(&up, &store, &server);
    assert_eq!(end, PassEnd::Drained);
    let letters = block_on(store.dead_letters()).unwrap();
    assert_eq!(
        (letters[0].id.as_str(), letters[0].reason.as_str()),
        ("e01", "workflowId is too long")
    );
    assert_eq!(refusals.len(), 1);
}

#[test]
fn a_refused_key_pauses_sync_and_sends_nothing_more() {
    let store = MemoryStore::new();
    block_on(store.write(&records(6))).unwrap();
    let server = FakeServer::default();
    server
        .script
        .borrow_mut()
        .push_back(Script::Status(401, None));
    let (up, _) = uploader();
    let (end, _) = pass(&up, &store, &server);
    assert!(
        matches!(end, PassEnd::Paused(SyncError::Unauthorized { .. })),
        "{end:?}"
    );
    assert_eq!(server.requests.borrow().len(), 1);
    let state = up.state();
    assert!(state.paused);
    assert_eq!(state.pending, 6);
    // With a working key, the next pass clears the pause.
    assert_eq!(pass(&up, &store, &server).0, PassEnd::Drained);
    assert!(!up.state().paused);
}

#[test]
fn a_record_changed_while_in_flight_is_sent_again_at_its_new_version() {
    let store = Rc::new(MemoryStore::new());
    let first = sample("run", "wf", T0, Status::Running);
    block_on(store.write(std::slice::from_ref(&first))).unwrap();
    let server = FakeServer::default();
    let (store_in, mut changed) = (store.clone(), first.clone());
    changed.version = 2;
    changed.status = Status::Success;
    *server.during_next_request.borrow_mut() = Some(Box::new(move || {
        store_in
            .write(std::slice::from_ref(&changed))
            .now_or_never()
            .expect("the memory store writes at once")
            .unwrap();
    }));
    let (up, _) = uploader();
    assert_eq!(
        block_on(up.pass(&*store, &server, &config(), &client(), false)).0,
        PassEnd::Drained
    );
    let versions: Vec<u64> = server
        .requests
        .borrow()
        .iter()
        .map(|(r, _)| r.records[0].version)
        .collect();
    assert_eq!(versions, [1, 2]);
    assert_eq!(server.stored.borrow().get("run"), Some(&2));
}

#[test]
fn batch_ids_repeat_for_the_same_versions_and_change_with_them() {
    let mut batch: Vec<Outgoing> = records(3)
        .into_iter()
        .map(|e| Outgoing {
            json: serde_json::to_string(&e).unwrap(),
            position: QueuePosition {
                queued_at: 0.0,
                id: e.id.clone(),
            },
            id: e.id,
            version: e.version,
        })
        .collect();
    let id = batch_id(&client(), &batch);
    assert_eq!(id, batch_id(&client(), &batch));
    assert_eq!(id.len(), 32);
    batch[1].version += 1;
    assert_ne!(id, batch_id(&client(), &batch));
}

#[test]
fn a_keepalive_pass_sends_one_request_within_the_budget() {
    let store = MemoryStore::new();
    let mut batch = records(40);
    for e in &mut batch {
        e.tags = vec!["t".repeat(3_000)];
    }
    block_on(store.write(&batch)).unwrap();
    let server = FakeServer::default();
    let (up, _) = uploader();
    let big = SyncConfig {
        max_batch_records: 100,
        ..config()
    };
    let (end, _) = block_on(up.pass(&store, &server, &big, &client(), true));
    assert_eq!(end, PassEnd::Drained);
    let requests = server.requests.borrow();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].1, "sent with keepalive");
    let body = serde_json::to_string(&requests[0].0).unwrap();
    assert!(body.len() <= KEEPALIVE_BUDGET_BYTES, "{}", body.len());
    let sent = requests[0].0.records.len();
    assert!(sent > 5 && sent < 40, "{sent}");
    assert_eq!(
        up.state().pending,
        40 - sent,
        "the rest waits for the next open"
    );
}

#[test]
fn answers_that_acknowledge_nothing_back_off_instead_of_looping() {
    let store = MemoryStore::new();
    block_on(store.write(&records(2))).unwrap();
    let server = FakeServer::default();
    server.script.borrow_mut().push_back(Script::Silent);
    let (up, _) = uploader();
    let (end, _) = pass(&up, &store, &server);
    assert!(
        matches!(end, PassEnd::Retry(_, SyncError::NoProgress { .. })),
        "{end:?}"
    );
    assert_eq!(server.requests.borrow().len(), 1);
}
