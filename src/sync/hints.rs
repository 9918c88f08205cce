//! Hints that turn a platform's vague sync failure into one a person can act on.
//!
//! A browser blocks a cross-origin request the server did not allow (CORS) with the same
//! `TypeError: Failed to fetch` as a server that is down: the script cannot tell them apart.
//! When the page's origin is not the endpoint's, the message says both are possible and
//! names the server flag that allows the page.

/// The origin (`scheme://host[:port]`) of an absolute URL, if it has one.
pub fn origin_of(url: &str) -> Option<&str> {
    let scheme_end = url.find("://")?;
    let rest = &url[scheme_end + 3..];
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if host_end == 0 {
        return None;
    }
    Some(&url[..scheme_end + 3 + host_end])
}

/// The CORS hint for a failed request from a page at `page_origin` to `endpoint`, when the
/// two origins differ (a same-origin request is never blocked by CORS).
pub fn cors_hint(page_origin: Option<&str>, endpoint: &str) -> Option<String> {
    let page = page_origin.filter(|o| !o.is_empty() && *o != "null")?;
    let target = origin_of(endpoint)?;
    if page.eq_ignore_ascii_case(target) {
        return None;
    }
    Some(format!(
        "if the server at {target} is up, the browser may have blocked the request by CORS: start runledger-server with --cors-origin {page}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_cut_from_urls() {
        assert_eq!(
            origin_of("http://127.0.0.1:8787/v1/ingest"),
            Some("http://127.0.0.1:8787")
        );
        assert_eq!(
            origin_of("https://ingest.example.com"),
            Some("https://ingest.example.com")
        );
        assert_eq!(
            origin_of("https://x.example?q=1"),
            Some("https://x.example")
        );
        assert_eq!(origin_of("/v1/ingest"), None);
        assert_eq!(origin_of("http:///path"), None);
    }

    #[test]
    fn a_cross_origin_failure_names_the_server_flag() {
        let hint = cors_hint(
            Some("http://localhost:5173"),
            "http://127.0.0.1:8787/v1/ingest",
        )
        .unwrap();
        assert!(
            hint.contains("--cors-origin http://localhost:5173"),
            "{hint}"
        );
        assert!(hint.contains("CORS"), "{hint}");
        assert_eq!(
            cors_hint(
                Some("http://127.0.0.1:8787"),
                "http://127.0.0.1:8787/v1/ingest"
            ),
            None
        );
        assert_eq!(
            cors_hint(None, "http://127.0.0.1:8787/v1/ingest"),
            None,
            "Node has no page"
        );
        assert_eq!(cors_hint(Some("null"), "http://127.0.0.1:8787"), None);
    }
}
