//! Bounds on how often and how long sync waits, whatever a server answers.
//!
//! A server (or a proxy in front of it) decides how long the client waits (`Retry-After`)
//! and how fast it is asked again (every answer ends a request). Neither may make a client
//! hammer it or go quiet for a month: `Retry-After` is capped at [`MAX_RETRY_AFTER_MS`],
//! and every request takes a token from a [`RequestPacer`] (a token bucket), so a client
//! sends at most [`PACER_BURST`] requests at once and [`PACER_PER_SECOND`] a second after
//! that, in every case.

use std::cell::Cell;

/// The longest `Retry-After` honoured: one hour. A longer one waits an hour.
pub const MAX_RETRY_AFTER_MS: f64 = 3_600_000.0;
/// Requests a client may send back to back.
pub const PACER_BURST: f64 = 10.0;
/// Requests a second a client sends at most once its burst is spent.
pub const PACER_PER_SECOND: f64 = 5.0;
/// The longest delay one timer may be set to: `setTimeout` fires at once for anything
/// larger than 2^31 - 1 ms (about 24.8 days), in browsers and Node alike.
pub const MAX_TIMER_MS: f64 = 2_147_483_647.0;

/// A token bucket over request starts; see the module docs.
#[derive(Debug)]
pub struct RequestPacer {
    burst: f64,
    per_ms: f64,
    tokens: Cell<f64>,
    last_ms: Cell<Option<f64>>,
}

impl Default for RequestPacer {
    fn default() -> Self {
        RequestPacer::new(PACER_BURST, PACER_PER_SECOND)
    }
}

impl RequestPacer {
    /// At most `burst` requests at once, then `per_second`.
    pub fn new(burst: f64, per_second: f64) -> Self {
        RequestPacer {
            burst: burst.max(1.0),
            per_ms: per_second.max(f64::MIN_POSITIVE) / 1000.0,
            tokens: Cell::new(burst.max(1.0)),
            last_ms: Cell::new(None),
        }
    }

    /// Reserves the next request's slot at time `now_ms`; returns how long to wait before
    /// sending it (0 when a token is free). Callers that wait in turn are spaced out, since
    /// each reservation takes its token ahead of time.
    pub fn reserve(&self, now_ms: f64) -> f64 {
        let elapsed = self
            .last_ms
            .get()
            .map_or(0.0, |last| (now_ms - last).max(0.0));
        self.last_ms.set(Some(now_ms));
        let tokens = (self.tokens.get() + elapsed * self.per_ms).min(self.burst) - 1.0;
        self.tokens.set(tokens);
        if tokens >= 0.0 {
            0.0
        } else {
            -tokens / self.per_ms
        }
    }
}

/// Splits a wait of `ms` into timer-sized steps (each at most [`MAX_TIMER_MS`]), so that a
/// long wait is waited in full instead of overflowing the timer and firing at once.
pub fn timer_steps(ms: f64) -> impl Iterator<Item = u32> {
    let mut left = if ms.is_finite() { ms.max(0.0) } else { 0.0 };
    let mut first = true;
    std::iter::from_fn(move || {
        if left <= 0.0 && !first {
            return None;
        }
        first = false;
        let step = left.min(MAX_TIMER_MS);
        left -= step;
        Some(step.ceil() as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_a_steady_rate_whatever_the_callers_do() {
        let pacer = RequestPacer::new(3.0, 2.0);
        // Three at once, then one every 500 ms.
        assert_eq!([0.0, 0.0, 0.0].map(|_| pacer.reserve(1_000.0)), [0.0; 3]);
        assert_eq!(pacer.reserve(1_000.0), 500.0);
        assert_eq!(pacer.reserve(1_000.0), 1_000.0);
        // A caller that waited its turn finds the next slot after it.
        assert_eq!(pacer.reserve(2_000.0), 500.0);
        // Sending as fast as allowed for 10 s: at most burst + rate × time requests.
        let pacer = RequestPacer::new(PACER_BURST, PACER_PER_SECOND);
        let (mut now, mut sent) = (0.0, 0);
        while now < 10_000.0 {
            now += pacer.reserve(now);
            if now < 10_000.0 {
                sent += 1;
            }
        }
        assert!(sent <= (PACER_BURST + PACER_PER_SECOND * 10.0) as usize + 1);
        // Idle time refills the bucket, never past the burst.
        let pacer = RequestPacer::new(2.0, 1.0);
        pacer.reserve(0.0);
        pacer.reserve(0.0);
        assert_eq!(pacer.reserve(3_600_000.0), 0.0);
        assert_eq!(pacer.reserve(3_600_000.0), 0.0);
        assert_eq!(pacer.reserve(3_600_000.0), 1_000.0);
    }

    #[test]
    fn long_waits_are_cut_into_timer_sized_steps() {
        let month = 30.0 * 86_400_000.0;
        let steps: Vec<u32> = timer_steps(month).collect();
        assert!(steps.iter().all(|&s| f64::from(s) <= MAX_TIMER_MS));
        assert_eq!(steps.iter().map(|&s| f64::from(s)).sum::<f64>(), month);
        assert_eq!(timer_steps(0.0).collect::<Vec<_>>(), [0]);
        assert_eq!(timer_steps(-5.0).collect::<Vec<_>>(), [0]);
        assert_eq!(timer_steps(f64::NAN).collect::<Vec<_>>(), [0]);
        assert_eq!(timer_steps(1_500.2).collect::<Vec<_>>(), [1_501]);
    }
}
