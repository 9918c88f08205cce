//! Retry policy: exponential backoff with full jitter.

/// Default first delay.
pub const DEFAULT_BASE_MS: f64 = 250.0;
/// Default longest delay.
pub const DEFAULT_CAP_MS: f64 = 30_000.0;

/// Exponential backoff with full jitter: attempt `n` waits a uniformly random time in
/// `[0, min(cap, base * 2^n))`, so that many clients retrying at once spread out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// The first attempt's upper bound, in milliseconds.
    pub base_ms: f64,
    /// The largest upper bound, in milliseconds.
    pub cap_ms: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_ms: DEFAULT_BASE_MS,
            cap_ms: DEFAULT_CAP_MS,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based), given `random` in `[0, 1)`.
    pub fn delay_ms(&self, attempt: u32, random: f64) -> f64 {
        let ceiling = (self.base_ms * 2f64.powi(attempt.min(52) as i32)).min(self.cap_ms);
        ceiling * random.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_and_jitters_over_the_whole_range() {
        let b = Backoff {
            base_ms: 100.0,
            cap_ms: 1_000.0,
        };
        assert_eq!(b.delay_ms(0, 0.999_999).round(), 100.0);
        assert_eq!(b.delay_ms(3, 0.5), 400.0);
        assert_eq!(b.delay_ms(60, 0.999_999).round(), 1_000.0);
        assert_eq!(b.delay_ms(5, 0.0), 0.0);
    }
}
