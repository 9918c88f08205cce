//! Secrets recognised by their shape inside free text: error messages, stacks, query text,
//! any string value. Each detector marks byte ranges; [`mask`] replaces them with
//! [`REDACTED`](super::REDACTED) and keeps everything around them.
//!
//! | shape | example | hidden |
//! | --- | --- | --- |
//! | URL password | `postgres://app:s3cret@db/prod` | `s3cret` |
//! | secret-named parameter | `?password=x&api_key=y`, ODBC `Pwd=x;`, JDBC `;password=x` | the value |
//! | secret-named header or field | `X-Api-Key: abc`, `"token": "abc"` | the value (to the end of the line for headers) |
//! | bearer token | `Authorization: Bearer abc`, `bearer abc` | the token |
//! | JSON Web Token | `eyJhbGci….eyJzdWIi….sig` | the whole token |
//! | AWS access key id | `AKIAIOSFODNN7EXAMPLE` (also `ASIA`, `ABIA`, `ACCA`) | the whole key |
//! | PEM private key | `-----BEGIN RSA PRIVATE KEY-----…` | the key's body |
//!
//! A name is "secret-named" by the same rule as object keys ([`super::Redactor`]).

use std::ops::Range;

/// What a redacted value is replaced with (by key or by shape).
pub const REDACTED: &str = "[REDACTED]";

/// Bytes that may be part of a parameter or header name.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Bytes of a token (base64, base64url, hex, most API key alphabets).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'~' | b'+' | b'/' | b'=')
}

fn is_base64url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')
}

/// Where an unquoted parameter value ends.
fn ends_value(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'&' | b';' | b',' | b'"' | b'\'' | b'#' | b')' | b'<' | b'>' | b']' | b'}'
        )
}

/// Byte ranges of the secrets in `text` (unordered, may overlap).
fn secrets(text: &str, secret_name: &dyn Fn(&str) -> bool) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    url_passwords(text, &mut ranges);
    named_values(text, secret_name, &mut ranges);
    bearer_tokens(text, &mut ranges);
    jwts(text, &mut ranges);
    aws_key_ids(text, &mut ranges);
    private_keys(text, &mut ranges);
    // Already hidden values stay as they are (masking is idempotent).
    ranges.retain(|r| !r.is_empty() && !text[r.start..].starts_with(REDACTED));
    ranges
}

/// Whether `text` holds a secret [`mask`] would hide.
pub fn holds_secret(text: &str, secret_name: &dyn Fn(&str) -> bool) -> bool {
    could_hold_secret(text) && !secrets(text, secret_name).is_empty()
}

/// False when no detector can match in `text`: one pass, no allocation (the recording hot
/// path's pre-scan asks this of every string of every payload, nearly all of them plain).
/// Each detector needs one of these: `=` or `:` (named values, and `://` for URL passwords),
/// `bearer ` in any case, `eyJ` (a JWT), an AWS key id prefix, or a PEM `PRIVATE KEY-----`.
fn could_hold_secret(text: &str) -> bool {
    let b = text.as_bytes();
    (0..b.len()).any(|i| {
        let rest = &b[i..];
        match b[i] {
            b'=' | b':' => true,
            b'b' | b'B' => rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"bearer "),
            b'e' => rest.starts_with(b"eyJ"),
            b'A' => ["AKIA", "ASIA", "ABIA", "ACCA"]
                .iter()
                .any(|p| rest.starts_with(p.as_bytes())),
            b'P' => rest.starts_with(b"PRIVATE KEY-----"),
            _ => false,
        }
    })
}

/// The text with every recognised secret replaced by `[REDACTED]`; `None` when there was
/// none. `secret_name` says whether a parameter, header or field name marks a secret.
pub fn mask(text: &str, secret_name: &dyn Fn(&str) -> bool) -> Option<String> {
    if !could_hold_secret(text) {
        return None;
    }
    let mut ranges = secrets(text, secret_name);
    if ranges.is_empty() {
        return None;
    }
    sort_ranges(&mut ranges);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in ranges {
        if r.end <= at {
            continue; // inside one already hidden
        }
        let start = r.start.max(at);
        out.push_str(&text[at..start]);
        out.push_str(REDACTED);
        at = r.end;
    }
    out.push_str(&text[at..]);
    (out != text).then_some(out)
}

