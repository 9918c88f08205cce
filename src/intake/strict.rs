//! Strict input: a key the API does not know is refused with its path and a did-you-mean,
//! never dropped. The input types deny unknown fields through serde; this module turns
//! serde's message into one that helps, and checks the top level of [`Execution`] input
//! (the stored record type stays lenient so that records read back never fail on a key).
//!
//! [`Execution`]: crate::model::Execution

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, Visitor};

use crate::error::ValidationError;

/// Keys that belong somewhere else, by the normalized key (see [`normalize`]): the hint
/// names where they go.
const RELOCATED: &[(&str, &str)] = &[
    ("databasetype", "query.databaseType"),
    ("text", "query.text"),
    ("complexity", "query.complexity"),
    ("totalrows", "query.totalRows"),
    ("returnedrows", "query.returnedRows"),
    ("page", "query.page"),
    ("pagesize", "query.pageSize"),
    ("nodeexecutions", "nodes"),
    ("noderuns", "nodes"),
    ("steps", "nodes"),
    (
        "executiontime",
        "durationMs (milliseconds; `executionTime` in seconds is logQuery's)",
    ),
    ("connection", "metadata.connection"),
    ("request", "metadata.request"),
    ("response", "metadata.response"),
];

/// Lower case without `_` and `-`: `workflow_ID`, `workflowId` and `workflow-id` agree.
fn normalize(key: &str) -> String {
    let kept: String = key.chars().filter(|c| *c != '_' && *c != '-').collect();
    super::fold::lower_case(&kept)
}

/// Edits from `a` to `b`, a swap of two neighbours counting as one (optimal string
/// alignment): `nmae` is one edit from `name`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The known key closest to `unknown`, if one is close enough to be a likely typo; else
/// where a key of that name belongs, if it belongs elsewhere.
pub fn did_you_mean(unknown: &str, known: &[&str]) -> Option<String> {
    let wanted = normalize(unknown);
    // Keys are short; an unknown key of megabytes is not worth comparing.
    if wanted.len() > 64 {
        return None;
    }
    let best = known
        .iter()
        .map(|k| (edit_distance(&wanted, &normalize(k)), *k))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, k)| *d <= (k.len() / 3).max(1));
    if let Some((_, k)) = best {
        return Some(k.to_owned());
    }
    RELOCATED
        .iter()
        .find(|(key, _)| *key == wanted)
        .map(|(_, hint)| (*hint).to_owned())
        // Only where the place it belongs exists (`query.…` where there is a `query`).
        .filter(|hint| {
            let head = hint.split(['.', ' ']).next().unwrap_or_default();
            known.contains(&head)
        })
}

/// The refusal of an unknown key: its path, the key and a did-you-mean.
pub fn unknown_key(parent: &str, key: &str, known: &[&str]) -> ValidationError {
    let shown: String = key.chars().take(64).collect();
    unknown_key_at(format!("{parent}.{shown}"), key, known)
}

fn unknown_key_at(path: String, key: &str, known: &[&str]) -> ValidationError {
    let shown: String = key.chars().take(64).collect();
    let mut reason = format!("unknown field `{shown}`");
    if let Some(hint) = did_you_mean(key, known) {
        reason.push_str(&format!("; did you mean `{hint}`?"));
    }
    if !known.is_empty() {
        reason.push_str(&format!(" (known keys: {})", known.join(", ")));
    }
    ValidationError::invalid(path, reason)
}

/// Rewrites serde's "unknown field `k`, expected one of `a`, `b`" at `field` (the path to
/// the key, as [`super::json_path::locate`] finds it) into [`unknown_key`]; any other error
/// is kept.
pub fn explain(field: &str, message: &str) -> Option<ValidationError> {
    let rest = message.strip_prefix("unknown field `")?;
    let end = rest.find('`')?;
    let key = &rest[..end];
    let known: Vec<&str> = rest[end + 1..].split('`').skip(1).step_by(2).collect();
    Some(unknown_key_at(field.to_owned(), key, &known))
}

/// The field names a struct deserializes (serde's list), read without any input.
pub fn struct_fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Catch(&'static [&'static str]);
    #[derive(Debug)]
    struct Caught;
    impl std::fmt::Display for Caught {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("caught")
        }
    }
    impl std::error::Error for Caught {}
    impl de::Error for Caught {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Caught
        }
    }
    impl<'de> Deserializer<'de> for &mut Catch {
        type Error = Caught;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Caught> {
            Err(Caught)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Caught> {
            self.0 = fields;
            Err(Caught)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut catch = Catch(&[]);
    let _ = T::deserialize(&mut catch);
    catch.0
}

/// Checks the top-level keys of the JSON object `text` against `known` (plus `aliases`).
pub fn check_top_level_keys(
    what: &str,
    text: &str,
    known: &[&str],
    aliases: &[&str],
) -> Result<(), ValidationError> {
    let Ok(keys) = serde_json::from_str::<std::collections::HashMap<String, IgnoredAny>>(text)
    else {
        // Not an object: decoding reports what it is instead.
        return Ok(());
    };
    // The first unknown key in sort order (the same one whatever the hash order): `min`,
    // not a sort, which would add a sort instantiation to the wasm.
    let unknown = keys
        .keys()
        .filter(|k| !known.contains(&k.as_str()) && !aliases.contains(&k.as_str()))
        .min();
    match unknown {
        Some(key) => Err(unknown_key(what, key, known)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_key_or_where_it_belongs() {
        let known = ["id", "workflowId", "workflowName", "query", "nodes"];
        assert_eq!(
            did_you_mean("workflowID", &known).as_deref(),
            Some("workflowId")
        );
        assert_eq!(
            did_you_mean("workflow_id", &known).as_deref(),
            Some("workflowId")
        );
        assert_eq!(
            did_you_mean("worklowName", &known).as_deref(),
            Some("workflowName")
        );
        assert_eq!(
            did_you_mean("databaseType", &known).as_deref(),
            Some("query.databaseType")
        );
        assert_eq!(
            did_you_mean("nodeExecutions", &known).as_deref(),
            Some("nodes")
        );
        assert_eq!(did_you_mean("zzzzzzzz", &known), None);
        assert_eq!(
            did_you_mean("nmae", &["id", "name"]).as_deref(),
            Some("name")
        );
    }

    #[test]
    fn serde_messages_become_a_path_a_key_and_a_hint() {
        let err = explain(
            "spec.workflowID",
            "unknown field `workflowID`, expected one of `id`, `workflowId`",
        )
        .unwrap();
        assert_eq!(err.field(), "spec.workflowID");
        assert!(
            err.to_string().contains("did you mean `workflowId`?"),
            "{err}"
        );
        assert!(explain("spec", "invalid type: map").is_none());
    }

    #[test]
    fn reads_a_structs_field_names() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Two {
            a: u8,
            #[serde(rename = "bee")]
            b: u8,
        }
        assert_eq!(struct_fields::<Two>(), &["a", "bee"]);
    }
}
