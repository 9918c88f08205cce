#![cfg(not(target_arch = "wasm32"))]
//! Seeded property tests over the decoders that read untrusted bytes: RFC 3339 timestamps,
//! execution records as JSON (stored and as `log()` input), payload text, log frames, and the
//! file store's binary index. The property everywhere: no panic, whatever the input; and what
//! is accepted is consistent (a record decodes to the value it re-encodes to, frames re-encode
//! to the bytes they were read from, a store opened over a damaged index answers like one
//! opened over its log).
//!
//! A fixed seed and a short budget run in `npm test` (`cargo test`). Longer runs:
//!   RUNLEDGER_FUZZ_SEED=7 RUNLEDGER_FUZZ_RUNS=200000 cargo test --release --test decoder_fuzz
//! A failure names the seed and the case: rerun with that seed to reproduce it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use futures::executor::block_on;
use runledger::history::HistoryQuery;
use runledger::intake::{decode_execution_input, IntakePolicy, Payload};
use runledger::model::time::{parse_rfc3339, MAX_MILLIS, MIN_MILLIS};
use runledger::model::{Execution, Json};
use runledger::store::file::{crc32, encode_frame, scan, FileStore, StdFileIo};
use runledger::store::suite::{sample, T0};
use runledger::store::Store;
use runledger::Status;

