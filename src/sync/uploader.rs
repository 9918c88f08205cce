//! One sync pass: from the store's outbox to the ingest endpoint, until the outbox is empty
//! or the endpoint says to wait.
//!
//! Generic over the [`Store`] and over the [`Uplink`] that carries requests, so the whole
//! pass (batching, splitting, dead-lettering, acknowledging) is tested natively against a
//! scripted server; the browser and Node provide an uplink over `fetch`.

use std::cell::{Cell, RefCell};

use serde::Serialize;

use super::batch::{halves, plan_batches};
use super::protocol::ClientInfo;
use super::reply::{decide, Reply, Step};
use crate::config::SyncConfig;
use crate::error::{StoreError, SyncError};
use crate::store::{DeadLetter, Outgoing, Store, Synced};

/// What a page may send while it is being hidden or closed (`fetch(..., {keepalive: true})`
/// allows 64 KiB in flight per page).
pub const KEEPALIVE_BUDGET_BYTES: usize = 64 * 1024;
/// Room kept in a request body for everything but the records.
const ENVELOPE_BYTES: usize = 512;

/// Carries one ingest request and provides the clock and randomness.
#[allow(async_fn_in_trait)]
pub trait Uplink {
    /// POSTs `body` (a JSON ingest request) to the endpoint; `keepalive` asks the platform to
    /// finish the request even if the page goes away.
    async fn post(&self, body: String, keepalive: bool) -> Reply;
    /// Milliseconds since the epoch.
    fn now(&self) -> i64;
    /// A uniformly random number in `[0, 1)`, for backoff jitter.
    fn random(&self) -> f64;
    /// True when no further request may start (sync switched off, tracker closing).
    fn stopped(&self) -> bool {
        false
    }
}

/// What `tracker.syncState()` reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// An endpoint is configured and sync is switched on.
    pub enabled: bool,
    /// Executions stored and waiting to be sent (including those in flight).
    pub pending: usize,
    /// Executions in the request under way.
    pub in_flight: usize,
    /// Executions the server refused for good (see `tracker.deadLetters()`).
    pub dead_lettered: usize,
    /// When the server last acknowledged a batch, ms since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<i64>,
    /// The last failure, for a person; cleared by the next success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the next attempt is due after a failure, ms since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<i64>,
    /// True after the server refused the API key, until it changes.
    pub paused: bool,
}

/// How a pass ended.
#[derive(Clone, Debug, PartialEq)]
pub enum PassEnd {
    /// The outbox is empty (or, for a keepalive pass, its one request went out).
    Drained,
    /// Try again after this many ms; the error says why.
    Retry(f64, SyncError),
    /// The key was refused: wait for a new one.
    Paused(SyncError),
    /// The store failed; the records are where they were.
    Store(StoreError),
    /// Sync was switched off or the tracker closed before the outbox was empty.
    Stopped,
}

/// What one pass works with.
struct PassContext<'a, S, U> {
    store: &'a S,
    link: &'a U,
    config: &'a SyncConfig,
    client: &'a ClientInfo,
    keepalive: bool,
}

/// Sync state shared between passes, with a hook called on every change of [`SyncState`].
pub struct Uploader {
    state: RefCell<SyncState>,
    failures: Cell<u32>,
    on_change: Box<dyn Fn(&SyncState)>,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader")
            .field("state", &self.state)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

/// A batch id derived from what the batch holds: a retry of the same records at the same
/// versions reuses it (the server answers a replay without work), while a batch whose
/// records changed gets a new one, so a remembered answer never covers versions it did not
/// see.
pub fn batch_id(client: &ClientInfo, records: &[Outgoing]) -> String {
    let mut a = Fnv::new(0xcbf2_9ce4_8422_2325);
    let mut b = Fnv::new(0x6c62_272e_07bb_0142);
    for part in std::iter::once(client.id.as_str()).chain(records.iter().map(|e| e.id.as_str())) {
        a.write(part.as_bytes());
        b.write(part.as_bytes());
    }
    for e in records {
        a.write(&e.version.to_le_bytes());
        b.write(&e.version.to_le_bytes());
    }
    format!("{:016x}{:016x}", a.0, b.0)
}

struct Fnv(u64);

impl Fnv {
    fn new(seed: u64) -> Self {
        Fnv(seed)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes.iter().chain(&[0xff]) {
            self.0 ^= byte as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The JSON body of an ingest request for `records`.
fn request_body(client: &ClientInfo, records: &[Outgoing]) -> String {
    let client_json = serde_json::to_string(client).expect("client info always serializes");
    let size: usize = records.iter().map(|r| r.json.len() + 1).sum();
    let mut body = String::with_capacity(size + ENVELOPE_BYTES);
    body.push_str("{\"batch_id\":\"");
    body.push_str(&batch_id(client, records));
    body.push_str("\",\"client\":");
    body.push_str(&client_json);
    body.push_str(",\"records\":[");
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&record.json);
    }
    body.push_str("]}");
    body
}

fn failure_of(reply: &Reply) -> SyncError {
    match reply {
        Reply::Network(detail) => SyncError::Unreachable {
            detail: detail.clone(),
        },
        Reply::Status { code, message, .. } => SyncError::Server {
            status: *code,
            message: message.clone(),
        },
        Reply::Ok(_) => SyncError::NoProgress {
            records: 0,
            detail: "an empty answer".into(),
        },
    }
}

impl Uploader {
    /// A fresh uploader; `on_change` is called with the state after each change.
    pub fn new(enabled: bool, on_change: Box<dyn Fn(&SyncState)>) -> Self {
        Uploader {
            state: RefCell::new(SyncState {
                enabled,
                ..SyncState::default()
            }),
            failures: Cell::new(0),
            on_change,
        }
    }

