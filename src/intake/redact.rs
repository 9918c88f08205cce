//! Redaction of secrets before anything is stored or sent: by key (a value under a
//! secret-looking key is hidden whole) and by shape (a secret inside text, see
//! [`super::patterns`]).

use serde_json::Value;

use super::patterns;

pub use super::patterns::REDACTED;

/// Key fragments that mark a value as secret, by default: a key containing one is secret.
pub const DEFAULT_SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "authorization",
    "cookie",
    "session_id",
    "private_key",
    "credentials",
    "signature",
];

/// Keys that are secret only as a whole word (as fragments they would hide `inside` or
/// `signal`), by default.
pub const DEFAULT_SECRET_EXACT_KEYS: &[&str] = &["sid", "sig", "jwt", "otp"];

/// Replaces values under secret-looking keys and masks secrets inside text.
///
/// A key matches when, lower-cased and stripped of `_`, `-`, `.` and spaces, it contains one
/// of the fragments (so `X-Api-Key`, `accessToken` and `db_password` all match) or equals one
/// of the exact keys (`sid`). This errs on the side of hiding: `max_tokens` is hidden too.
/// Every string is also searched for secrets by shape (URL passwords, secret-named
/// parameters, bearer tokens, JWTs, AWS key ids, private keys; see [`super::patterns`]).
#[derive(Clone, Debug)]
pub struct Redactor {
    fragments: Vec<String>,
    /// Whether some fragment starts with this byte (the key check's fast path).
    fragment_starts: [bool; 256],
    exact: Vec<String>,
    enabled: bool,
}

fn first_bytes(fragments: &[String]) -> [bool; 256] {
    let mut starts = [false; 256];
    for f in fragments {
        if let Some(&b) = f.as_bytes().first() {
            starts[usize::from(b)] = true;
        }
    }
    starts
}

impl Default for Redactor {
    fn default() -> Self {
        Self::with_keys(&[], true)
    }
}

fn normalize(key: &str) -> String {
    let kept: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' ' | '.'))
        .collect();
    super::fold::lower_case(&kept)
}

