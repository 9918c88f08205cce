//! The log's framing: `[length u32 LE][crc32 u32 LE][payload]`, one frame per committed
//! change. A frame is whole and its checksum matches, or it is damaged. Reading skips a
//! damaged frame by looking for the next valid frame header (see [`scan`]), so one bad
//! frame costs that frame, not everything after it.

/// Bytes before each payload.
pub const HEADER: usize = 8;
/// Largest payload accepted when reading (a corrupt length must not allocate gigabytes).
pub const MAX_PAYLOAD: usize = 1 << 30;

/// How every payload this library writes begins: a record (`R` + an execution's JSON
/// object) or an op (a JSON object whose first key is `op`). Resynchronising after damage
/// only considers frames whose payload starts like this, so it checks the CRC of real
/// frame starts, not of every byte offset.
const PAYLOAD_STARTS: [&[u8]; 2] = [b"R{\"", b"{\"op\""];

/// CRC-32 (IEEE). `crc32fast` reads 16 bytes per step (SIMD where the target has it): the
/// index is checked whole on every open, tens of megabytes at 100,000 records.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// One frame around `payload`.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// A run of bytes that holds no valid frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Damage {
    /// Where it starts, from the start of the bytes scanned.
    pub start: usize,
    /// Where it ends (the next valid frame, or the end of the bytes).
    pub end: usize,
    /// What was wrong with the first frame in it.
    pub reason: String,
}

/// What reading a log found.
#[derive(Debug, PartialEq)]
pub struct Scan<'a> {
    /// Whole, checked payloads in order, each with the offset of its frame.
    pub frames: Vec<(usize, &'a [u8])>,
    /// Runs of damaged bytes skipped, in order. The last one may run to the end (a torn
    /// or corrupt tail).
    pub damaged: Vec<Damage>,
}

impl Scan<'_> {
    /// The payloads in order.
    pub fn payloads(&self) -> impl Iterator<Item = &[u8]> {
        self.frames.iter().map(|(_, p)| *p)
    }

    /// Bytes up to the end of the last good frame before any damage (all of them when
    /// nothing is damaged).
    pub fn valid_prefix(&self, total: usize) -> usize {
        self.damaged.first().map_or(total, |d| d.start)
    }
}

/// Why the frame at `at` is not a valid frame, if it is not.
fn check(bytes: &[u8], at: usize) -> Result<&[u8], String> {
    let rest = &bytes[at..];
    if rest.len() < HEADER {
        return Err(format!("a torn frame header at byte {at}"));
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    if len > MAX_PAYLOAD {
        return Err(format!("an impossible frame length {len} at byte {at}"));
    }
    if rest.len() < HEADER + len {
        return Err(format!(
            "a torn frame at byte {at} ({} of {len} bytes)",
            rest.len() - HEADER
        ));
    }
    let payload = &rest[HEADER..HEADER + len];
    if crc32(payload) != crc {
        return Err(format!("a checksum mismatch in the frame at byte {at}"));
    }
    Ok(payload)
}

/// The next offset after `from` where a valid frame of this library starts, if any.
fn resync(bytes: &[u8], from: usize) -> Option<usize> {
    let last = bytes.len().checked_sub(HEADER)?;
    (from..=last).find(|&at| {
        let after = &bytes[at + HEADER..];
        PAYLOAD_STARTS.iter().any(|start| after.starts_with(start)) && check(bytes, at).is_ok()
    })
}

/// Reads every valid frame. A damaged frame (torn, impossible length, checksum mismatch)
/// is skipped up to the next valid frame header, and reported in [`Scan::damaged`].
pub fn scan(bytes: &[u8]) -> Scan<'_> {
    let mut frames = Vec::new();
    let mut damaged = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match check(bytes, at) {
            Ok(payload) => {
                frames.push((at, payload));
                at += HEADER + payload.len();
            }
            Err(reason) => {
                let end = resync(bytes, at + 1).unwrap_or(bytes.len());
                damaged.push(Damage {
                    start: at,
                    end,
                    reason,
                });
                at = end;
            }
        }
    }
    Scan { frames, damaged }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: usize) -> Vec<u8> {
        encode(format!("R{{\"id\":\"e{n}\",\"pad\":\"{}\"}}", "x".repeat(n % 7)).as_bytes())
    }

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn whole_frames_read_back_and_a_damaged_tail_is_reported() {
        let mut log = record(1);
        log.extend(record(2));
        let whole = log.len();
        log.extend(record(3));
        assert_eq!(scan(&log).payloads().count(), 3);
        assert!(scan(&log).damaged.is_empty());
        // Torn: the last frame cut short.
        let torn = scan(&log[..log.len() - 2]);
        assert_eq!(torn.frames.len(), 2);
        assert_eq!(torn.valid_prefix(log.len() - 2), whole);
        assert!(torn.damaged[0].reason.contains("torn"));
        // A flipped byte inside the last payload.
        let mut flipped = log.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        let s = scan(&flipped);
        assert_eq!((s.frames.len(), s.valid_prefix(flipped.len())), (2, whole));
        assert!(s.damaged[0].reason.contains("checksum"));
        // Garbage from the start.
        let g = scan(b"this is not a runledger log at all");
        assert_eq!((g.frames.len(), g.valid_prefix(34)), (0, 0));
        assert_eq!(g.damaged.len(), 1);
    }

    #[test]
    fn a_damaged_frame_in_the_middle_costs_only_that_frame() {
        let frames: Vec<Vec<u8>> = (0..100).map(record).collect();
        let starts: Vec<usize> = frames
            .iter()
            .scan(0, |at, f| {
                let start = *at;
                *at += f.len();
                Some(start)
            })
            .collect();
        let log: Vec<u8> = frames.concat();
        // A flipped byte in the payload, in the length and in the checksum of frame 10.
        for offset in [12, 0, 5] {
            let mut bad = log.clone();
            bad[starts[10] + offset] ^= 0x5a;
            let s = scan(&bad);
            assert_eq!(s.frames.len(), 99, "flip at +{offset}");
            assert!(s.frames.iter().all(|(at, _)| *at != starts[10]));
            assert_eq!(
                s.damaged,
                [Damage {
                    start: starts[10],
                    end: starts[11],
                    reason: s.damaged[0].reason.clone(),
                }]
            );
        }
        // Garbage inserted between two frames is skipped too.
        let mut inserted = log[..starts[50]].to_vec();
        inserted.extend_from_slice(b"\x00\x01garbage R{\" not a frame");
        inserted.extend_from_slice(&log[starts[50]..]);
        let s = scan(&inserted);
        assert_eq!((s.frames.len(), s.damaged.len()), (100, 1));
    }
}
