//! Rate limits per key: a token bucket of requests per second and one of body bytes per
//! second. Each bucket holds one second's worth (at least one request); a request is let in
//! while the bucket is not empty, and its bytes are charged after the body is read, so a
//! body larger than one second's worth passes once and the key then waits the debt off.
//! A refused request learns how many whole seconds to wait (`Retry-After`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The limits of each key; `0` turns a limit off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Requests per second, per key.
    pub requests_per_second: f64,
    /// Request body bytes (after gzip inflation) per second, per key.
    pub bytes_per_second: f64,
}

#[derive(Debug)]
struct Bucket {
    requests: f64,
    bytes: f64,
    at: Instant,
}

/// The buckets of every key seen.
#[derive(Debug)]
pub struct RateLimiter {
    limits: Limits,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Keys idle this long are forgotten (their buckets are full again anyway).
const IDLE_SECONDS: f64 = 600.0;

fn wait_seconds(deficit: f64, rate: f64) -> u64 {
    ((deficit / rate).ceil() as u64).max(1)
}

impl RateLimiter {
    /// Buckets for these limits.
    pub fn new(limits: Limits) -> RateLimiter {
        RateLimiter {
            limits,
            buckets: Mutex::default(),
        }
    }

    fn request_capacity(&self) -> f64 {
        self.limits.requests_per_second.max(1.0)
    }

    fn with_bucket<T>(&self, key: &str, now: Instant, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| now.duration_since(b.at).as_secs_f64() < IDLE_SECONDS);
        }
        let (requests, bytes) = (self.request_capacity(), self.limits.bytes_per_second);
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            requests,
            bytes,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.at = now;
        bucket.requests = (bucket.requests + elapsed * self.limits.requests_per_second)
            .min(self.request_capacity());
        bucket.bytes = (bucket.bytes + elapsed * bytes).min(bytes);
        f(bucket)
    }

    /// Lets a request of `key` in, or says how many seconds to wait.
    pub fn admit(&self, key: &str, now: Instant) -> Result<(), u64> {
        let Limits {
            requests_per_second: rps,
            bytes_per_second: bps,
        } = self.limits;
        if rps <= 0.0 && bps <= 0.0 {
            return Ok(());
        }
        self.with_bucket(key, now, |b| {
            if rps > 0.0 && b.requests < 1.0 {
                return Err(wait_seconds(1.0 - b.requests, rps));
            }
            if bps > 0.0 && b.bytes <= 0.0 {
                return Err(wait_seconds(-b.bytes + 1.0, bps));
            }
            if rps > 0.0 {
                b.requests -= 1.0;
            }
            Ok(())
        })
    }

    /// Charges the body bytes of an admitted request.
    pub fn charge_bytes(&self, key: &str, bytes: usize, now: Instant) {
        if self.limits.bytes_per_second > 0.0 {
            self.with_bucket(key, now, |b| b.bytes -= bytes as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn requests_refill_at_the_rate() {
        let limiter = RateLimiter::new(Limits {
            requests_per_second: 2.0,
            bytes_per_second: 0.0,
        });
        let t = Instant::now();
        assert_eq!(limiter.admit("k", t), Ok(()));
        assert_eq!(limiter.admit("k", t), Ok(()));
        assert_eq!(limiter.admit("k", t), Err(1));
        assert_eq!(limiter.admit("other", t), Ok(()), "buckets are per key");
        assert_eq!(limiter.admit("k", t + Duration::from_millis(500)), Ok(()));
    }

    #[test]
    fn a_slow_rate_says_how_long_to_wait() {
        let limiter = RateLimiter::new(Limits {
            requests_per_second: 0.1,
            bytes_per_second: 0.0,
        });
        let t = Instant::now();
        assert_eq!(limiter.admit("k", t), Ok(()));
        assert_eq!(limiter.admit("k", t), Err(10));
        assert_eq!(limiter.admit("k", t + Duration::from_secs(4)), Err(6));
    }

    #[test]
    fn bytes_go_into_debt_and_are_waited_off() {
        let limiter = RateLimiter::new(Limits {
            requests_per_second: 0.0,
            bytes_per_second: 100.0,
        });
        let t = Instant::now();
        assert_eq!(limiter.admit("k", t), Ok(()));
        limiter.charge_bytes("k", 350, t);
        // 250 bytes of debt, plus one byte to be positive again, at 100 a second.
        assert_eq!(limiter.admit("k", t), Err(3));
        assert_eq!(limiter.admit("k", t + Duration::from_secs(3)), Ok(()));
    }

    /// Property, with a fixed seed: whatever the arrival pattern, a key never gets more than
    /// one bucket plus the rate × the elapsed time, in requests and in bytes (give or take
    /// the one body that may overdraw).
    #[test]
    fn never_more_than_the_bucket_and_the_rate() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..50 {
            let rps = (next() % 50 + 1) as f64 / 4.0;
            let bps = (next() % 5000 + 100) as f64;
            let limiter = RateLimiter::new(Limits {
                requests_per_second: rps,
                bytes_per_second: bps,
            });
            let start = Instant::now();
            let (mut t, mut admitted, mut sent, mut largest) = (start, 0.0, 0.0, 0.0_f64);
            for _ in 0..2000 {
                t += Duration::from_micros(next() % 20_000);
                if limiter.admit("k", t).is_ok() {
                    let bytes = (next() % 2000) as f64;
                    limiter.charge_bytes("k", bytes as usize, t);
                    admitted += 1.0;
                    sent += bytes;
                    largest = largest.max(bytes);
                }
            }
            let elapsed = t.duration_since(start).as_secs_f64();
            assert!(
                admitted <= rps.max(1.0) + rps * elapsed + 1e-6,
                "{admitted} at {rps}/s over {elapsed}s"
            );
            assert!(
                sent <= bps + bps * elapsed + largest + 1e-6,
                "{sent} at {bps}/s over {elapsed}s"
            );
        }
    }

    #[test]
    fn zero_turns_limits_off() {
        let limiter = RateLimiter::new(Limits {
            requests_per_second: 0.0,
            bytes_per_second: 0.0,
        });
        let t = Instant::now();
        for _ in 0..1000 {
            assert_eq!(limiter.admit("k", t), Ok(()));
        }
    }
}
