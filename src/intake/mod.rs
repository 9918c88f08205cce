//! Everything a record goes through on the way in: decoding, redaction, payload limits and
//! validation. Pure logic, shared by every store and binding.

mod fold;
pub mod json_path;
mod limits;
mod patterns;
mod redact;
mod strict;
mod truncate;
mod validate;

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use limits::{
    limit_error, limit_node_labels, limit_output, limit_text, MAX_LABEL_BYTES, MAX_TAGS,
    TEXT_TRUNCATED_PREFIX,
};
pub use redact::{
    mask_url_password, scrub, Redactor, DEFAULT_SECRET_EXACT_KEYS, DEFAULT_SECRET_KEYS, REDACTED,
};
pub use strict::{check_top_level_keys, did_you_mean, explain, struct_fields, unknown_key};
pub use truncate::{
    is_truncation_marker, truncate_value, DEFAULT_MAX_VALUE_BYTES, DEFAULT_PREVIEW_BYTES,
    TRUNCATED_KEY,
};
pub use validate::{
    validate_execution, validate_id, validate_output, validate_timestamp, DEFAULT_MAX_NODE_RUNS,
    MAX_ID_LEN,
};

use crate::error::ValidationError;
use crate::model::{ErrorInfo, Execution, Json};

/// The rules applied to every value before it is stored.
#[derive(Clone, Debug)]
pub struct IntakePolicy {
    /// Hides secrets.
    pub redactor: Redactor,
    /// Largest JSON size of one payload value before it is replaced by a truncation marker.
    pub max_value_bytes: usize,
    /// Bytes of preview a truncation marker keeps.
    pub preview_bytes: usize,
    /// Most node runs per execution.
    pub max_node_runs: usize,
}

impl Default for IntakePolicy {
    fn default() -> Self {
        IntakePolicy {
            redactor: Redactor::default(),
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            preview_bytes: DEFAULT_PREVIEW_BYTES,
            max_node_runs: DEFAULT_MAX_NODE_RUNS,
        }
    }
}

impl IntakePolicy {
    /// Redacts, then size-limits one payload value.
    pub fn clean_value(&self, value: &mut Value) {
        self.redactor.redact(value);
        truncate_value(value, self.max_value_bytes, self.preview_bytes);
    }

    /// Redacts and size-limits a node payload, returning it as JSON text.
    ///
    /// Text that fits and certainly holds no secret ([`Redactor::might_match`]) is kept as
    /// it is, without being parsed into a tree: the recording hot path.
    pub fn clean_payload(&self, payload: Payload) -> Json {
        let mut value = match payload {
            Payload::Text(text) => {
                if text.len() <= self.max_value_bytes && !self.redactor.might_match(&text) {
                    if let Ok(raw) = serde_json::value::RawValue::from_string(text.clone()) {
                        return Json::from_raw(raw);
                    }
                }
                match serde_json::from_str(&text) {
                    Ok(value) => value,
                    Err(_) => Value::String(text),
                }
            }
            Payload::Value(value) => value,
            Payload::Raw(raw) => {
                let text = raw.get();
                if text.len() <= self.max_value_bytes && !self.redactor.might_match(text) {
                    return Json::from_raw(raw);
                }
                serde_json::from_str(text).unwrap_or(Value::Null)
            }
        };
        self.redactor.redact(&mut value);
        truncate_value(&mut value, self.max_value_bytes, self.preview_bytes);
        Json::from_value(&value)
    }

    fn clean_json(&self, json: &mut Json) {
        if !json.is_null() {
            *json = self.clean_payload(Payload::Text(json.text().to_owned()));
        }
    }

    /// Cleans every payload of an execution (trigger data, metadata, node inputs and
    /// outputs: redacted and size-limited) and masks secrets in its texts (error messages
    /// and stacks, the query text).
    pub fn clean_execution(&self, e: &mut Execution) {
        if let Some(trigger) = e.trigger.as_mut() {
            self.clean_value(&mut trigger.data);
        }
        for (_, value) in e.metadata.values_mut() {
            self.clean_value(value);
        }
        for node in &mut e.nodes {
            self.clean_json(&mut node.input);
            self.clean_json(&mut node.output);
        }
        mask_texts(&self.redactor, e);
    }

    /// Masks secrets in an error's message and stack, then cuts them to `maxValueBytes`
    /// and its type to a label (masking first, so a cut never leaves part of a secret).
    pub fn clean_error(&self, error: &mut ErrorInfo) {
        self.redactor.mask_in_place(&mut error.message);
        if let Some(stack) = error.stack.as_mut() {
            self.redactor.mask_in_place(stack);
        }
        limit_error(error, self.max_value_bytes);
    }