fn seed() -> u64 {
    std::env::var("RUNLEDGER_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x14)
}

fn runs(default: usize) -> usize {
    std::env::var("RUNLEDGER_FUZZ_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Runs `case` for each of `n` seeded cases; a panic names the seed and the case.
fn property(name: &str, n: usize, mut case: impl FnMut(&mut Rng, usize)) {
    let seed = seed();
    let mut rng = Rng::new(seed ^ name.len() as u64);
    for i in 0..n {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| case(&mut rng, i))) {
            eprintln!("{name}: failed at case {i} (RUNLEDGER_FUZZ_SEED={seed})");
            std::panic::resume_unwind(panic);
        }
    }
}

const PIECES: &[&str] = &[
    "é",
    "日",
    "🦀",
    "\u{0}",
    "\u{FFFD}",
    "+",
    "-",
    ":",
    "T",
    "Z",
    "z",
    " ",
    ".",
    "0",
    "9",
    "60",
    "24",
    "99",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "{",
    "}",
    "[",
    "]",
    ",",
    "null",
    "1e999",
    "-0",
    "18446744073709551616",
    "NaN",
    "true",
];

/// `text` with a few random edits: bytes replaced, removed or duplicated, pieces inserted. The
/// result is kept valid UTF-8 (decoders take `&str`) by editing at character boundaries.
fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut s = text.to_owned();
    for _ in 0..1 + rng.below(4) {
        let mut at = rng.below(s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        match rng.below(4) {
            0 => {
                let piece: &str = PIECES[rng.below(PIECES.len())];
                s.insert_str(at, piece);
            }
            1 => {
                let mut end = (at + 1 + rng.below(8)).min(s.len());
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.replace_range(at..end, "");
            }
            2 => {
                let mut end = (at + rng.below(16)).min(s.len());
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                let copy = s[at..end].to_owned();
                s.insert_str(at, &copy);
            }
            _ => s.truncate(at),
        }
    }
    s
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[test]
fn timestamps_parse_to_the_instant_they_name_and_nothing_else_panics() {
    property("timestamps", runs(20_000), |rng, _| {
        let y = rng.below(10_000) as i64;
        let m = 1 + rng.below(12) as i64;
        let d = 1 + rng.below(days_in_month(y, m) as usize) as i64;
        let (h, mi, s) = (
            rng.below(24) as i64,
            rng.below(60) as i64,
            rng.below(60) as i64,
        );
        let ms = rng.below(1000) as i64;
        let off = (rng.below(24 * 60 * 2) as i64 - 24 * 60).clamp(-(23 * 60 + 59), 23 * 60 + 59);
        let zone = if off == 0 && rng.below(2) == 0 {
            "Z".to_owned()
        } else {
            let sign = if off < 0 { '-' } else { '+' };
            format!("{sign}{:02}:{:02}", off.abs() / 60, off.abs() % 60)
        };
        let text = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}{zone}");
        let expected =
            ((days_from_civil(y, m, d) * 24 + h) * 60 + mi - off) * 60_000 + s * 1000 + ms;
        let parsed = parse_rfc3339(&text);
        if (MIN_MILLIS..=MAX_MILLIS).contains(&expected) {
            assert_eq!(parsed, Some(expected), "{text}");
        } else {
            assert_eq!(parsed, None, "{text} is outside years 0-9999");
        }
        // Any edit of it: no panic, and anything accepted is within the bounds.
        let edited = mutate(rng, &text);
        if let Some(at) = parse_rfc3339(&edited) {
            assert!((MIN_MILLIS..=MAX_MILLIS).contains(&at), "{edited:?} → {at}");
        }
        // Raw bytes made text (lossy): no panic either.
        let raw: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        let _ = parse_rfc3339(&String::from_utf8_lossy(&raw));
    });
}

fn records() -> Vec<String> {
    let mut full = sample("e1", "wf", T0, Status::Failed);
    full.tags = vec!["t".into()];
    let plain = sample("e2", "wf", T0, Status::Success);
    [full, plain]
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect()
}

#[test]
fn records_decode_or_refuse_without_panicking_and_round_trip_when_accepted() {
    let bases = records();
    let policy = IntakePolicy {
        max_value_bytes: 256,
        ..IntakePolicy::default()
    };
    property("records", runs(5_000), |rng, _| {
        let base = bases[rng.below(bases.len())].clone();
        let text = mutate(rng, &base);
        // As stored (lenient) …
        if let Ok(e) = serde_json::from_str::<Execution>(&text) {
            let again = serde_json::to_string(&e).unwrap();
            let back: Execution = serde_json::from_str(&again).unwrap();
            assert_eq!(back, e, "{text}");
            let _ = e.summary();
        }
        // … and as `log()` input (strict), then through the intake.
        if let Ok(mut e) = decode_execution_input("execution", &text) {
            if policy.admit(&mut e).is_ok() {
                let stored = serde_json::to_string(&e).unwrap();
                assert!(
                    serde_json::from_str::<Execution>(&stored).is_ok(),
                    "{stored}"
                );
            }
        }
        // Payload text: kept, parsed, redacted or cut, never a panic, always within bounds.
        let cleaned = policy.clean_payload(Payload::Text(text.clone()));
        assert!(
            cleaned.text().len() <= 256 * 7 + 256,
            "{}",
            cleaned.text().len()
        );
        let _ = Json::from_text(text);
    });
}

#[test]
fn frames_read_back_exactly_what_was_written_up_to_the_first_damage() {
    property("frames", runs(5_000), |rng, _| {
        let payloads: Vec<Vec<u8>> = (0..rng.below(6))
            .map(|_| (0..rng.below(64)).map(|_| rng.next() as u8).collect())
            .collect();
        let mut log: Vec<u8> = payloads.iter().flat_map(|p| encode_frame(p)).collect();
        let whole = scan(&log);
        assert_eq!(whole.damaged, Vec::new());
        assert_eq!(
            whole.payloads().collect::<Vec<_>>(),
            payloads.iter().map(Vec::as_slice).collect::<Vec<_>>()
        );
        // Damage: flipped bytes, a cut, garbage appended, huge lengths.
        for _ in 0..1 + rng.below(3) {
            match rng.below(4) {
                0 if !log.is_empty() => {
                    let at = rng.below(log.len());
                    log[at] ^= 1 << rng.below(8);
                }
                1 => log.truncate(rng.below(log.len() + 1)),
                2 => log.extend((0..rng.below(20)).map(|_| rng.next() as u8)),
                _ => log.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]),
            }
        }
        let read = scan(&log);
        let valid = read.valid_prefix(log.len());
        assert!(valid <= log.len());
        let again: Vec<u8> = read
            .frames
            .iter()
            .filter(|(at, _)| *at < valid)
            .flat_map(|(_, p)| encode_frame(p))
            .collect();
        assert_eq!(again.as_slice(), &log[..valid]);
        assert_eq!(read.damaged.is_empty(), valid == log.len());
        // Every frame read, before or after damage (resync), is really there.
        for (at, p) in &read.frames {
            let frame = encode_frame(p);
            assert_eq!(&log[*at..*at + frame.len()], frame.as_slice());
        }
    });
}

