//! The ingest decoder: an inflated request body to a batch, or a `400` that says where it is
//! wrong. Nothing may follow the batch's JSON value but whitespace. The body is parsed once:
//! records are read as [`RecordInput`], which refuses a key the record does not have (a
//! `nodeExecutions` is a 400 that says where it belongs, never dropped).

use runledger::intake::json_path::locate;
use runledger::intake::{explain, validate_id};
use runledger::sync::{ClientInfo, IngestRequest};
use serde::Deserialize;

use crate::error::AppError;
use crate::record_input::RecordInput;

/// `POST /v1/ingest`'s body as it arrives.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchInput {
    batch_id: String,
    client: ClientInfo,
    records: Vec<RecordInput>,
}

/// Parses an ingest body.
pub fn parse_batch(bytes: &[u8]) -> Result<IngestRequest, AppError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    // The path is found from serde's position (`locate`), and the message carries no
    // "line 1 column 35".
    let batch = BatchInput::deserialize(&mut deserializer).map_err(|e| {
        let at = locate(bytes, &e);
        if at.path == "." {
            AppError::MalformedBody(format!(
                "the body is not a valid ingest batch: {}",
                at.message
            ))
        } else if let Some(unknown) = explain(&at.path, &at.message) {
            AppError::MalformedBody(unknown.to_string())
        } else {
            AppError::MalformedBody(format!("`{}` is invalid: {}", at.path, at.message))
        }
    })?;
    deserializer.end().map_err(|e| {
        AppError::MalformedBody(format!(
            "the body has more after the batch's JSON value: {}",
            locate(bytes, &e).message
        ))
    })?;
    // The batch id is stored as it is: every engine must be able to hold it (PostgreSQL
    // refuses NUL), or the batch would fail with 503 on every retry.
    if !batch.batch_id.trim().is_empty() {
        validate_id("batch_id", &batch.batch_id)
            .map_err(|e| AppError::MalformedBody(e.to_string()))?;
    }
    Ok(IngestRequest {
        batch_id: batch.batch_id,
        client: batch.client,
        records: batch.records.into_iter().map(|r| r.0).collect(),
    })
}

/// A seeded property test ("fuzz") of the decoder and the timestamp parser: mutated valid
/// bodies and random bytes never panic, and every batch that decodes validates without
/// panicking too. `cargo test` runs a short budget; for a long run:
///
/// ```text
/// RUNLEDGER_FUZZ_CASES=2000000 RUNLEDGER_FUZZ_SEED=7 cargo test --release -p runledger-server fuzz
/// ```
#[cfg(test)]
mod fuzz {
    use super::*;
    use runledger::intake::{validate_execution, DEFAULT_MAX_NODE_RUNS};
    use runledger::model::time::{parse_rfc3339, MAX_MILLIS, MIN_MILLIS};

