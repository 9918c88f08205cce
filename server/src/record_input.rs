//! A record as a client sends it to `/v1/ingest`: an [`Execution`] whose top-level keys must
//! be known. The stored type stays lenient (rows read back never fail on a key), so the
//! strictness is a wrapper around its own derived decoder: the key check happens as serde
//! reads each key, in the one pass that decodes the record. A key the record does not have
//! fails there, at its position, with serde's "unknown field" message, which
//! `runledger::intake::explain` turns into a path and a did-you-mean.

use std::fmt;
use std::marker::PhantomData;

use runledger::intake::EXECUTION_ALIASES;
use runledger::Execution;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// An execution decoded with its top-level keys checked.
pub struct RecordInput(pub Execution);

impl<'de> Deserialize<'de> for RecordInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Execution::deserialize(KnownKeys(deserializer)).map(RecordInput)
    }
}

/// A deserializer that checks the keys of the struct read from it against its field list.
struct KnownKeys<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KnownKeys<D> {
    type Error = D::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(
            name,
            fields,
            CheckedStruct {
                inner: visitor,
                fields,
            },
        )
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

/// The struct's visitor, handed its entries through [`CheckedMap`].
struct CheckedStruct<V> {
    inner: V,
    fields: &'static [&'static str],
}

impl<'de, V: Visitor<'de>> Visitor<'de> for CheckedStruct<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(CheckedMap {
            map,
            fields: self.fields,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(seq)
    }
}

/// The field visitor of one key: a name the struct does not know is refused.
struct CheckedName<V> {
    inner: V,
    fields: &'static [&'static str],
}

impl<V> CheckedName<V> {
    fn check<E: de::Error>(&self, key: &str) -> Result<(), E> {
        if self.fields.contains(&key) || EXECUTION_ALIASES.contains(&key) {
            Ok(())
        } else {
            Err(E::unknown_field(key, self.fields))
        }
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for CheckedName<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<V::Value, E> {
        self.check(key)?;
        self.inner.visit_str(key)
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<V::Value, E> {
        self.check(key)?;
        self.inner.visit_borrowed_str(key)
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<V::Value, E> {
        self.check(&key)?;
        self.inner.visit_string(key)
    }
}

/// The struct's entries, each key read through [`CheckedKey`].
struct CheckedMap<A> {
    map: A,
    fields: &'static [&'static str],
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for CheckedMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.map.next_key_seed(CheckedKey {
            seed,
            fields: self.fields,
        })
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// The seed of one key: hands the struct's field seed a deserializer that checks the name.
struct CheckedKey<K> {
    seed: K,
    fields: &'static [&'static str],
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for CheckedKey<K> {
    type Value = K::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<K::Value, D::Error> {
        self.seed.deserialize(KeyName {
            inner: deserializer,
            fields: self.fields,
            marker: PhantomData,
        })
    }
}

/// The deserializer of one key: its name goes through [`CheckedName`] before the field visitor.
struct KeyName<'de, D> {
    inner: D,
    fields: &'static [&'static str],
    marker: PhantomData<&'de ()>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyName<'de, D> {
    type Error = D::Error;

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_identifier(CheckedName {
            inner: visitor,
            fields: self.fields,
        })
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct
        enum ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Result<Execution, String> {
        serde_json::from_str::<RecordInput>(text)
            .map(|r| r.0)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_known_record_decodes_as_the_lenient_type_would() {
        let text = r#"{"id":"a","status":"success","startedAt":1,"pipelineId":"p","nodes":[{"id":"n","status":"success","startedAt":1}]}"#;
        let strict = decode(text).unwrap();
        let lenient: Execution = serde_json::from_str(text).unwrap();
        assert_eq!(strict, lenient);
        assert_eq!(
            strict.workflow_id.as_deref(),
            Some("p"),
            "aliases are known"
        );
    }

    #[test]
    fn an_unknown_top_level_key_is_refused_by_name() {
        let err = decode(r#"{"id":"a","startedAt":1,"nodeExecutions":[]}"#).unwrap_err();
        assert!(err.starts_with("unknown field `nodeExecutions`"), "{err}");
        assert!(err.contains("`nodes`"), "the known keys are listed: {err}");
    }
}
