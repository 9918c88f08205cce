//! Interop with the standards: OpenTelemetry traces (OTLP/HTTP) and OpenLineage events, in
//! and out.
//!
//! - [`otlp_in`]: `POST /v1/traces` takes spans from any OpenTelemetry SDK and stores them as
//!   executions through the ingest path (same validation, limits, redaction and tenants).
//! - [`openlineage`]: executions as OpenLineage run events, and
//!   `GET /api/v1/execution/{id}/openlineage`.
//! - [`forwarder`]: `--otlp-endpoint` and `--openlineage-endpoint` forward every committed
//!   batch from a durable outbox ([`outbox`]), so a consumer's outage loses nothing.

pub mod client;
pub mod forwarder;
pub mod openlineage;
pub mod otlp_decode;
pub mod otlp_in;
pub mod otlp_proto;
pub mod outbox;

use axum::routing::{get, post};
use axum::Router;
use runledger::Execution;

use crate::state::AppState;

/// Where committed batches are forwarded (empty: nowhere, and nothing is queued).
#[derive(Clone, Debug, Default)]
pub struct Forwarding {
    /// The consumers, each with its own outbox.
    pub sinks: Vec<forwarder::Sink>,
}

impl Forwarding {
    /// The sinks for the `--otlp-endpoint` and `--openlineage-endpoint` flags; a URL the
    /// forwarder cannot send to is refused with the flag's name.
    pub fn from_flags(otlp: Option<&str>, openlineage: Option<&str>) -> Result<Self, String> {
        let mut sinks = Vec::new();
        if let Some(url) = otlp {
            sinks.push(forwarder::Sink::new(
                forwarder::Format::Otlp,
                url,
                runledger::sync::otlp::OTLP_TRACES_PATH,
            )?);
        }
        if let Some(url) = openlineage {
            sinks.push(forwarder::Sink::new(
                forwarder::Format::OpenLineage,
                url,
                openlineage::LINEAGE_PATH,
            )?);
        }
        Ok(Forwarding { sinks })
    }

    /// Queues a committed batch's accepted records for every sink, in the batch's own
    /// transaction (so a batch is queued exactly when it is stored). No sinks, no rows.
    pub async fn enqueue(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tenant: &str,
        records: &[Execution],
        accepted: &[String],
        now: i64,
    ) -> Result<(), sqlx::Error> {
        for sink in &self.sinks {
            for record in records.iter().filter(|r| accepted.contains(&r.id)) {
                outbox::put(
                    tx,
                    sink.format.name(),
                    tenant,
                    &record.id,
                    record.version,
                    now,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Wakes the forwarders after a commit (they also poll, so a missed wake only delays).
    pub fn committed(&self) {
        for sink in &self.sinks {
            sink.wake.notify_one();
        }
    }
}

/// The interop routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            runledger::sync::otlp::OTLP_TRACES_PATH,
            post(otlp_in::receive),
        )
        .route(
            "/api/v1/execution/{id}/openlineage",
            get(openlineage::execution_events),
        )
}
