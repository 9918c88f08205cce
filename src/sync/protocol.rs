//! The ingest protocol's messages (see docs/ingest-protocol.md).

use serde::{Deserialize, Serialize};

use crate::model::Execution;

/// Path of the ingest endpoint, relative to the configured endpoint URL.
pub const INGEST_PATH: &str = "/v1/ingest";

/// Who sends a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    /// A stable id of the sending tracker store (one per browser profile or Node store).
    pub id: String,
    /// The SDK and its version, e.g. `runledger-js/0.1.0`.
    pub sdk: String,
}

/// `POST /v1/ingest` body. Replaying the same `batch_id` is answered without work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestRequest {
    /// Unique per batch; a retry of the same batch reuses it.
    pub batch_id: String,
    /// The sender.
    pub client: ClientInfo,
    /// Whole executions with their node runs and version numbers.
    pub records: Vec<Execution>,
}

/// A record the server will never accept, with a reason a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// The execution id.
    pub id: String,
    /// Why it was rejected.
    pub reason: String,
}

/// The 200 answer: every record of the batch is in exactly one of the two lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestResponse {
    /// Ids stored (or already stored at this or a newer version).
    pub accepted: Vec<String>,
    /// Records refused for good.
    pub rejected: Vec<Rejected>,
}

/// The error shape of every non-200 answer: `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Inside [`ErrorBody`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable machine-readable code (`malformed_body`, `unauthorized`, `too_large`, ...).
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}
