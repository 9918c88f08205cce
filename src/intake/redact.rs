//! Redaction of secrets before anything is stored or sent.

use serde_json::Value;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Key fragments that mark a value as secret, by default.
pub const DEFAULT_SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "private_key",
    "credentials",
];

/// Replaces values under secret-looking keys and masks passwords in connection URLs.
///
/// A key matches when, lower-cased and stripped of `_`, `-` and spaces, it contains one of the
/// configured fragments (so `X-Api-Key`, `accessToken` and `db_password` all match). This errs
/// on the side of hiding: `max_tokens` is hidden too.
#[derive(Clone, Debug)]
pub struct Redactor {
    fragments: Vec<String>,
    enabled: bool,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(DEFAULT_SECRET_KEYS.iter().copied())
    }
}

fn normalize(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' ' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

impl Redactor {
    /// A redactor for these key fragments.
    pub fn new<'a>(fragments: impl IntoIterator<Item = &'a str>) -> Self {
        Redactor {
            fragments: fragments
                .into_iter()
                .map(normalize)
                .filter(|f| !f.is_empty())
                .collect(),
            enabled: true,
        }
    }

    /// A redactor that changes nothing (only when a caller opts out explicitly).
    pub fn disabled() -> Self {
        Redactor {
            fragments: Vec::new(),
            enabled: false,
        }
    }

    /// True when `key` looks like it holds a secret.
    pub fn is_secret_key(&self, key: &str) -> bool {
        let key = normalize(key);
        self.fragments.iter().any(|f| key.contains(f.as_str()))
    }

    /// False when JSON `text` certainly holds nothing to redact: none of its object keys
    /// looks secret and it holds no URL. True means "parse and look". Text with non-ASCII
    /// characters or escapes always answers true, so that no spelling slips past.
    pub fn might_match(&self, text: &str) -> bool {
        if !self.enabled {
            return false;
        }
        if !text.is_ascii() || text.contains('\\') || text.contains("://") {
            return true;
        }
        // Without escapes every string runs from one quote to the next; a string followed by
        // a colon is an object key.
        let mut rest = text;
        while let Some(open) = rest.find('"') {
            let after_open = &rest[open + 1..];
            let Some(close) = after_open.find('"') else {
                return true;
            };
            let string = &after_open[..close];
            rest = &after_open[close + 1..];
            if rest.trim_start().starts_with(':') && self.is_secret_key(string) {
                return true;
            }
        }
        false
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
            Value::String(text) => match mask_url_password(text) {
                Some(masked) => {
                    *text = masked;
                    1
                }
                None => 0,
            },
            _ => 0,
        }
    }
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
    fn configured_keys_replace_the_defaults_and_disabled_changes_nothing() {
        let mut v = json!({"pin": "1234", "password": "x"});
        Redactor::new(["pin"]).redact(&mut v);
        assert_eq!(v, json!({"pin": REDACTED, "password": "x"}));
        let mut w = json!({"password": "x"});
        Redactor::disabled().redact(&mut w);
        assert_eq!(w, json!({"password": "x"}));
    }
}