    /// The current state.
    pub fn state(&self) -> SyncState {
        self.state.borrow().clone()
    }

    /// Changes the state; calls the hook if anything changed.
    pub fn update(&self, change: impl FnOnce(&mut SyncState)) {
        let snapshot = {
            let mut state = self.state.borrow_mut();
            let before = state.clone();
            change(&mut state);
            (*state != before).then(|| state.clone())
        };
        if let Some(state) = snapshot {
            (self.on_change)(&state);
        }
    }

    /// Forgets earlier failures, so the next retry waits the shortest time (after `online`,
    /// a new key, or an explicit `sync()`).
    pub fn reset_backoff(&self) {
        self.failures.set(0);
    }

    /// Re-reads the outbox counts from the store.
    pub async fn refresh_counts<S: Store>(&self, store: &S) -> Result<(), StoreError> {
        let counts = store.outbox_counts().await?;
        self.update(|s| {
            s.pending = counts.pending;
            s.dead_lettered = counts.dead_lettered;
        });
        Ok(())
    }

    /// Sends the outbox until it is empty, the server says to wait, or the key is refused.
    /// A `keepalive` pass sends at most one request, within [`KEEPALIVE_BUDGET_BYTES`], and
    /// does not wait for anything else.
    pub async fn pass<S: Store, U: Uplink>(
        &self,
        store: &S,
        link: &U,
        config: &SyncConfig,
        client: &ClientInfo,
        keepalive: bool,
    ) -> (PassEnd, Vec<SyncError>) {
        let mut refusals = Vec::new();
        let pass = PassContext {
            store,
            link,
            config,
            client,
            keepalive,
        };
        let end = self.drain(&pass, &mut refusals).await;
        self.update(|s| s.in_flight = 0);
        if let Err(e) = self.refresh_counts(store).await {
            return (PassEnd::Store(e), refusals);
        }
        let at = link.now();
        match &end {
            PassEnd::Drained => self.update(|s| s.next_attempt_at = None),
            PassEnd::Retry(ms, cause) => {
                self.update(|s| {
                    s.last_error = Some(cause.to_string());
                    s.next_attempt_at = Some(at + *ms as i64);
                });
            }
            PassEnd::Paused(cause) => self.update(|s| {
                s.last_error = Some(cause.to_string());
                s.paused = true;
                s.next_attempt_at = None;
            }),
            PassEnd::Store(cause) => self.update(|s| s.last_error = Some(cause.to_string())),
            PassEnd::Stopped => {}
        }
        (end, refusals)
    }

    async fn drain<S: Store, U: Uplink>(
        &self,
        pass: &PassContext<'_, S, U>,
        refusals: &mut Vec<SyncError>,
    ) -> PassEnd {
        let PassContext {
            store,
            link,
            config,
            keepalive,
            ..
        } = *pass;
        let limit = config.max_batch_records;
        let mut prefetched: Vec<Outgoing> = Vec::new();
        loop {
            let records = if prefetched.is_empty() {
                // From the front: also finds records re-queued behind an earlier read.
                match store.outbox(limit, None).await {
                    Ok(records) => records,
                    Err(e) => return PassEnd::Store(e),
                }
            } else {
                std::mem::take(&mut prefetched)
            };
            let Some(last) = records.last() else {
                return PassEnd::Drained;
            };
            // Read the next records while these are on the wire.
            let after = last.position.clone();
            let next = async {
                if keepalive {
                    Ok(Vec::new())
                } else {
                    store.outbox(limit, Some(&after)).await
                }
            };
            let this_round = self.round(pass, &records, refusals);
            let (acknowledged, next) = futures::future::join(this_round, next).await;
            match acknowledged {
                Err(end) => return end,
                Ok(0) => {
                    return PassEnd::Retry(
                        config.backoff.delay_ms(self.bump_failures(), link.random()),
                        SyncError::NoProgress {
                            records: records.len(),
                            detail: "the answers list none of the records sent".into(),
                        },
                    )
                }
                Ok(_) => {}
            }
            match next {
                Ok(next) => prefetched = next,
                Err(e) => return PassEnd::Store(e),
            }
        }
    }

