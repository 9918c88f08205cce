//! Where in a JSON text a decoding error is, as a path (`nodes[0].input`), found from the
//! error's line and column by walking the text once: the clear message of a path-tracking
//! deserializer without its code in every decoder (`serde_path_to_error` cost 113 KB of wasm).
//!
//! Used by the client's decoders and by the ingest server's (`server/src/decode.rs`).

/// A decoding error without serde internals: `path` is `.` for the whole value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// Where: `query.databaseType`, `nodes[2]`, or `.` for the top level.
    pub path: String,
    /// What was wrong, without " at line L column C".
    pub message: String,
}

enum Frame {
    Object { key: Option<String> },
    Array { index: usize },
}

/// Locates `error`, raised decoding `text` (with `serde_json::from_str`, `from_slice` or a
/// `Deserializer` over them).
pub fn locate(text: &[u8], error: &serde_json::Error) -> Located {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = message
        .strip_suffix(&suffix)
        .map(str::to_owned)
        .unwrap_or(message);
    if error.line() == 0 {
        return Located {
            path: ".".into(),
            message,
        };
    }
    // serde_json reports a missing field after the object's `}`: the walk has left the
    // object by then, so the path is the object's own.
    let end = offset_of(text, error.line(), error.column());
    let stack = walk(&text[..end]);
    Located {
        path: render(&stack),
        message,
    }
}

/// The byte offset just after line `line`, column `column` (both 1-based, as serde_json
/// counts them), clamped to the text.
fn offset_of(text: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].iter().position(|b| *b == b'\n') {
            Some(newline) => start += newline + 1,
            None => return text.len(),
        }
    }
    (start + column).min(text.len())
}

/// The open containers at the end of `text`, with the key or index being read in each.
fn walk(text: &[u8]) -> Vec<Frame> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'{' => stack.push(Frame::Object { key: None }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { key }) => *key = None,
                None => {}
            },
            b'"' => {
                let start = i + 1;
                i = start;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object { key: key @ None }) = stack.last_mut() {
                    *key = Some(unescape(&text[start..i.min(text.len())]));
                }
            }
            _ => {}
        }
        i += 1;
    }
    stack
}

/// A key's text as written, escapes decoded where they are whole.
fn unescape(raw: &[u8]) -> String {
    let quoted = [&b"\""[..], raw, &b"\""[..]].concat();
    serde_json::from_slice::<String>(&quoted)
        .unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned())
}

fn render(stack: &[Frame]) -> String {
    let mut path = String::new();
    for frame in stack {
        match frame {
            Frame::Object { key: Some(key) } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object { key: None } => {}
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    if path.is_empty() {
        path.push('.');
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Node {
        id: String,
        started_at: u64,
        #[serde(default)]
        input: Option<serde_json::Value>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Batch {
        version: u64,
        #[serde(default)]
        nodes: Vec<Node>,
        #[serde(default)]
        query: Option<Query>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Query {
        database_type: String,
    }

    fn located(text: &str) -> Located {
        let error = serde_json::from_str::<Batch>(text).expect_err(text);
        locate(text.as_bytes(), &error)
    }

    #[test]
    fn a_wrong_type_is_placed_at_its_field_without_line_and_column() {
        let l = located(r#"{"version": "seven"}"#);
        assert_eq!(l.path, "version");
        assert_eq!(
            l.message, r#"invalid type: string "seven", expected u64"#,
            "no serde position in the message"
        );
        let l = located(
            r#"{"version": 1, "nodes": [{"id": "a", "startedAt": 1}, {"id": "b", "startedAt": -4}]}"#,
        );
        assert_eq!(l.path, "nodes[1].startedAt");
        assert!(!l.message.contains("line"), "{}", l.message);
    }

    #[test]
    fn an_unknown_key_is_placed_at_the_key() {
        let l = located(r#"{"version": 1, "nodes": [{"id": "a", "startedAt": 1, "outptu": 1}]}"#);
        assert_eq!(l.path, "nodes[0].outptu");
        assert!(
            l.message.starts_with("unknown field `outptu`"),
            "{}",
            l.message
        );
        let l = located(r#"{"version": 1, "query": {"database\u0054ype": "pg", "x": 1}}"#);
        assert_eq!(l.path, "query.x");
    }

    #[test]
    fn a_missing_field_is_placed_at_its_object() {
        let l = located(r#"{"version": 1, "nodes": [{"id": "a", "startedAt": 1}, {"id": "b"}]}"#);
        assert_eq!(l.path, "nodes[1]");
        assert_eq!(l.message, "missing field `startedAt`");
        let l = located(r#"{"query": {}, "version": 1}"#);
        assert_eq!(l.path, "query");
        let l = located(r#"{"nodes": []}"#);
        assert_eq!(l.path, ".");
    }

    #[test]
    fn strings_holding_brackets_commas_and_quotes_do_not_confuse_the_walk() {
        let l = located(
            "{\"version\": 1, \"nodes\": [{\"id\": \"a,]}\\\"[{\", \"input\": {\"k\": \"}\"},\n \"startedAt\": true}]}",
        );
        assert_eq!(l.path, "nodes[0].startedAt");
    }

    #[test]
    fn syntax_errors_are_placed_too() {
        let l = located(r#"{"version": 1, "nodes": [{"id": "a", "startedAt": 1,]}"#);
        assert!(l.path.starts_with("nodes[0]"), "{}", l.path);
        let l = located("");
        assert_eq!(l.path, ".");
        assert_eq!(l.message, "EOF while parsing a value");
    }
}