/// Sorts by start, the longest first among equal starts. A heap sort written for this one
/// type: `sort_by_key` would bring a whole stable sort (about 5 KB of wasm) for it.
fn sort_ranges(ranges: &mut [Range<usize>]) {
    let before = |a: &Range<usize>, b: &Range<usize>| (a.start, b.end) < (b.start, a.end);
    let sift_down = |v: &mut [Range<usize>], mut root: usize, len: usize| loop {
        let mut child = 2 * root + 1;
        if child >= len {
            return;
        }
        if child + 1 < len && before(&v[child], &v[child + 1]) {
            child += 1;
        }
        if !before(&v[root], &v[child]) {
            return;
        }
        v.swap(root, child);
        root = child;
    };
    let len = ranges.len();
    for root in (0..len / 2).rev() {
        sift_down(ranges, root, len);
    }
    for end in (1..len).rev() {
        ranges.swap(0, end);
        sift_down(ranges, 0, end);
    }
}

/// The password of `scheme://user:password@host`.
fn url_passwords(text: &str, out: &mut Vec<Range<usize>>) {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(pos) = text[from..].find("://") {
        let start = from + pos + 3;
        let end = b[start..]
            .iter()
            .position(|&c| {
                matches!(c, b'/' | b'?' | b'#' | b'"' | b'\'') || c.is_ascii_whitespace()
            })
            .map_or(b.len(), |n| start + n);
        let authority = &text[start..end];
        if let Some(at) = authority.rfind('@') {
            if let Some(colon) = authority[..at].find(':') {
                out.push(start + colon + 1..start + at);
            }
        }
        from = end.max(start);
    }
}

/// `name=value` and `name: value` (and `"name": "value"`) where `name` marks a secret.
fn named_values(text: &str, secret_name: &dyn Fn(&str) -> bool, out: &mut Vec<Range<usize>>) {
    let b = text.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c != b'=' && c != b':' {
            continue;
        }
        // The name before the sign, optionally quoted (`"token": "x"`), spaces allowed
        // before a colon.
        let mut name_end = i;
        if c == b':' {
            while name_end > 0 && b[name_end - 1] == b' ' {
                name_end -= 1;
            }
        }
        let quote =
            (name_end > 0 && matches!(b[name_end - 1], b'"' | b'\'')).then(|| b[name_end - 1]);
        let quoted_name = quote.is_some();
        if quoted_name {
            name_end -= 1;
            // An escaped quote (`\"token\"`, JSON inside a string).
            if name_end > 0 && b[name_end - 1] == b'\\' {
                name_end -= 1;
            }
        }
        let mut name_start = name_end;
        while name_start > 0 && is_name_byte(b[name_start - 1]) {
            name_start -= 1;
        }
        if name_start == name_end {
            continue;
        }
        if let Some(q) = quote {
            if name_start == 0 || b[name_start - 1] != q {
                continue;
            }
        } else if c == b':' && b.get(i + 1) != Some(&b' ') {
            // `a:b` without a space is a URL scheme, a time or a path, not a field.
            continue;
        }
        if !secret_name(&text[name_start..name_end]) {
            continue;
        }
        let mut start = i + 1;
        while start < b.len() && b[start] == b' ' {
            start += 1;
        }
        let Some(&first) = b.get(start) else { continue };
        if text[start..].starts_with("\\\"") {
            // JSON quoted inside a string: `{\"token\":\"x\"}`.
            let close = text[start + 2..]
                .find("\\\"")
                .map_or(b.len(), |n| start + 2 + n);
            out.push(start + 2..close);
        } else if first == b'"' || first == b'\'' {
            let close = b[start + 1..]
                .iter()
                .position(|&q| q == first)
                .map_or(b.len(), |n| start + 1 + n);
            out.push(start + 1..close);
        } else if c == b':' && !quoted_name {
            // A header: its value runs to the end of the line.
            let end = b[start..]
                .iter()
                .position(|&q| q == b'\n' || q == b'\r')
                .map_or(b.len(), |n| start + n);
            out.push(start..end);
        } else {
            let end = b[start..]
                .iter()
                .position(|&q| ends_value(q))
                .map_or(b.len(), |n| start + n);
            out.push(start..end);
        }
    }
}

