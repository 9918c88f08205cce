//! Several server processes on one PostgreSQL database as one service: each commit is
//! announced with `pg_notify` inside the batch's transaction (so it is delivered exactly when
//! the batch commits, and never for a rolled-back one), and every instance LISTENs and passes
//! the other instances' announcements to its own push-stream subscribers.
//!
//! A notification carries at most 8,000 bytes, so a large batch is announced in several
//! parts, each a complete `ingested` event for part of the accepted ids.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;

use crate::live::Live;

/// The channel every instance listens on.
pub const CHANNEL: &str = "runledger_ingested";

/// Ids per announcement: bounds a payload well under PostgreSQL's 8,000 bytes.
const PAYLOAD_BYTES: usize = 6_000;

#[derive(Serialize, Deserialize)]
struct Announcement {
    from: String,
    tenant: String,
    accepted: Vec<String>,
    at: i64,
}

/// The payloads announcing these accepted ids (several for a large batch).
fn payloads(from: &str, tenant: &str, accepted: &[String], at: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut part: Vec<String> = Vec::new();
    let mut size = 0;
    for id in accepted {
        if !part.is_empty() && size + id.len() + 4 > PAYLOAD_BYTES {
            out.push(std::mem::take(&mut part));
            size = 0;
        }
        size += id.len() + 4;
        part.push(id.clone());
    }
    if !part.is_empty() {
        out.push(part);
    }
    out.into_iter()
        .map(|accepted| {
            serde_json::to_string(&Announcement {
                from: from.to_owned(),
                tenant: tenant.to_owned(),
                accepted,
                at,
            })
            .expect("an announcement always serializes")
        })
        .collect()
}

/// Announces a batch's accepted ids to the other instances, in its transaction (does
/// nothing for a lone instance).
pub async fn announce(
    tx: &mut sqlx::AnyConnection,
    live: &Live,
    tenant: &str,
    accepted: &[String],
    at: i64,
) -> Result<(), sqlx::Error> {
    let Some(from) = live.instance() else {
        return Ok(());
    };
    for payload in payloads(from, tenant, accepted, at) {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Passes one received payload on to this instance's subscribers, unless it sent it itself.
fn deliver(live: &Live, payload: &str) {
    match serde_json::from_str::<Announcement>(payload) {
        Ok(a) if Some(a.from.as_str()) == live.instance() => {}
        Ok(a) => {
            let data = serde_json::json!({ "accepted": a.accepted, "at": a.at }).to_string();
            live.deliver(a.tenant, data);
        }
        Err(e) => {
            tracing::error!(error = %e, "an announcement on {CHANNEL} is not one of ours; ignored")
        }
    }
}

/// Connects and LISTENs (before the server announces its address, so no commit of another
/// instance after that is missed).
pub async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Receives announcements until the process ends. A lost connection is logged and
/// re-established (sqlx reconnects and listens again); what was sent meanwhile is missed.
pub async fn receive_loop(mut listener: PgListener, live: Live) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => deliver(&live, n.payload()),
            Ok(None) => {
                tracing::error!("the LISTEN connection to PostgreSQL was lost; reconnecting (announcements from other instances meanwhile are missed)");
            }
            Err(e) => {
                tracing::error!(error = %e, "receiving announcements from other instances failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_batches_are_announced_in_parts_under_the_limit() {
        let ids: Vec<String> = (0..2000).map(|i| format!("execution-{i:06}")).collect();
        let parts = payloads("me", "t", &ids, 5);
        assert!(parts.len() > 1);
        let mut all = Vec::new();
        for p in &parts {
            assert!(p.len() < 8000, "{}", p.len());
            let a: Announcement = serde_json::from_str(p).unwrap();
            all.extend(a.accepted);
        }
        assert_eq!(all, ids);
        assert!(payloads("me", "t", &[], 5).is_empty());
    }
}
