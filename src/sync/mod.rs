//! Sync to an ingest endpoint: the protocol's messages and the uploader's decisions.
//!
//! Pure logic only (no network, no storage), so that every retry rule is tested natively.
//! The split follows OpenTelemetry's: a batcher ([`plan_batches`]) cuts pending records
//! into bounded batches; an uploader sends one batch and, from the [`Reply`], [`decide`]s
//! the next [`Step`]. Unlike OpenTelemetry nothing is ever dropped: a record ends synced or
//! dead-lettered with its reason.
//!
//! ```text
//! pending ──plan_batches──► batch ──POST /v1/ingest──► Reply ──decide──► Step
//!                                ▲                                        │
//!                                └──── RetryAfter(ms) / Split (halves) ◄──┘
//!                                      Commit / DeadLetter / PauseForAuth ──► outbox
//! ```

mod batch;
mod hints;
pub mod otlp;
pub mod otlp_export;
mod pace;
mod protocol;
mod record_size;
mod reply;
mod uploader;

pub use batch::{halves, plan_batches};
pub use hints::{cors_hint, origin_of};
pub use pace::{
    timer_steps, RequestPacer, MAX_RETRY_AFTER_MS, MAX_TIMER_MS, PACER_BURST, PACER_PER_SECOND,
};
pub use protocol::{
    ClientInfo, ErrorBody, ErrorDetail, IngestRequest, IngestResponse, Rejected, INGEST_PATH,
};
pub use record_size::{flag as flag_too_large, json_len, RecordSizes, SERVER_BODY_LIMIT};
pub use reply::{decide, parse_retry_after, Reply, Step};
pub use uploader::{batch_id, PassEnd, SyncState, Uplink, Uploader, KEEPALIVE_BUDGET_BYTES};