    /// xorshift64*: tiny, seeded, reproducible.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    fn budget(default: usize) -> (usize, u64) {
        let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        (
            env("RUNLEDGER_FUZZ_CASES").map_or(default, |n: u64| n as usize),
            env("RUNLEDGER_FUZZ_SEED").unwrap_or(0x5EED_2026),
        )
    }

    const SEEDS: &[&str] = &[
        r#"{"batch_id":"b","client":{"id":"c","sdk":"s"},"records":[]}"#,
        r#"{"batch_id":"b","client":{"id":"c","sdk":"s"},"records":[{"id":"e","version":1,"status":"success","startedAt":"2026-11-01T10:00:00.5+05:30","completedAt":1793000000000,"durationMs":5,"query":{"databaseType":"pg","totalRows":18446744073709551615},"nodes":[{"id":"n","status":"success","startedAt":"2026-11-01T10:00:00Z","input":{"a":[1,2,{"b":null}]}}]}]}"#,
        r#"{"batch_id":"b","client":{"id":"c","sdk":"s"},"records":[{"id":"q","kind":"query","status":"failed","startedAt":1793000000000,"completedAt":"2026-11-01T10:00:00Z","durationMs":1e308,"outputs":[{"name":"t","rows":3,"role":"primary"}]}]}"#,
    ];

    /// Fragments that tend to find edge cases: multi-byte characters, escapes, huge numbers,
    /// timestamps near their limits, structure.
    const SPICE: &[&str] = &[
        "é",
        "\u{1F600}",
        "\\u0000",
        "\\ud800",
        "\"",
        "\\",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "1e308",
        "-0",
        "18446744073709551616",
        "9999-12-31T23:59:59.999Z",
        "2024-02-30T00:00:00Z",
        "+0é00",
        "0000-01-01T00:00:00-23:59",
        "null",
        "true",
        " ",
    ];

    fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
        let mut bytes = base.to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(5) {
                0 => bytes.truncate(at),
                1 if at < bytes.len() => bytes[at] = rng.next() as u8,
                2 => {
                    let spice = rng.pick(SPICE).as_bytes();
                    bytes.splice(at..at, spice.iter().copied());
                }
                3 if at < bytes.len() => {
                    let end = (at + rng.below(8)).min(bytes.len());
                    bytes.drain(at..end);
                }
                _ => bytes.extend_from_slice(rng.pick(SPICE).as_bytes()),
            }
        }
        bytes
    }

    #[test]
    fn the_decoder_never_panics_and_what_decodes_validates() {
        let (cases, seed) = budget(20_000);
        let mut rng = Rng(seed | 1);
        let mut decoded = 0;
        for _ in 0..cases {
            let base = *rng.pick(SEEDS);
            let body = mutate(&mut rng, base.as_bytes());
            if let Ok(batch) = parse_batch(&body) {
                decoded += 1;
                for record in &batch.records {
                    let _ = validate_execution(record, DEFAULT_MAX_NODE_RUNS);
                    let _ = runledger::stats::changes(None, Some(record));
                }
            }
        }
        assert!(decoded > 0, "the mutations keep some bodies valid");
    }

    #[test]
    fn trailing_bytes_after_the_batch_are_refused() {
        let ok = SEEDS[0];
        assert!(parse_batch(ok.as_bytes()).is_ok());
        assert!(parse_batch(format!("{ok} \n").as_bytes()).is_ok());
        for tail in ["x", "{}", ",", "\0"] {
            let err = parse_batch(format!("{ok}{tail}").as_bytes()).unwrap_err();
            assert!(err.to_string().contains("more after"), "{tail:?}: {err}");
        }
    }

    #[test]
    fn a_batch_id_no_engine_can_store_is_refused() {
        let body = SEEDS[0].replace(r#""batch_id":"b""#, r#""batch_id":"b\u0000""#);
        let err = parse_batch(body.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("`batch_id`"), "{err}");
    }

    #[test]
    fn the_timestamp_parser_never_panics_and_stays_in_range() {
        let (cases, seed) = budget(200_000);
        let mut rng = Rng(seed.rotate_left(17) | 1);
        const BASES: &[&str] = &[
            "2024-01-01T00:00:00+00:00",
            "2024-02-29T23:59:60.999999Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999-00:30",
        ];
        for _ in 0..cases {
            let base = *rng.pick(BASES);
            let bytes = mutate(&mut rng, base.as_bytes());
            // Only valid UTF-8 reaches the parser (it takes `&str`).
            let text = String::from_utf8_lossy(&bytes);
            if let Some(ms) = parse_rfc3339(&text) {
                assert!((MIN_MILLIS..=MAX_MILLIS).contains(&ms), "{text}: {ms}");
            }
        }
    }

    /// Valid timestamps parse to what an independent day count says.
    #[test]
    fn generated_timestamps_parse_exactly() {
        let (cases, seed) = budget(20_000);
        let mut rng = Rng(seed.rotate_left(33) | 1);
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for _ in 0..cases {
            let year = 1970 + rng.below(8000) as i64;
            let month = 1 + rng.below(12) as i64;
            let days = [
                31,
                if leap(year) { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            let day = 1 + rng.below(days[month as usize - 1]) as i64;
            let (h, m, s, ms) = (
                rng.below(24) as i64,
                rng.below(60) as i64,
                rng.below(60) as i64,
                rng.below(1000) as i64,
            );
            let text = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z");
            // Days since 1970 by whole years (with the leap days before `year`) and months.
            let leaps_before = |y: i64| (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400;
            let mut n = 365 * (year - 1970) + leaps_before(year) - leaps_before(1970);
            n += days[..month as usize - 1].iter().sum::<usize>() as i64 + day - 1;
            let expected = ((n * 24 + h) * 60 + m) * 60_000 + s * 1000 + ms;
            assert_eq!(parse_rfc3339(&text), Some(expected), "{text}");
        }
    }
}

/// The 400 messages name the field by its path and carry no serde position.
#[cfg(test)]
mod messages {
    use super::*;

    fn refused(body: &str) -> String {
        match parse_batch(body.as_bytes()) {
            Err(AppError::MalformedBody(message)) => message,
            other => panic!("{body}: expected a malformed body, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_field_is_named_by_its_path_without_line_and_column() {
        let message = refused(
            r#"{"batch_id": "b1", "client": {"id": "c", "sdk": "js"}, "records": [{"id": "a", "startedAt": "soon"}]}"#,
        );
        assert!(
            message.starts_with("`records[0].startedAt` is invalid: "),
            "{message}"
        );
        assert!(
            !message.contains("line") && !message.contains("column"),
            "{message}"
        );
    }

    #[test]
    fn a_body_that_is_no_batch_or_has_more_says_so_without_position() {
        let message = refused(r#""a batch""#);
        assert!(
            message.starts_with("the body is not a valid ingest batch: "),
            "{message}"
        );
        assert!(!message.contains("column"), "{message}");
        let message =
            refused(r#"{"batch_id": "b1", "client": {"id": "c", "sdk": "js"}, "records": []} x"#);
        assert!(message.starts_with("the body has more after"), "{message}");
        assert!(!message.contains("column"), "{message}");
    }

    #[test]
    fn an_unknown_record_key_is_named_with_where_it_belongs() {
        let message = refused(
            r#"{"batch_id": "b1", "client": {"id": "c", "sdk": "js"}, "records": [{"id": "a", "startedAt": 1}, {"id": "b", "startedAt": 1, "nodeExecutions": []}]}"#,
        );
        assert!(message.contains("records[1].nodeExecutions"), "{message}");
        assert!(message.contains("did you mean `nodes`"), "{message}");
        assert!(!message.contains("column"), "{message}");
    }

    #[test]
    fn an_unknown_batch_key_is_refused() {
        let message = refused(
            r#"{"batch_id": "b1", "client": {"id": "c", "sdk": "js"}, "records": [], "extra": 1}"#,
        );
        assert!(message.contains("extra"), "{message}");
    }
}
