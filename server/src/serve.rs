//! Serving connections, with the limits that keep slow or idle clients from taking the server
//! down (a slowloris, or more idle connections than the process may open files):
//!
//! - every request's head must arrive within the header timeout (an idle keep-alive
//!   connection waiting for its next request counts too), or its connection is closed;
//! - at most `max_connections` are open at once, below the process's file limit; at the limit
//!   a new connection makes room by closing the longest-idle one (not in a request), so
//!   `/health` and ingest still get through while idle or slow connections hold the rest,
//!   and when every connection is busy the new one is closed at once; both say so in the log;
//! - on shutdown, connections get the grace period to finish their requests, and whatever is
//!   still open after it is closed, so the process always exits.
//!
//! (The body's own deadline is applied where the body is read: `app::read_body`.)

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Descriptors kept for the database, logs and the listener when the connection limit is
/// derived from the file limit.
pub const RESERVED_FILES: usize = 64;
/// The default connection limit when the file limit allows more.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// How often (at most) a limit being hit is logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The connection limits (`--max-connections`, `--header-timeout`, `--shutdown-grace`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time for a request's head (request line and headers) to arrive.
    pub header_timeout: Duration,
    /// Time in-flight requests get to finish once shutdown starts.
    pub shutdown_grace: Duration,
}

/// The process's soft limit on open files, when it has one.
pub fn file_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        if ok && limit.rlim_cur != libc::RLIM_INFINITY {
            return usize::try_from(limit.rlim_cur).ok();
        }
    }
    None
}

/// The connection limit: the one asked for, or the default below the file limit. Refuses a
/// limit the file limit cannot honour (the server would fail to accept, not refuse cleanly).
pub fn connection_limit(asked: Option<usize>, files: Option<usize>) -> Result<usize, String> {
    let room = files.map(|f| f.saturating_sub(RESERVED_FILES));
    match (asked, room) {
        (Some(0), _) => Err("--max-connections must be at least 1".into()),
        (Some(n), Some(room)) if n > room => Err(format!(
            "--max-connections {n} is above what the file limit allows ({} open files, {RESERVED_FILES} of them kept for the database and logs): raise `ulimit -n` or lower --max-connections to at most {room}",
            files.unwrap_or_default()
        )),
        (Some(n), _) => Ok(n),
        (None, Some(0)) => Err(format!(
            "the file limit ({} open files) leaves no room for connections; raise `ulimit -n`",
            files.unwrap_or_default()
        )),
        (None, Some(room)) => Ok(room.min(DEFAULT_MAX_CONNECTIONS)),
        (None, None) => Ok(DEFAULT_MAX_CONNECTIONS),
    }
}

/// One open connection as the limit sees it.
struct Open {
    /// Requests in flight on it (a response body still streaming counts).
    busy: Arc<AtomicUsize>,
    /// Closes it at once.
    close: Arc<Notify>,
}

/// The open connections, oldest first (ids only grow).
#[derive(Default)]
struct Registry {
    open: Mutex<BTreeMap<u64, Open>>,
}

impl Registry {
    fn len(&self) -> usize {
        self.open.lock().expect("registry lock").len()
    }

    /// Closes the longest-idle connection; false when every connection is in a request.
    fn evict_idle(&self) -> bool {
        let mut open = self.open.lock().expect("registry lock");
        let victim = open
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::SeqCst) == 0)
            .map(|(id, _)| *id);
        match victim.and_then(|id| open.remove(&id)) {
            Some(c) => {
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Counts a request as in flight until dropped.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn enter(count: &Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::SeqCst);
        Busy(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its request counted as in flight until it is sent (so that a
/// push stream is never taken for an idle connection).
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl hyper::body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Logs a limit being hit, at most every [`LOG_EVERY`], with how often it happened since.
struct Throttled {
    last: Option<Instant>,
    unlogged: u64,
}

impl Throttled {
    fn hit(&mut self, log: impl FnOnce(u64)) {
        self.unlogged += 1;
        if self.last.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            log(self.unlogged);
            self.last = Some(Instant::now());
            self.unlogged = 0;
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains within the grace
/// period and closes what is left.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let registry = Arc::new(Registry::default());
    let (stopping_tx, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut at_limit = Throttled {
        last: None,
        unlogged: 0,
    };
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        while tasks.try_join_next().is_some() {}
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait, retry.
                    tracing::error!(error = %e, "cannot accept a connection; retrying shortly");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if registry.len() >= limits.max_connections {
            let evicted = registry.evict_idle();
            at_limit.hit(|times| {
                let max = limits.max_connections;
                if evicted {
                    tracing::warn!(max_connections = max, times, "connection limit reached: closed the longest-idle connection to admit a new one (--max-connections)");
                } else {
                    tracing::warn!(max_connections = max, times, "connection limit reached and every connection is in a request: refused a new connection (--max-connections)");
                }
            });
            if !evicted {
                drop(stream);
                continue;
            }
        }
        next_id += 1;
        let id = next_id;
        let busy = Arc::new(AtomicUsize::new(0));
        let close = Arc::new(Notify::new());
        registry.open.lock().expect("registry lock").insert(
            id,
            Open {
                busy: busy.clone(),
                close: close.clone(),
            },
        );
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let router = router.clone();
            let busy = Busy::enter(&busy);
            async move {
                let response = router.oneshot(request.map(Body::new)).await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|inner| Tracked { inner, _busy: busy }),
                )
            }
        });
        let registry = registry.clone();
        let mut stopping = stopping.clone();
        let header_timeout = limits.header_timeout;
        tasks.spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let mut draining = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    () = close.notified() => break,
                    changed = stopping.changed(), if !draining => {
                        draining = true;
                        if changed.is_ok() {
                            connection.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            registry.open.lock().expect("registry lock").remove(&id);
        });
    }
    drop(listener);
    stopping_tx.send_replace(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            grace_ms = limits.shutdown_grace.as_millis() as u64,
            "closing connections still open after the shutdown grace period (--shutdown-grace)"
        );
        tasks.shutdown().await;
    }
}

/// Parses a duration flag: a number with a unit, `ms`, `s`, `m`, `h` or `d` (`500ms`, `10s`,
/// `7d`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 500ms, 10s, 5m, 1h or 7d"))?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("`{text}` needs a unit: ms, s, m, h or d")),
    };
    n.checked_mul(unit_ms)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        for bad in [
            "10",
            "s",
            "1.5s",
            "-1s",
            "10 parsecs",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_connection_limit_stays_below_the_file_limit() {
        assert_eq!(
            connection_limit(None, Some(1024)),
            Ok(1024 - RESERVED_FILES)
        );
        assert_eq!(
            connection_limit(None, Some(1 << 20)),
            Ok(DEFAULT_MAX_CONNECTIONS)
        );
        assert_eq!(connection_limit(None, None), Ok(DEFAULT_MAX_CONNECTIONS));
        assert_eq!(connection_limit(Some(20), Some(1024)), Ok(20));
        let err = connection_limit(Some(1100), Some(1024)).unwrap_err();
        assert!(err.contains("file limit") && err.contains("960"), "{err}");
        assert!(connection_limit(Some(0), None).is_err());
        assert!(connection_limit(None, Some(10)).is_err());
    }
}
