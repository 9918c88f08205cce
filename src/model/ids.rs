//! UUIDv7 execution ids: they sort by creation time, and stay ordered within a millisecond.

use super::time::Millis;

/// Makes UUIDv7 ids from a clock reading and random bytes the caller supplies.
///
/// The randomness comes from outside (`crypto.getRandomValues` in JS, the OS natively) so that
/// this stays pure. Ids made by one generator strictly increase, even when the clock stalls or
/// steps back: the previous id's random part is counted up instead.
#[derive(Debug, Default)]
pub struct IdGenerator {
    last: Option<(u64, [u8; 10])>,
}

impl IdGenerator {
    /// A generator with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next id for `now`, using `random` unless the clock has not moved on.
    pub fn next(&mut self, now: Millis, random: [u8; 10]) -> String {
        let now = now.max(0) as u64;
        let (millis, bytes) = match self.last {
            Some((last_ms, mut last_bytes)) if now <= last_ms => {
                // Count up from the last id; byte 2's top bits become the variant, so stop there.
                for byte in last_bytes[3..].iter_mut().rev() {
                    let (next, carry) = byte.overflowing_add(1);
                    *byte = next;
                    if !carry {
                        break;
                    }
                }
                (last_ms, last_bytes)
            }
            _ => (now, random),
        };
        self.last = Some((millis, bytes));
        uuid::Builder::from_unix_timestamp_millis(millis, &bytes)
            .into_uuid()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_increase_within_one_millisecond() {
        let mut ids = IdGenerator::new();
        let a = ids.next(1_700_000_000_000, [9; 10]);
        let b = ids.next(1_700_000_000_000, [0; 10]);
        let c = ids.next(1_699_999_999_999, [0; 10]);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 7);
    }

    #[test]
    fn later_clock_sorts_later() {
        let mut ids = IdGenerator::new();
        let a = ids.next(1_000, [255; 10]);
        let b = ids.next(1_001, [0; 10]);
        assert!(a < b);
    }
}