fn temp_dir(case: usize) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "runledger-decoder-fuzz-{}-{case}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Everything a store answers, to compare two opens of the same log.
fn answers(store: &FileStore<StdFileIo>) -> Vec<String> {
    let page = block_on(store.history(&HistoryQuery {
        limit: Some(1000),
        ..HistoryQuery::default()
    }))
    .map(|p| p.items.into_iter().map(|e| e.id).collect::<Vec<_>>());
    let mut out = vec![format!("{page:?}")];
    if let Ok(ids) = page {
        for id in ids {
            out.push(format!(
                "{:?}",
                block_on(store.get(&id)).map(|e| e.map(|e| e.version))
            ));
        }
    }
    out
}

#[test]
fn a_damaged_index_never_panics_and_a_checksummed_one_is_read_or_ignored() {
    // One store with a few records and its index, then many opens over edited copies of the
    // index. The index is pages of 4,096 bytes (4,092 of content, then their CRC-32): edits of
    // the content mostly come with fixed-up checksums, so that the decoder itself (not only
    // the checksums) meets them.
    let dir = temp_dir(0);
    let io = StdFileIo::new(&dir, "store").unwrap();
    let (index_path, log_path) = (io.index_path(), io.log_path());
    let (store, _) = FileStore::open(io).unwrap();
    let batch: Vec<Execution> = (0..6)
        .map(|i| {
            let status = if i % 2 == 0 {
                Status::Success
            } else {
                Status::Failed
            };
            sample(
                &format!("e{i}"),
                &format!("wf{}", i % 3),
                T0 + i * 1000,
                status,
            )
        })
        .collect();
    block_on(store.write(&batch)).unwrap();
    store.checkpoint().unwrap();
    drop(store);
    let index = std::fs::read(&index_path).unwrap();
    let log = std::fs::read(&log_path).unwrap();
    let reference = {
        let (store, _) = FileStore::open(StdFileIo::new(&dir, "store").unwrap()).unwrap();
        answers(&store)
    };
    assert!(reference[0].contains("e5"), "{reference:?}");
    property("index", runs(400), |rng, i| {
        let case_dir = temp_dir(i + 1);
        std::fs::create_dir_all(&case_dir).unwrap();
        let io = StdFileIo::new(&case_dir, "store").unwrap();
        let mut bytes: Vec<u8> = index
            .chunks(4096)
            .flat_map(|p| &p[..p.len() - 4])
            .copied()
            .collect();
        for _ in 0..1 + rng.below(3) {
            if bytes.len() <= 8 {
                break;
            }
            match rng.below(4) {
                0 => {
                    let at = 8 + rng.below(bytes.len() - 8);
                    bytes[at] = rng.next() as u8;
                }
                1 => bytes.truncate(8 + rng.below(bytes.len() - 8)),
                2 => {
                    let at = 8 + rng.below(bytes.len() - 8);
                    bytes[at..].rotate_left(1);
                }
                _ => {
                    let at = 8 + rng.below(bytes.len() - 8);
                    let len = rng.below(4).min(bytes.len() - at);
                    bytes[at..at + len].fill(0xff);
                }
            }
        }
        let checksummed = rng.below(4) != 0;
        let paged = |content: &[u8], fix: bool| -> Vec<u8> {
            let mut out = Vec::new();
            for (n, page) in content.chunks(4092).enumerate() {
                out.extend_from_slice(page);
                let crc = if fix {
                    crc32(page)
                } else {
                    // The checksum the original page had (wrong for an edited page).
                    let original = &index[(n * 4096).min(index.len())..];
                    let end = original.len().min(4096);
                    if end >= 4 {
                        u32::from_le_bytes(original[end - 4..end].try_into().unwrap())
                    } else {
                        0
                    }
                };
                out.extend_from_slice(&crc.to_le_bytes());
            }
            out
        };
        let edited = bytes.clone();
        let bytes = paged(&edited, checksummed);
        let original_content: Vec<u8> = index
            .chunks(4096)
            .flat_map(|p| &p[..p.len() - 4])
            .copied()
            .collect();
        std::fs::write(io.log_path(), &log).unwrap();
        std::fs::write(io.index_path(), &bytes).unwrap();
        // Opening may refuse the index (then the log is replayed) or take it; it must not
        // panic, and whatever it answers must not panic either.
        if let Ok((store, _)) = FileStore::open(io) {
            let got = answers(&store);
            let _ = block_on(store.running());
            let _ = block_on(store.cells(None, None));
            // An index whose checksums are wrong is never believed.
            if !checksummed && edited != original_content {
                assert_eq!(got, reference);
            }
        }
        let _ = std::fs::remove_dir_all(&case_dir);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