impl Redactor {
    /// A redactor for exactly these key fragments (no defaults).
    pub fn new<'a>(fragments: impl IntoIterator<Item = &'a str>) -> Self {
        let fragments: Vec<String> = fragments
            .into_iter()
            .map(normalize)
            .filter(|f| !f.is_empty())
            .collect();
        Redactor {
            fragment_starts: first_bytes(&fragments),
            fragments,
            exact: Vec::new(),
            enabled: true,
        }
    }

    /// The default keys plus `extra` fragments; without the defaults when `defaults` is
    /// false (`redact: { defaults: false, keys }`). Shapes are always looked for.
    pub fn with_keys(extra: &[String], defaults: bool) -> Self {
        let base: &[&str] = if defaults { DEFAULT_SECRET_KEYS } else { &[] };
        let mut redactor = Self::new(base.iter().copied().chain(extra.iter().map(String::as_str)));
        if defaults {
            redactor.exact = DEFAULT_SECRET_EXACT_KEYS
                .iter()
                .map(|k| normalize(k))
                .collect();
        }
        redactor
    }

    /// A redactor that changes nothing (only when a caller opts out explicitly).
    pub fn disabled() -> Self {
        Redactor {
            fragments: Vec::new(),
            fragment_starts: [false; 256],
            exact: Vec::new(),
            enabled: false,
        }
    }

    /// True when `key` looks like it holds a secret.
    pub fn is_secret_key(&self, key: &str) -> bool {
        // The pre-scan asks this of every key of every payload: a short ASCII key (nearly
        // all of them) is normalized on the stack, with no allocation.
        let mut buf = [0u8; 64];
        if key.len() <= buf.len() && key.is_ascii() {
            let mut n = 0;
            for b in key
                .bytes()
                .filter(|b| !matches!(b, b'_' | b'-' | b' ' | b'.'))
            {
                buf[n] = b.to_ascii_lowercase();
                n += 1;
            }
            if let Ok(normalized) = std::str::from_utf8(&buf[..n]) {
                return self.is_secret_normalized(normalized);
            }
        }
        self.is_secret_normalized(&normalize(key))
    }

    fn is_secret_normalized(&self, key: &str) -> bool {
        // Asked of every key of every payload: compared in place where a fragment's first
        // byte occurs, instead of building a substring searcher per fragment per key.
        let bytes = key.as_bytes();
        (0..bytes.len()).any(|i| {
            self.fragment_starts[usize::from(bytes[i])]
                && self
                    .fragments
                    .iter()
                    .any(|f| bytes[i..].starts_with(f.as_bytes()))
        }) || self.exact.iter().any(|e| e == key)
    }

    /// `text` with every secret found in it by shape replaced, or `None` when it holds
    /// none (or redaction is off).
    pub fn mask_text(&self, text: &str) -> Option<String> {
        if !self.enabled {
            return None;
        }
        patterns::mask(text, &|name| self.is_secret_key(name))
    }

    /// Masks `text` in place; returns whether anything was hidden.
    pub fn mask_in_place(&self, text: &mut String) -> bool {
        match self.mask_text(text) {
            Some(masked) => {
                *text = masked;
                true
            }
            None => false,
        }
    }

    /// False when JSON `text` certainly holds nothing to redact: none of its object keys
    /// looks secret and none of its strings holds a secret by shape. True means "parse and
    /// look". Text with non-ASCII characters or escapes always answers true, so that no
    /// spelling slips past.
    pub fn might_match(&self, text: &str) -> bool {
        if !self.enabled {
            return false;
        }
        if !text.is_ascii() || text.contains('\\') || text.contains("://") {
            return true;
        }
        // Without escapes every string runs from one quote to the next; a string followed by
        // a colon is an object key. One pass over the bytes (no searcher per string).
        let b = text.as_bytes();
        let mut open: Option<usize> = None;
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'"' {
                match open.take() {
                    None => open = Some(i + 1),
                    Some(start) => {
                        let string = &text[start..i];
                        let mut after = i + 1;
                        while after < b.len() && b[after].is_ascii_whitespace() {
                            after += 1;
                        }
                        let is_key = b.get(after) == Some(&b':');
                        if (is_key && self.is_secret_key(string))
                            || (!is_key
                                && patterns::holds_secret(string, &|name| self.is_secret_key(name)))
                        {
                            return true;
                        }
                    }
                }
            }
            i += 1;
        }
        // An unclosed string: not JSON as expected, so look.
        open.is_some()
    }

    /// Redacts `value` in place; returns how many values were hidden.
    pub fn redact(&self, value: &mut Value) -> usize {
        if !self.enabled {
            return 0;
        }
        match value {
            Value::Object(map) => map
                .iter_mut()
                .map(|(key, inner)| {
                    if self.is_secret_key(key) && !inner.is_null() {
                        *inner = Value::String(REDACTED.into());
                        1
                    } else {
                        self.redact(inner)
                    }
                })
                .sum(),
            Value::Array(items) => items.iter_mut().map(|v| self.redact(v)).sum(),
            Value::String(text) => usize::from(self.mask_in_place(text)),
            _ => 0,
        }
    }
}

/// Masks every secret recognised by shape in `text` with the default rules, whatever a
/// tracker's settings: for the library's own messages (errors, warnings, log lines), which
/// may quote URLs, servers' answers and platform errors.
pub fn scrub(text: &str) -> String {
    thread_local! {
        static DEFAULT: Redactor = Redactor::default();
    }
    DEFAULT
        .with(|r| r.mask_text(text))
        .unwrap_or_else(|| text.to_owned())
}

