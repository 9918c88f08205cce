//! The push stream: `GET /api/v1/events` (Server-Sent Events) tells dashboards and the viewer's
//! team view the moment a batch commits, so they refresh instead of polling.
//!
//! Each event is `event: ingested` with data `{"accepted": [ids…], "at": ms}`, sent only to
//! subscribers of the batch's tenant (the tenant of the key they connected with). A subscriber
//! that falls behind gets `event: resync` (it missed some; reload everything). Browsers'
//! `EventSource` cannot send headers, so with keys configured the read key may come as
//! `?key=` here (only here). On shutdown every stream ends, so a graceful stop never waits
//! for a dashboard left open.

use std::convert::Infallible;

use axum::response::sse::Event;
use futures_util::stream::{self, Stream};
use serde_json::json;
use tokio::sync::{broadcast, watch};

/// How many notifications a slow subscriber may lag before it is told to resync.
const BACKLOG: usize = 256;

/// The notification hub shared by the ingest handler and the subscribers.
#[derive(Clone)]
pub struct Live {
    sender: broadcast::Sender<(String, String)>,
    closed: watch::Receiver<bool>,
    /// This process's name among the instances sharing a PostgreSQL database (`None`: the
    /// only instance, nothing to tell the others; see `crate::notify`).
    instance: Option<std::sync::Arc<str>>,
}

/// Ends every stream when dropped or `close`d: held by `main` until shutdown starts.
pub struct LiveCloser(watch::Sender<bool>);

impl LiveCloser {
    /// Ends every open stream (and refuses new ones).
    pub fn close(&self) {
        self.0.send_replace(true);
    }
}

impl Live {
    /// A hub and the handle that closes it.
    pub fn new() -> (Live, LiveCloser) {
        let (sender, _) = broadcast::channel(BACKLOG);
        let (close, closed) = watch::channel(false);
        (
            Live {
                sender,
                closed,
                instance: None,
            },
            LiveCloser(close),
        )
    }

    /// The same hub, named `instance` among several processes sharing one database.
    pub fn shared(self, instance: String) -> Live {
        Live {
            instance: Some(instance.into()),
            ..self
        }
    }

    /// This process's name when it shares its database with other instances.
    pub fn instance(&self) -> Option<&str> {
        self.instance.as_deref()
    }

    /// Passes on another instance's announcement (`data` as `ingested` sends it).
    pub fn deliver(&self, tenant: String, data: String) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send((tenant, data));
        }
    }

    /// Tells a tenant's subscribers that a batch committed with these accepted ids (none
    /// listening is fine).
    pub fn ingested(&self, tenant: &str, accepted: &[String], at: i64) {
        if accepted.is_empty() || self.sender.receiver_count() == 0 {
            return;
        }
        let data = json!({ "accepted": accepted, "at": at }).to_string();
        let _ = self.sender.send((tenant.to_owned(), data));
    }

    pub(crate) fn subscribe(
        &self,
        tenant: String,
    ) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
        let state = (self.sender.subscribe(), self.closed.clone(), true);
        stream::unfold(state, move |(mut rx, mut closed, first)| {
            let tenant = tenant.clone();
            async move {
                if first {
                    // An opening event, so a client knows the stream is live before anything
                    // commits.
                    let hello = Event::default().event("ready").data("{}");
                    return Some((Ok(hello), (rx, closed, false)));
                }
                loop {
                    if *closed.borrow() {
                        return None;
                    }
                    let event = tokio::select! {
                        received = rx.recv() => match received {
                            Ok((of, data)) if of == tenant => {
                                Event::default().event("ingested").data(data)
                            }
                            // Another tenant's batch: not for this subscriber.
                            Ok(_) => continue,
                            Err(broadcast::error::RecvError::Lagged(missed)) => Event::default()
                                .event("resync")
                                .data(json!({ "missed": missed }).to_string()),
                            Err(broadcast::error::RecvError::Closed) => return None,
                        },
                        _ = closed.changed() => return None,
                    };
                    return Some((Ok(event), (rx, closed, false)));
                }
            }
        })
    }
}