    /// Sends `records` in bounded batches; returns how many the server acknowledged, or how
    /// the pass ends.
    async fn round<S: Store, U: Uplink>(
        &self,
        pass: &PassContext<'_, S, U>,
        records: &[Outgoing],
        refusals: &mut Vec<SyncError>,
    ) -> Result<usize, PassEnd> {
        let PassContext {
            store,
            link,
            config,
            keepalive,
            ..
        } = *pass;
        let max_bytes = if keepalive {
            config
                .max_batch_bytes
                .min(KEEPALIVE_BUDGET_BYTES - ENVELOPE_BYTES)
        } else {
            config.max_batch_bytes
        };
        let sizes: Vec<usize> = records.iter().map(|r| r.json.len()).collect();
        let mut acknowledged = 0;
        for batch in plan_batches(&sizes, config.max_batch_records, max_bytes) {
            if keepalive && sizes[batch.start] > max_bytes {
                // Too big for the keepalive budget: it goes on the next open instead.
                return Err(PassEnd::Drained);
            }
            let mut work = vec![batch];
            while let Some(range) = work.pop() {
                if link.stopped() {
                    return Err(PassEnd::Stopped);
                }
                let (step, cause) = self.send(pass, &records[range.clone()]).await;
                match step {
                    Step::Commit(answer) => {
                        acknowledged += answer.accepted.len() + answer.rejected.len();
                        let version_of = |id: &str| {
                            records[range.clone()]
                                .iter()
                                .find(|e| e.id == id)
                                .map(|e| e.version)
                        };
                        let synced: Vec<Synced> = answer
                            .accepted
                            .iter()
                            .filter_map(|id| {
                                Some(Synced {
                                    id: id.clone(),
                                    version: version_of(id)?,
                                })
                            })
                            .collect();
                        let at = link.now();
                        let refused: Vec<DeadLetter> = answer
                            .rejected
                            .iter()
                            .filter_map(|r| {
                                Some(DeadLetter {
                                    id: r.id.clone(),
                                    version: version_of(&r.id)?,
                                    reason: r.reason.clone(),
                                    at,
                                })
                            })
                            .collect();
                        if let Some(first) = refused.first() {
                            refusals.push(SyncError::Refused {
                                count: refused.len(),
                                id: first.id.clone(),
                                reason: first.reason.clone(),
                            });
                        }
                        if let Err(e) = store.settle(&synced, &refused).await {
                            return Err(PassEnd::Store(e));
                        }
                        self.failures.set(0);
                        self.update(|s| {
                            s.last_success_at = Some(at);
                            s.last_error = None;
                            s.paused = false;
                        });
                    }
                    Step::Split => {
                        let (first, second) = halves(range);
                        work.push(second);
                        work.push(first);
                    }
                    Step::DeadLetter(reason) => {
                        acknowledged += 1;
                        let e = &records[range.start];
                        let letter = DeadLetter {
                            id: e.id.clone(),
                            version: e.version,
                            reason,
                            at: link.now(),
                        };
                        refusals.push(SyncError::Refused {
                            count: 1,
                            id: letter.id.clone(),
                            reason: letter.reason.clone(),
                        });
                        if let Err(e) = store.settle(&[], &[letter]).await {
                            return Err(PassEnd::Store(e));
                        }
                    }
                    Step::RetryAfter(ms) => {
                        self.bump_failures();
                        return Err(PassEnd::Retry(ms, cause));
                    }
                    Step::PauseForAuth(message) => {
                        return Err(PassEnd::Paused(SyncError::Unauthorized { message }))
                    }
                }
            }
            if keepalive {
                return Err(PassEnd::Drained);
            }
        }
        Ok(acknowledged)
    }

    fn bump_failures(&self) -> u32 {
        let attempt = self.failures.get();
        self.failures.set(attempt.saturating_add(1));
        attempt
    }

    /// Sends one batch; returns what to do next and, should it be a failure, its cause.
    async fn send<S: Store, U: Uplink>(
        &self,
        pass: &PassContext<'_, S, U>,
        records: &[Outgoing],
    ) -> (Step, SyncError) {
        let PassContext {
            link,
            config,
            client,
            keepalive,
            ..
        } = *pass;
        let body = request_body(client, records);
        self.update(|s| s.in_flight = records.len());
        let reply = link.post(body, keepalive).await;
        self.update(|s| s.in_flight = 0);
        let cause = failure_of(&reply);
        let step = decide(
            reply,
            records.len(),
            self.failures.get(),
            &config.backoff,
            link.random(),
        );
        (step, cause)
    }
}
