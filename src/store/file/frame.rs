//! The log's framing: `[length u32 LE][crc32 u32 LE][payload]`, one frame per committed
//! change. A frame is whole and its checksum matches, or it and everything after it is a torn
//! or corrupt tail.

/// Bytes before each payload.
pub const HEADER: usize = 8;
/// Largest payload accepted when reading (a corrupt length must not allocate gigabytes).
pub const MAX_PAYLOAD: usize = 1 << 30;

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

/// What reading a log found.
#[derive(Debug, PartialEq)]
pub struct Scan<'a> {
    /// Whole, checked payloads in order.
    pub payloads: Vec<&'a [u8]>,
    /// Bytes up to the end of the last good frame.
    pub valid_len: usize,
    /// Why reading stopped early, when it did.
    pub damage: Option<String>,
}

/// Reads frames until the end or the first torn or corrupt one.
pub fn scan(bytes: &[u8]) -> Scan<'_> {
    let mut payloads = Vec::new();
    let mut at = 0;
    let damage = loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            break None;
        }
        if rest.len() < HEADER {
            break Some(format!("a torn frame header at byte {at}"));
        }
        let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        if len > MAX_PAYLOAD {
            break Some(format!("an impossible frame length {len} at byte {at}"));
        }
        if rest.len() < HEADER + len {
            break Some(format!(
                "a torn frame at byte {at} ({} of {len} bytes)",
                rest.len() - HEADER
            ));
        }
        let payload = &rest[HEADER..HEADER + len];
        if crc32(payload) != crc {
            break Some(format!("a checksum mismatch in the frame at byte {at}"));
        }
        payloads.push(payload);
        at += HEADER + len;
    };
    Scan {
        payloads,
        valid_len: at,
        damage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn whole_frames_read_back_and_damage_stops_the_scan() {
        let mut log = encode(b"one");
        log.extend(encode(b"two"));
        let whole = log.len();
        log.extend(encode(b"three"));
        assert_eq!(scan(&log).payloads, [&b"one"[..], b"two", b"three"]);
        // Torn: the last frame cut short.
        let torn = scan(&log[..log.len() - 2]);
        assert_eq!((torn.payloads.len(), torn.valid_len), (2, whole));
        assert!(torn.damage.unwrap().contains("torn"));
        // A flipped byte inside the last payload.
        let mut flipped = log.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        let s = scan(&flipped);
        assert_eq!(s.valid_len, whole);
        assert!(s.damage.unwrap().contains("checksum"));
        // Garbage from the start.
        let g = scan(b"this is not a runledger log at all");
        assert_eq!((g.payloads.len(), g.valid_len), (0, 0));
        assert!(g.damage.is_some());
    }
}