/// The token after `Bearer ` (any case).
fn bearer_tokens(text: &str, out: &mut Vec<Range<usize>>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 7 <= b.len() {
        if b[i..i + 6].eq_ignore_ascii_case(b"bearer")
            && b[i + 6] == b' '
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
        {
            let start = i + 7;
            let end = b[start..]
                .iter()
                .position(|&q| !is_token_byte(q))
                .map_or(b.len(), |n| start + n);
            out.push(start..end);
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
}

/// `header.payload.signature`, base64url, the header starting `eyJ` (`{"`).
fn jwts(text: &str, out: &mut Vec<Range<usize>>) {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(pos) = text[from..].find("eyJ") {
        let start = from + pos;
        from = start + 3;
        if start > 0 && is_base64url_byte(b[start - 1]) {
            continue;
        }
        let segment = |at: usize| {
            b[at..]
                .iter()
                .position(|&q| !is_base64url_byte(q))
                .map_or(b.len(), |n| at + n)
        };
        let first = segment(start);
        if b.get(first) != Some(&b'.') {
            continue;
        }
        let second = segment(first + 1);
        if second - first < 3 || b.get(second) != Some(&b'.') {
            continue;
        }
        let end = segment(second + 1);
        out.push(start..end);
        from = end;
    }
}

/// AWS access key ids: a four-letter prefix and 16 upper-case letters or digits.
fn aws_key_ids(text: &str, out: &mut Vec<Range<usize>>) {
    let b = text.as_bytes();
    for prefix in ["AKIA", "ASIA", "ABIA", "ACCA"] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(prefix) {
            let start = from + pos;
            from = start + 4;
            let end = start + 20;
            if end > b.len()
                || (start > 0 && b[start - 1].is_ascii_alphanumeric())
                || b.get(end).is_some_and(u8::is_ascii_alphanumeric)
            {
                continue;
            }
            if b[start + 4..end]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                out.push(start..end);
            }
        }
    }
}