/// Masks the password of every `scheme://user:password@host` in `text`.
///
/// Returns `None` when there was nothing to mask.
pub fn mask_url_password(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) if colon + 1 < userinfo.len() => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str(REDACTED);
                        out.push_str(&authority[at..]);
                        changed = true;
                    }
                    _ => out.push_str(authority),
                }
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hides_values_under_secret_keys_at_any_depth() {
        let mut v = json!({
            "user": "ann",
            "Password": "hunter2",
            "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k", "accept": "json"},
            "list": [{"accessToken": "t"}, {"db_passwd": null}],
        });
        let n = Redactor::default().redact(&mut v);
        assert_eq!(n, 4);
        assert_eq!(
            v,
            json!({
                "user": "ann",
                "Password": REDACTED,
                "headers": {"Authorization": REDACTED, "X-Api-Key": REDACTED, "accept": "json"},
                "list": [{"accessToken": REDACTED}, {"db_passwd": null}],
            })
        );
    }

    #[test]
    fn might_match_never_misses_what_redact_would_hide() {
        let r = Redactor::default();
        for text in [
            r#"{"API_KEY":"x"}"#,
            r#"{"nested":{"Pass-Word":1}}"#,
            r#"{"dsn":"postgres://u:p@h"}"#,
            r#"{"k\u0065y":"escaped"}"#,
            "{\"K\u{212A}\":1}",
        ] {
            assert!(r.might_match(text), "{text}");
        }
        assert!(!r.might_match(r#"{"rows":[1,2,3],"source":"orders"}"#));
        assert!(
            !r.might_match(r#"{"note":"password reset"}"#),
            "values are not keys"
        );
        assert!(r.might_match(r#"[{"a":{"db_password" : "x"}}]"#));
        assert!(!Redactor::disabled().might_match(r#"{"password":"x"}"#));
    }

    #[test]
    fn masks_connection_string_passwords() {
        let mut v = json!({"dsn": "postgres://app:s3cr3t@db:5432/prod?sslmode=require"});
        Redactor::default().redact(&mut v);
        assert_eq!(
            v["dsn"],
            json!("postgres://app:[REDACTED]@db:5432/prod?sslmode=require")
        );
        assert_eq!(mask_url_password("https://example.com/a@b"), None);
        assert_eq!(
            mask_url_password("redis://:pw@h"),
            Some("redis://:[REDACTED]@h".into())
        );
        assert_eq!(mask_url_password("ftp://user@h"), None);
    }

    #[test]
    fn added_keys_join_the_defaults_unless_the_defaults_are_turned_off() {
        let mut v = json!({"pin": "1234", "password": "x", "sid": "s", "inside": "i"});
        Redactor::with_keys(&["pin".into()], true).redact(&mut v);
        assert_eq!(
            v,
            json!({"pin": REDACTED, "password": REDACTED, "sid": REDACTED, "inside": "i"})
        );
        let mut v = json!({"pin": "1234", "password": "x"});
        Redactor::with_keys(&["pin".into()], false).redact(&mut v);
        assert_eq!(v, json!({"pin": REDACTED, "password": "x"}));
        for key in [
            "pwd",
            "Passphrase",
            "aws_access_key_id",
            "sessionId",
            "X-Amz-Signature",
        ] {
            assert!(Redactor::default().is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn secrets_inside_strings_are_masked_by_shape() {
        let mut v = json!({
            "message": "GET https://h/x?api_key=K1&page=2 failed: Authorization: Bearer abc",
            "list": ["Server=db;Uid=sa;Pwd=p4ss;", "AKIAIOSFODNN7EXAMPLE", "plain"],
        });
        assert_eq!(Redactor::default().redact(&mut v), 3);
        assert_eq!(
            v,
            json!({
                "message": "GET https://h/x?api_key=[REDACTED]&page=2 failed: Authorization: [REDACTED]",
                "list": ["Server=db;Uid=sa;Pwd=[REDACTED];", REDACTED, "plain"],
            })
        );
        assert!(Redactor::default().might_match(r#"{"note":"Pwd=x;"}"#));
        assert_eq!(
            scrub("http://admin:PASS@127.0.0.1:9/v1/ingest"),
            "http://admin:[REDACTED]@127.0.0.1:9/v1/ingest"
        );
    }

    #[test]
    fn disabled_changes_nothing() {
        let mut w = json!({"password": "x"});
        Redactor::disabled().redact(&mut w);
        assert_eq!(w, json!({"password": "x"}));
    }
}
