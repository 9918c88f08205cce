//! Which consumers committed batches are forwarded to, and queueing a batch for them in its
//! own transaction.

use runledger::Execution;

use super::{forwarder, openlineage, outbox};

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
