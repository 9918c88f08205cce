//! Limits on the strings a caller gives: none is stored unbounded. Ids are refused when too
//! long (cutting one would make it another id; see `validate_id`); names and labels are cut
//! at [`MAX_LABEL_BYTES`], long texts (query text, error messages and stacks) at the
//! tracker's `maxValueBytes`, each with a visible marker at the end saying how much was cut.

use crate::error::ValidationError;
use crate::model::{ErrorInfo, Execution, Kind, NodeRun, Output};

/// Longest name or label kept whole: workflow and node names, node types, complexity, tags,
/// column names and types, error types.
pub const MAX_LABEL_BYTES: usize = 1024;
/// Longest kind or database type kept whole: these are stored as they are and filtered on,
/// so they are cut to what validation (and the server) accept for such words.
pub const MAX_WORD_BYTES: usize = crate::intake::validate::MAX_ID_LEN;
/// Most tags one execution may have.
pub const MAX_TAGS: usize = 256;
/// What ends a cut string: `…[truncated: 123 of 456 bytes dropped]`.
pub const TEXT_TRUNCATED_PREFIX: &str = "…[truncated: ";

/// Cuts `text` to at most `max` bytes (on a character boundary) ending in a marker that
/// says how many bytes were dropped; returns true if it was cut.
pub fn limit_text(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let original = text.len();
    // The marker's length depends on the count it shows: size it for the largest count.
    let marker_room = TEXT_TRUNCATED_PREFIX.len() + 2 * 20 + " of  bytes dropped]".len();
    let mut keep = max.saturating_sub(marker_room);
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    text.truncate(keep);
    text.push_str(&format!(
        "{TEXT_TRUNCATED_PREFIX}{} of {original} bytes dropped]",
        original - keep
    ));
    true
}

fn limit_opt(text: &mut Option<String>, max: usize) {
    if let Some(t) = text.as_mut() {
        limit_text(t, max);
    }
}

/// Cuts an error's message and stack to `max_text` bytes and its type to a label.
pub fn limit_error(error: &mut ErrorInfo, max_text: usize) {
    limit_text(&mut error.message, max_text);
    limit_opt(&mut error.stack, max_text);
    limit_opt(&mut error.error_type, MAX_LABEL_BYTES);
}

/// Cuts a node run's name and type to labels (its id is validated, not cut).
pub fn limit_node_labels(name: &mut Option<String>, node_type: &mut Option<String>) {
    limit_opt(name, MAX_LABEL_BYTES);
    limit_opt(node_type, MAX_LABEL_BYTES);
}

/// Cuts an output's column names and types to labels (its name is an id).
pub fn limit_output(output: &mut Output) {
    for column in &mut output.columns {
        limit_text(&mut column.name, MAX_LABEL_BYTES);
        limit_opt(&mut column.column_type, MAX_LABEL_BYTES);
    }
}

fn limit_node(node: &mut NodeRun, max_text: usize) {
    limit_node_labels(&mut node.name, &mut node.node_type);
    if let Some(error) = node.error.as_mut() {
        limit_error(error, max_text);
    }
}

/// Applies every string limit to an execution; too many tags is an error.
pub fn limit_execution(e: &mut Execution, max_text: usize) -> Result<(), ValidationError> {
    if e.tags.len() > MAX_TAGS {
        return Err(ValidationError::TooLarge {
            field: "tags".into(),
            size: e.tags.len() as u64,
            limit: MAX_TAGS as u64,
        });
    }
    for tag in &mut e.tags {
        limit_text(tag, MAX_LABEL_BYTES);
    }
    limit_opt(&mut e.workflow_name, MAX_LABEL_BYTES);
    if let Kind::Other(word) = &mut e.kind {
        limit_text(word, MAX_WORD_BYTES);
    }
    if let Some(query) = e.query.as_mut() {
        limit_opt(&mut query.text, max_text);
        limit_opt(&mut query.database_type, MAX_WORD_BYTES);
        limit_opt(&mut query.complexity, MAX_LABEL_BYTES);
    }
    if let Some(error) = e.error.as_mut() {
        limit_error(error, max_text);
    }
    for output in &mut e.outputs {
        limit_output(output);
    }
    for node in &mut e.nodes {
        limit_node(node, max_text);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_to_the_limit_with_a_marker() {
        let mut text = "é".repeat(5_000_000);
        assert!(limit_text(&mut text, 1024));
        assert!(text.len() <= 1024, "{}", text.len());
        assert!(text.contains(TEXT_TRUNCATED_PREFIX));
        assert!(text.ends_with(" of 10000000 bytes dropped]"), "{text}");
        let mut short = "kept".to_owned();
        assert!(!limit_text(&mut short, 1024));
        assert_eq!(short, "kept");
    }

    #[test]
    fn every_label_and_text_of_an_execution_is_bounded() {
        let big = "x".repeat(10 << 20);
        let mut e = Execution {
            workflow_name: Some(big.clone()),
            kind: Kind::Other(big.clone()),
            tags: vec![big.clone()],
            error: Some(ErrorInfo {
                message: big.clone(),
                stack: Some(big.clone()),
                error_type: Some(big.clone()),
                node_id: None,
            }),
            ..Execution::default()
        };
        limit_execution(&mut e, 65536).unwrap();
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.len() < 4 * 65536, "{}", json.len());
        e.tags = vec!["t".into(); MAX_TAGS + 1];
        assert!(limit_execution(&mut e, 65536).is_err());
    }
}