    /// Cleans and validates a whole execution.
    pub fn admit(&self, e: &mut Execution) -> Result<(), ValidationError> {
        self.clean_execution(e);
        limits::limit_execution(e, self.max_value_bytes)?;
        validate_execution(e, self.max_node_runs)
    }
}

/// Masks secrets in the free texts of `e`: error messages and stacks (the execution's and
/// every node's) and the query text.
fn mask_texts(redactor: &Redactor, e: &mut Execution) {
    let errors = e
        .error
        .iter_mut()
        .chain(e.nodes.iter_mut().filter_map(|n| n.error.as_mut()));
    for error in errors {
        redactor.mask_in_place(&mut error.message);
        if let Some(stack) = error.stack.as_mut() {
            redactor.mask_in_place(stack);
        }
    }
    if let Some(text) = e.query.as_mut().and_then(|q| q.text.as_mut()) {
        redactor.mask_in_place(text);
    }
}

/// Redacts a whole execution with `redactor`, without size limits: what an ingest server
/// applies to every record it receives (clients redact too, but a server must not rely on
/// every client being configured, or honest).
pub fn redact_execution(redactor: &Redactor, e: &mut Execution) {
    if let Some(trigger) = e.trigger.as_mut() {
        redactor.redact(&mut trigger.data);
    }
    for (_, value) in e.metadata.values_mut() {
        redactor.redact(value);
    }
    for node in &mut e.nodes {
        for json in [&mut node.input, &mut node.output] {
            if !json.is_null() && redactor.might_match(json.text()) {
                let mut value = json.to_value();
                if redactor.redact(&mut value) > 0 {
                    *json = Json::from_value(&value);
                }
            }
        }
    }
    mask_texts(redactor, e);
}

/// [`redact_execution`] with the default rules (built once: a server calls this for every
/// record it receives, and building the rules allocates each key fragment).
pub fn redact_with_defaults(e: &mut Execution) {
    static DEFAULT: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();
    redact_execution(DEFAULT.get_or_init(Redactor::default), e);
}

/// A payload value (node input or output) on its way in.
#[derive(Clone, Debug)]
pub enum Payload {
    /// JSON text (from `JSON.stringify`): parsed only if it may need redaction or is too big.
    Text(String),
    /// An already parsed value.
    Value(Value),
    /// JSON text already checked by a parser (a payload of a journal batch, src/batch.rs):
    /// kept as it is, without a second parse, unless it may need redaction or is too big.
    Raw(Box<serde_json::value::RawValue>),
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Payload::Text(a), Payload::Text(b)) => a == b,
            (Payload::Value(a), Payload::Value(b)) => a == b,
            (Payload::Raw(a), Payload::Raw(b)) => a.get() == b.get(),
            _ => false,
        }
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload::Value(Value::Null)
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Payload::Value(value)
    }
}

/// Decodes `T` from JSON text, naming the offending field on failure (found from serde's
/// position by [`json_path::locate`], so no serde internals reach the message).
pub fn decode_with<'de, T: serde::Deserialize<'de>>(
    what: &str,
    text: &'de str,
) -> Result<T, ValidationError> {
    serde_json::from_str(text).map_err(|err| decode_error(what, text, &err))
}

/// The error of [`decode_with`]: outside the generic function, so that the browser wasm
/// carries it once rather than once per decoded type.
#[inline(never)]
fn decode_error(what: &str, text: &str, err: &serde_json::Error) -> ValidationError {
    let located = json_path::locate(text.as_bytes(), err);
    let field = if located.path == "." {
        what.to_owned()
    } else {
        format!("{what}.{}", located.path)
    };
    strict::explain(&field, &located.message)
        .unwrap_or_else(|| ValidationError::invalid(field, located.message))
}

/// Keys `log()` accepts under other names (see [`Execution`]'s aliases).
/// Older names an execution's keys are still accepted under.
pub const EXECUTION_ALIASES: &[&str] = &["pipelineId", "pipelineName", "conversationId"];

/// Decodes an execution given to `log()` from its JSON text: like [`decode_with`], and a key
/// the record does not have is refused (the stored record type itself stays lenient).
pub fn decode_execution_input(what: &str, text: &str) -> Result<Execution, ValidationError> {
    check_top_level_keys(what, text, struct_fields::<Execution>(), EXECUTION_ALIASES)?;
    decode_with(what, text)
}

