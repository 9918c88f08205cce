//! Text search for `GET /api/v1/executions?q=`: the words of `q` are looked for in what a
//! person remembers of a run: its id, workflow, user, query text, error, node names and errors,
//! and every node's input and output values.
//!
//! There is no text index, so the cost is bounded instead: one request reads at most
//! [`SCAN_WINDOW`] executions (newest first, within the other filters and the tenant) and
//! answers the matches among them, with a cursor to go on from where it stopped. The database
//! pre-filters the window with `lower(record) LIKE` (only matching records are sent back);
//! [`matches`] then confirms each on the parsed record, so a word found only in a JSON key
//! (`"status"`) or in an unrelated field is no match.

use runledger::Execution;

use crate::error::AppError;

/// The most executions one search request reads.
pub const SCAN_WINDOW: i64 = 2_000;
/// The most words a search takes, and the longest word.
const MAX_WORDS: usize = 8;
const MAX_WORD_CHARS: usize = 200;

/// The lower-cased words of `q`; none for a blank one. Too many or too long words are a 400.
pub fn words(q: Option<&String>) -> Result<Vec<String>, AppError> {
    let words: Vec<String> = q
        .map(|q| q.split_whitespace().map(str::to_lowercase).collect())
        .unwrap_or_default();
    if words.len() > MAX_WORDS {
        return Err(AppError::BadRequest(format!(
            "`q` takes at most {MAX_WORDS} words; got {}",
            words.len()
        )));
    }
    if let Some(long) = words.iter().find(|w| w.chars().count() > MAX_WORD_CHARS) {
        return Err(AppError::BadRequest(format!(
            "each word of `q` is at most {MAX_WORD_CHARS} characters; one has {}",
            long.chars().count()
        )));
    }
    Ok(words)
}

/// A `LIKE … ESCAPE '!'` pattern for each word the database can pre-filter on exactly: ASCII
/// words without a quote or backslash (those are escaped in the stored JSON text, and SQLite's
/// `lower` folds ASCII only). Other words are checked by [`matches`] alone.
pub fn like_patterns(words: &[String]) -> Vec<String> {
    words
        .iter()
        .filter(|w| w.is_ascii() && !w.contains(['"', '\\']) && !w.chars().any(char::is_control))
        .map(|w| {
            let mut p = String::with_capacity(w.len() + 2);
            p.push('%');
            for c in w.chars() {
                if matches!(c, '!' | '%' | '_') {
                    p.push('!');
                }
                p.push(c);
            }
            p.push('%');
            p
        })
        .collect()
}

/// True when every word occurs (case-insensitively) in what a search looks at in `e`.
pub fn matches(e: &Execution, words: &[String]) -> bool {
    let hay = haystack(e);
    words.iter().all(|w| hay.contains(w.as_str()))
}

fn haystack(e: &Execution) -> String {
    let mut parts: Vec<&str> = vec![e.id.as_str()];
    parts.extend(e.workflow_id.as_deref());
    parts.extend(e.workflow_name.as_deref());
    parts.extend(e.user_id.as_deref());
    if let Some(q) = &e.query {
        parts.extend(q.text.as_deref());
        parts.extend(q.database_type.as_deref());
    }
    if let Some(err) = &e.error {
        parts.push(&err.message);
        parts.extend(err.error_type.as_deref());
    }
    for n in &e.nodes {
        parts.push(&n.id);
        parts.extend(n.name.as_deref());
        if let Some(err) = &n.error {
            parts.push(&err.message);
        }
        parts.push(n.input.text());
        parts.push(n.output.text());
    }
    parts.join("\n").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run() -> Execution {
        serde_json::from_value(json!({
            "id": "run-1", "version": 1, "kind": "workflow", "status": "success",
            "startedAt": 1_700_000_000_000_i64, "workflowId": "nightly-import",
            "nodes": [{ "id": "load", "name": "Load", "status": "success",
                "startedAt": 1_700_000_000_000_i64, "input": { "table": "Orders" },
                "output": { "invoice": "INV-7731", "rows": 12 } }]
        }))
        .unwrap()
    }

    #[test]
    fn words_in_node_values_match_case_insensitively_and_keys_do_not() {
        let e = run();
        let q = |s: &str| words(Some(&s.to_owned())).unwrap();
        assert!(matches(&e, &q("inv-7731")));
        assert!(matches(&e, &q("orders NIGHTLY")));
        assert!(!matches(&e, &q("inv-7731 missing")));
        // "status" is a key of every record, not a value a person searched for.
        assert!(!matches(&e, &q("status")));
    }

    #[test]
    fn patterns_escape_like_wildcards_and_skip_what_json_escapes() {
        let w: Vec<String> = ["50%_off!", "say\"hi", "café"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(like_patterns(&w), ["%50!%!_off!!%"]);
    }

    #[test]
    fn too_many_or_too_long_words_are_refused() {
        let many = (0..9)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(words(Some(&many)).is_err());
        assert!(words(Some(&"x".repeat(201))).is_err());
        assert!(words(None).unwrap().is_empty());
        assert!(words(Some(&"   ".to_owned())).unwrap().is_empty());
    }
}
