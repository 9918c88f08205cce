//! Decoding a receiver's body: one JSON object of a known shape, nothing after it, unknown
//! keys refused with their path and a did-you-mean, and messages without parser internals
//! (no "line 1 column 35": the path says where).

use runledger::intake::did_you_mean;
use runledger::intake::json_path::locate;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Decodes `bytes` as one `T`; `what` names it in messages (`execution`).
pub fn decode_body<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, AppError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(&mut deserializer).map_err(|e| {
        let at = locate(bytes, &e);
        let message = readable(&at.message);
        let field = if at.path == "." || at.path.is_empty() {
            what.to_owned()
        } else {
            format!("{what}.{}", at.path)
        };
        AppError::MalformedBody(format!("`{field}` is invalid: {message}"))
    })?;
    deserializer.end().map_err(|_| {
        AppError::MalformedBody(format!(
            "the body has more after the {what}'s JSON object; send exactly one"
        ))
    })?;
    Ok(value)
}

/// serde's message without its position, and for an unknown key, with a did-you-mean.
fn readable(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(at) => &message[..at],
        None => message,
    };
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_owned();
    };
    let Some(end) = rest.find('`') else {
        return message.to_owned();
    };
    let key = &rest[..end];
    let known: Vec<&str> = rest[end + 1..].split('`').skip(1).step_by(2).collect();
    let shown: String = key.chars().take(64).collect();
    let mut text = format!("unknown field `{shown}`");
    if let Some(hint) = did_you_mean(key, &known) {
        text.push_str(&format!("; did you mean `{hint}`?"));
    }
    if !known.is_empty() {
        text.push_str(&format!(" (known keys: {})", known.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        workflow_id: String,
        #[serde(default)]
        nodes: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        id: u32,
    }

    fn error(body: &str) -> String {
        decode_body::<Shape>("execution", body.as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_keys_are_named_with_their_path_and_a_hint() {
        let message = error(r#"{"workflowID":"w"}"#);
        assert!(message.contains("unknown field `workflowID`"), "{message}");
        assert!(message.contains("did you mean `workflowId`"), "{message}");
        let message = error(r#"{"workflowId":"w","nodes":[{"id":1,"x":2}]}"#);
        assert!(message.contains("`execution.nodes[0].x`"), "{message}");
    }

    #[test]
    fn messages_carry_no_parser_position() {
        for body in [r#"{"workflowId":5}"#, r#"{"workflowId":"w""#, "{}", "[]"] {
            let message = error(body);
            assert!(!message.contains("line 1"), "{message}");
            assert!(!message.contains("column"), "{message}");
        }
        assert!(error(r#"{"workflowId":"w"} x"#).contains("more after"));
    }
}
