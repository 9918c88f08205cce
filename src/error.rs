//! Typed errors: one enum per area, all convertible into [`Error`].

use crate::model::{NodeStatus, Status};

/// A record or argument that was rejected on the way in. Nothing was stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A required field is absent or empty.
    #[error("`{field}` is required")]
    Missing {
        /// Path of the field, e.g. `outputs[1].name`.
        field: String,
    },
    /// A field has a value that is not allowed.
    #[error("`{field}` is invalid: {reason}")]
    Invalid {
        /// Path of the field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A field or record is bigger than the configured limit.
    #[error("`{field}` is too large: {size} exceeds the limit of {limit}")]
    TooLarge {
        /// Path of the field.
        field: String,
        /// Its size (bytes or items).
        size: u64,
        /// The limit.
        limit: u64,
    },
}

impl ValidationError {
    /// Shorthand for [`ValidationError::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ValidationError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The path of the offending field.
    pub fn field(&self) -> &str {
        match self {
            ValidationError::Missing { field }
            | ValidationError::Invalid { field, .. }
            | ValidationError::TooLarge { field, .. } => field,
        }
    }
}

/// A recording call that the execution's lifecycle does not allow.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// An execution that has finished cannot be finished again or reopened.
    #[error("execution {id} cannot go from {from} to {to}: it has already finished")]
    AlreadyFinished {
        /// The execution.
        id: String,
        /// Its final status.
        from: Status,
        /// The status that was attempted.
        to: Status,
    },
    /// `running` is where executions start, never where they go.
    #[error("execution {id} cannot go from {from} to running: executions only start as running")]
    CannotReopen {
        /// The execution.
        id: String,
        /// Its current status.
        from: Status,
    },
    /// A node event arrived after the execution ended.
    #[error("node {node_id} of execution {id} cannot {event}: the execution has already finished ({status})")]
    NodeAfterEnd {
        /// The execution.
        id: String,
        /// The node.
        node_id: String,
        /// What was attempted (`start`, `succeed`, `fail`, `skip`).
        event: &'static str,
        /// The execution's final status.
        status: Status,
    },
    /// A node run that has finished cannot change again.
    #[error("node {node_id} (attempt {attempt}) of execution {id} cannot go from {from} to {to}: it has already finished")]
    NodeAlreadyFinished {
        /// The execution.
        id: String,
        /// The node.
        node_id: String,
        /// Which run of the node.
        attempt: u32,
        /// Its final status.
        from: NodeStatus,
        /// The status that was attempted.
        to: NodeStatus,
    },
    /// The execution is not known to this tracker (never started here, or long finished).
    #[error("execution {id} is not being recorded by this tracker")]
    UnknownExecution {
        /// The execution.
        id: String,
    },
}

/// A failure of the storage medium. What was stored before it is untouched.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The disk or the origin's quota is full. The write was rolled back as a whole.
    #[error("storage quota exceeded while writing {records} record(s); the write was rolled back and nothing stored before was lost ({detail})")]
    QuotaExceeded {
        /// How many records the failed write held.
        records: usize,
        /// The platform's message.
        detail: String,
    },
    /// A transaction failed and was rolled back as a whole.
    #[error(
        "storage transaction failed during {operation} ({name}: {message}); it was rolled back"
    )]
    Transaction {
        /// What the store was doing.
        operation: &'static str,
        /// The platform error's name (`AbortError`, `ConstraintError`, ...).
        name: String,
        /// The platform's message.
        message: String,
    },
    /// The store could not be opened.
    #[error("cannot open the store `{name}`: {reason}")]
    Open {
        /// The database name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A stored record could not be read back.
    #[error("stored record {key} cannot be read: {reason}")]
    Corrupt {
        /// Its key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
}

/// A failure to send records to the ingest server. Records are never lost by one: they stay
/// queued (and are retried) or are dead-lettered (and can be retried).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// No answer: offline, connection refused, DNS, timeout.
    #[error("the ingest server cannot be reached ({detail}); records stay queued and are retried")]
    Unreachable {
        /// What the platform said.
        detail: String,
    },
    /// The server answered with an error status that may pass (5xx, 429).
    #[error("the ingest server answered {status}: {message}; records stay queued and are retried")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// The API key was refused; sync waits for a new key.
    #[error("the ingest server refused the API key ({message}); sync is paused until tracker.setApiKey() gives a new key")]
    Unauthorized {
        /// The server's message.
        message: String,
    },
    /// The server refused records for good; they are kept as dead letters.
    #[error("the ingest server refused {count} record(s) for good, first {id}: {reason}; they are kept in tracker.deadLetters() and can be retried")]
    Refused {
        /// How many.
        count: usize,
        /// The first one's id.
        id: String,
        /// The first one's reason.
        reason: String,
    },
    /// The server's answers make no progress (it acknowledges none of the records sent).
    #[error("the ingest server acknowledged none of the {records} record(s) sent ({detail}); they stay queued and are retried")]
    NoProgress {
        /// How many records were sent.
        records: usize,
        /// What came back.
        detail: String,
    },
    /// A record larger than the ingest server accepts in one request (its default
    /// `--max-body-bytes`): flagged when it is recorded; kept locally, its sync will be refused.
    #[error("execution {id} is {} MiB as JSON, more than the ingest server accepts in one request by default ({} MiB, its --max-body-bytes): its sync will be refused (413) and the record dead-lettered (see deadLetters()). It is kept locally. Record less in it (smaller node inputs and outputs, a lower maxValueBytes or maxNodeRuns), or start the server with a larger --max-body-bytes", mib(.bytes), mib(.limit))]
    TooLarge {
        /// The execution's id.
        id: String,
        /// Its size as JSON.
        bytes: usize,
        /// The limit it is over.
        limit: usize,
    },
    /// Sync cannot run as asked.
    #[error("sync is not available: {reason}")]
    NotConfigured {
        /// Why.
        reason: String,
    },
}

/// Bytes as MiB with one decimal, for messages.
fn mib(bytes: &usize) -> String {
    // Integer tenths: float formatting with a precision would add its code to the browser wasm.
    let tenths = bytes.saturating_mul(10) / (1024 * 1024);
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// Retention could not bring the store within its limits without dropping records the ingest
/// server does not have yet; they are kept.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kept} record(s) are past the retention limits but not on the ingest server yet; they are kept until they are synced")]
pub struct RetentionError {
    /// How many were kept.
    pub kept: usize,
}

/// An option passed to `Tracker.open` that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("option `{option}` is invalid: {reason}")]
pub struct ConfigError {
    /// The option's name.
    pub option: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Any runledger error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`ValidationError`].
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// See [`LifecycleError`].
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// See [`ConfigError`].
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// See [`SyncError`].
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// See [`RetentionError`].
    #[error(transparent)]
    Retention(#[from] RetentionError),
}

impl Error {
    /// The name a JS `Error` carries for this error.
    pub fn name(&self) -> &'static str {
        match self {
            Error::Validation(_) => "ValidationError",
            Error::Lifecycle(_) => "LifecycleError",
            Error::Store(StoreError::QuotaExceeded { .. }) => "QuotaExceededError",
            Error::Store(_) => "StoreError",
            Error::Config(_) => "ConfigError",
            Error::Sync(SyncError::Unauthorized { .. }) => "SyncAuthError",
            Error::Sync(_) => "SyncError",
            Error::Retention(_) => "RetentionError",
        }
    }
}