/// Decodes `T` from a JSON value, naming the offending field on failure: a value that does
/// not decode is decoded again from its text, where the error has a position to name.
pub fn decode_json<T: DeserializeOwned>(what: &str, value: Value) -> Result<T, ValidationError> {
    T::deserialize(&value).or_else(|err| {
        decode_with::<T>(what, &value.to_string())
            .and_then(|_| Err(ValidationError::invalid(what.to_owned(), err.to_string())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_text_is_kept_unless_something_was_hidden_or_cut() {
        let policy = IntakePolicy {
            max_value_bytes: 300,
            ..IntakePolicy::default()
        };
        let kept = policy.clean_payload(Payload::Text(r#"{"b":1,"a":2}"#.into()));
        assert_eq!(kept.text(), r#"{"b":1,"a":2}"#, "the caller's text is kept");
        let cleaned = policy.clean_payload(Payload::Text(r#"{"Token":"t","n":1}"#.into()));
        assert_eq!(cleaned, json!({"Token": REDACTED, "n": 1}));
        let big = serde_json::to_string(&json!({"blob": "x".repeat(400)})).unwrap();
        let cut = policy.clean_payload(Payload::Text(big));
        assert!(is_truncation_marker(&cut.to_value()));
        // A word that only looks secret in a value is parsed, checked and kept.
        let word = policy.clean_payload(Payload::Text(r#"{"note":"token bucket"}"#.into()));
        assert_eq!(word, json!({"note": "token bucket"}));
    }

    #[test]
    fn secrets_in_error_messages_stacks_and_query_text_are_masked() {
        let mut e: Execution = decode_json(
            "execution",
            json!({
                "id": "e", "kind": "query", "startedAt": 1_700_000_000_000i64,
                "query": {"text": "select 1 -- via jdbc:mysql://db/x?user=u&password=p4ss"},
                "error": {"message": "connect postgres://app:s3cret@db failed",
                          "stack": "Error: token=abc\n    at f (file:///a.js:1:2)"},
                "nodes": [{"id": "n", "startedAt": 1_700_000_000_000i64, "status": "error",
                           "error": {"message": "401 for Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"}}],
            }),
        )
        .unwrap();
        let mut server_side = e.clone();
        IntakePolicy::default().clean_execution(&mut e);
        redact_with_defaults(&mut server_side);
        for e in [e, server_side] {
            let error = e.error.as_ref().unwrap();
            assert_eq!(error.message, "connect postgres://app:[REDACTED]@db failed");
            assert_eq!(
                error.stack.as_deref(),
                Some("Error: token=[REDACTED]\n    at f (file:///a.js:1:2)")
            );
            assert_eq!(
                e.nodes[0].error.as_ref().unwrap().message,
                "401 for Bearer [REDACTED]"
            );
            assert_eq!(
                e.query.unwrap().text.as_deref(),
                Some("select 1 -- via jdbc:mysql://db/x?user=u&password=[REDACTED]")
            );
        }
    }

    #[test]
    fn decode_errors_carry_the_path() {
        let err = decode_json::<Execution>(
            "execution",
            json!({"id": "e", "startedAt": 1_700_000_000_000i64, "outputs": [{"name": "t", "rows": -1}]}),
        )
        .unwrap_err();
        assert_eq!(err.field(), "execution.outputs[0].rows");
        assert!(err.to_string().contains("invalid value"), "{err}");
    }

    #[test]
    fn admit_redacts_and_truncates_everywhere_but_the_query_text() {
        let mut e: Execution = decode_json(
            "execution",
            json!({
                "id": "e", "kind": "query", "startedAt": 1_700_000_000_000i64,
                "query": {"text": "select * from users where password = 'x'"},
                "trigger": {"type": "http", "data": {"token": "t"}},
                "metadata": {"connection": {"url": "postgres://u:pw@h/db", "password": "pw"}},
                "nodes": [{"id": "n", "startedAt": 1_700_000_000_000i64,
                           "input": {"apiKey": "k"}, "output": "x".repeat(100)}],
            }),
        )
        .unwrap();
        let policy = IntakePolicy {
            max_value_bytes: 80,
            ..IntakePolicy::default()
        };
        policy.admit(&mut e).unwrap();
        assert_eq!(e.trigger.as_ref().unwrap().data, json!({"token": REDACTED}));
        assert_eq!(
            e.metadata.connection,
            json!({"url": "postgres://u:[REDACTED]@h/db", "password": REDACTED})
        );
        assert_eq!(e.nodes[0].input, json!({"apiKey": REDACTED}));
        assert!(is_truncation_marker(&e.nodes[0].output.to_value()));
        assert_eq!(
            e.query.unwrap().text.as_deref(),
            Some("select * from users where password = 'x'")
        );
    }
}