/// The body of a PEM private key block.
fn private_keys(text: &str, out: &mut Vec<Range<usize>>) {
    let mut from = 0;
    while let Some(pos) = text[from..].find("PRIVATE KEY-----") {
        let start = from + pos + "PRIVATE KEY-----".len();
        let end = text[start..]
            .find("-----END")
            .map_or(text.len(), |n| start + n);
        out.push(start..end);
        from = end.max(start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_sort_by_start_then_longest_first() {
        let mut state = 7u64;
        for len in 0..40 {
            let mut ranges: Vec<Range<usize>> = (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let start = (state >> 33) as usize % 12;
                    start..start + (state >> 50) as usize % 6
                })
                .collect();
            let mut expected = ranges.clone();
            expected.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
            sort_ranges(&mut ranges);
            assert_eq!(ranges, expected, "{len} ranges");
        }
    }

    fn secret(name: &str) -> bool {
        let n = name.to_ascii_lowercase().replace(['_', '-', '.'], "");
        [
            "password",
            "pwd",
            "token",
            "apikey",
            "secret",
            "authorization",
        ]
        .iter()
        .any(|f| n.contains(f))
            || n == "sid"
    }

    fn m(text: &str) -> String {
        mask(text, &secret).unwrap_or_else(|| text.to_owned())
    }

    #[test]
    fn every_shape_is_hidden_and_the_rest_kept() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU";
        let cases = [
            (
                "connect failed: postgres://app:s3cr3t@db:5432/prod",
                "connect failed: postgres://app:[REDACTED]@db:5432/prod",
            ),
            (
                "GET https://api.example.com/v1?user=ann&password=hunter2&api_key=K123 failed",
                "GET https://api.example.com/v1?user=ann&password=[REDACTED]&api_key=[REDACTED] failed",
            ),
            (
                "Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd=Pa55word;Encrypt=yes",
                "Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd=[REDACTED];Encrypt=yes",
            ),
            (
                "jdbc:sqlserver://db:1433;databaseName=prod;user=sa;password=Pa55word",
                "jdbc:sqlserver://db:1433;databaseName=prod;user=sa;password=[REDACTED]",
            ),
            (
                "jdbc:mysql://db/prod?user=u&password=p4ss",
                "jdbc:mysql://db/prod?user=u&password=[REDACTED]",
            ),
            (
                "request headers:\nAuthorization: Bearer abc.def-123\nAccept: json",
                "request headers:\nAuthorization: [REDACTED]\nAccept: json",
            ),
            ("retrying with bearer tok_9f8e7d", "retrying with bearer [REDACTED]"),
            (
                &format!("token {jwt} expired"),
                "token [REDACTED] expired",
            ),
            (
                "aws: key AKIAIOSFODNN7EXAMPLE denied",
                "aws: key [REDACTED] denied",
            ),
            (r#"body {"token": "t0k", "n": 1}"#, r#"body {"token": "[REDACTED]", "n": 1}"#),
            (
                r#"parse failed: {\"token\":\"t0k\",\"n\":1}"#,
                r#"parse failed: {\"token\":\"[REDACTED]\",\"n\":1}"#,
            ),
            (
                "Error: token=abc\n    at f (file:///a.js:1:2)",
                "Error: token=[REDACTED]\n    at f (file:///a.js:1:2)",
            ),
            ("cookie sid=abc123; path=/", "cookie sid=[REDACTED]; path=/"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
                "-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(m(text), want, "{text}");
            // Masking twice changes nothing more.
            assert_eq!(m(want), want, "{want}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for text in [
            "select * from users where password = 'x'",
            "at main (file:///app/index.js:10:5)",
            "the token bucket is empty",
            "10:30 rows=1200 ok",
            "https://example.com/a@b",
            "AKIA is a prefix; AKIAshort is not a key",
            "x=1&y=2",
        ] {
            assert_eq!(mask(text, &secret), None, "{text}");
        }
    }

    /// A tiny seeded PRNG (xorshift), so the property test is the same on every run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    /// Texts stitched from pieces of every shape, delimiters and multi-byte characters:
    /// masking never panics, hides every planted secret, and masking again hides nothing
    /// new. (More cases: raise `ROUNDS`.)
    #[test]
    fn random_texts_never_panic_and_lose_every_planted_secret() {
        const ROUNDS: usize = 3_000;
        let pieces = [
            "password=",
            "Pwd=",
            "token: ",
            "\"token\":",
            "\\\"sid\\\":\\\"",
            "Bearer ",
            "bearer",
            "://",
            "u:",
            "@",
            "?",
            "&",
            ";",
            "=",
            ":",
            " ",
            "\n",
            "\"",
            "'",
            "eyJ",
            ".",
            "AKIA",
            "ABCDEFGHIJKLMNOP",
            "é",
            "日本",
            "🦀",
            "x",
            "[REDACTED]",
            "PRIVATE KEY-----",
            "-----END",
            "api_key",
            "Authorization",
            "\\",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..ROUNDS {
            let mut text = String::new();
            for _ in 0..(rng.next() % 24) {
                text.push_str(rng.pick(&pieces));
            }
            // One planted secret of a known shape, somewhere.
            let planted = "AKIAZZZZZZZZZZZZZZZZ";
            let at = (rng.next() % 3) as usize;
            let text = match at {
                0 => format!("{planted} {text}"),
                1 => format!("{text} {planted}"),
                _ => format!("{text} password={planted} {text}"),
            };
            let once = mask(&text, &secret).unwrap_or_else(|| text.clone());
            assert!(!once.contains(planted), "{text:?} -> {once:?}");
            let twice = mask(&once, &secret).unwrap_or_else(|| once.clone());
            assert!(!twice.contains(planted));
        }
    }
}
