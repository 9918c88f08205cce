//! Everything a record goes through on the way in: decoding, redaction, payload limits and
//! validation. Pure logic, shared by every store and binding.

mod redact;
mod truncate;
mod validate;

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use redact::{mask_url_password, Redactor, DEFAULT_SECRET_KEYS, REDACTED};
pub use truncate::{
    is_truncation_marker, truncate_value, DEFAULT_MAX_VALUE_BYTES, DEFAULT_PREVIEW_BYTES,
    TRUNCATED_KEY,
};
pub use validate::{
    validate_execution, validate_id, validate_output, validate_timestamp, DEFAULT_MAX_NODE_RUNS,
    MAX_ID_LEN,
};

use crate::error::ValidationError;
use crate::model::Execution;

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

    /// Like [`Self::clean_value`] for a payload whose JSON length is already known (it
    /// arrived as JSON text): when nothing was redacted and it fits, it is not serialized
    /// again to be measured. This is the recording hot path.
    pub fn clean_payload(&self, payload: Payload) -> Value {
        let Payload {
            mut value,
            json_len,
        } = payload;
        let hidden = self.redactor.redact(&mut value);
        let fits = json_len.is_some_and(|len| len <= self.max_value_bytes);
        if hidden > 0 || !fits {
            truncate_value(&mut value, self.max_value_bytes, self.preview_bytes);
        }
        value
    }

    /// Cleans every payload of an execution: trigger data, metadata, node inputs and outputs.
    /// The query text is kept as it is.
    pub fn clean_execution(&self, e: &mut Execution) {
        if let Some(trigger) = e.trigger.as_mut() {
            self.clean_value(&mut trigger.data);
        }
        for (_, value) in e.metadata.values_mut() {
            self.clean_value(value);
        }
        for node in &mut e.nodes {
            self.clean_value(&mut node.input);
            self.clean_value(&mut node.output);
        }
    }

    /// Cleans and validates a whole execution.
    pub fn admit(&self, e: &mut Execution) -> Result<(), ValidationError> {
        self.clean_execution(e);
        validate_execution(e, self.max_node_runs)
    }
}

/// A payload value (node input or output) on its way in, with its JSON length when known.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Payload {
    /// The value.
    pub value: Value,
    /// Length of its JSON text, if it arrived as text.
    pub json_len: Option<usize>,
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Payload {
            value,
            json_len: None,
        }
    }
}

/// Decodes `T` from any serde deserializer, naming the offending field on failure.
pub fn decode_with<'de, D, T>(what: &str, deserializer: D) -> Result<T, ValidationError>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            what.to_owned()
        } else {
            format!("{what}.{path}")
        };
        ValidationError::invalid(field, err.into_inner().to_string())
    })
}

/// Decodes `T` from a JSON value, naming the offending field on failure.
pub fn decode_json<T: DeserializeOwned>(what: &str, value: Value) -> Result<T, ValidationError> {
    decode_with(what, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_length_payloads_are_still_redacted_and_truncated() {
        let policy = IntakePolicy {
            max_value_bytes: 300,
            ..IntakePolicy::default()
        };
        let small = policy.clean_payload(Payload {
            value: json!({"a": 1}),
            json_len: Some(7),
        });
        assert_eq!(small, json!({"a": 1}));
        let secret = policy.clean_payload(Payload {
            value: json!({"token": "t"}),
            json_len: Some(13),
        });
        assert_eq!(secret, json!({"token": REDACTED}));
        let big = json!({"blob": "x".repeat(400)});
        let len = serde_json::to_string(&big).unwrap().len();
        assert!(is_truncation_marker(&policy.clean_payload(Payload {
            value: big,
            json_len: Some(len)
        })));
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
        assert!(is_truncation_marker(&e.nodes[0].output));
        assert_eq!(
            e.query.unwrap().text.as_deref(),
            Some("select * from users where password = 'x'")
        );
    }
}
