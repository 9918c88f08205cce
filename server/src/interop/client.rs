//! A minimal HTTP/1.1 client for the forwarders: one POST per connection, with timeouts.
//! Plain `http://` only (this server links no TLS stack; put a collector or a proxy on the
//! same host or network for TLS).

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, Uri};
use hyper_util::rt::TokioIo;

/// Time to connect to the consumer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for the whole exchange once connected.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of a consumer's answer read (enough for any status or partial-success body).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A consumer's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The `Retry-After` header, as sent.
    pub retry_after: Option<String>,
    /// The body (cut at 64 KiB).
    pub body: String,
}

/// Checks a forwarding URL: `http://host[:port][/path]`.
pub fn check_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "`{url}`: https is not supported by the forwarder (no TLS stack); send to a local collector or proxy over http"
            ))
        }
        _ => return Err(format!("`{url}` must start with http://")),
    }
    if uri.host().is_none() {
        return Err(format!("`{url}` has no host"));
    }
    Ok(uri)
}

/// POSTs `body` to `uri`; `Err` is a connection failure or a timeout (worth a retry).
pub async fn post(uri: &Uri, content_type: &str, body: String) -> Result<Answer, String> {
    let host = uri.host().unwrap_or("localhost");
    let port = uri.port_u16().unwrap_or(80);
    let connect = tokio::net::TcpStream::connect((host, port));
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| format!("no connection to {host}:{port} within {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let exchange = async {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {host}:{port} failed: {e}"))?;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "forwarder connection ended with an error");
            }
        });
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let request = Request::post(path)
            .header(header::HOST, uri.authority().map_or(host, |a| a.as_str()))
            .header(header::CONTENT_TYPE, content_type)
            .header(
                header::USER_AGENT,
                concat!("runledger-server/", env!("CARGO_PKG_VERSION")),
            )
            .body(Body::from(body))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("the request to {host}:{port} failed: {e}"))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = to_bytes(Body::new(response.into_body()), MAX_ANSWER_BYTES)
            .await
            .unwrap_or_default();
        driver.abort();
        Ok(Answer {
            status,
            retry_after,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer from {host}:{port} within {EXCHANGE_TIMEOUT:?}"))?
}
