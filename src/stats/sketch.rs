//! A mergeable quantile sketch with a stated relative error (DDSketch's log-spaced buckets).
//!
//! A value `v > 0` goes to bucket `ceil(log_γ v)` with `γ = (1 + α) / (1 − α)`; a bucket's
//! representative `2γ^i / (γ + 1)` is within `α` of every value in it. Buckets are counts, so
//! sketches merge by adding and values are removed by subtracting: exactly what rollups that
//! follow deletes and updates need.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The relative error of every quantile, minimum and maximum: 1%.
pub const RELATIVE_ERROR: f64 = 0.01;

/// Values at or below this (in the caller's unit) count as zero.
const ZERO_BELOW: f64 = 1e-3;

fn gamma() -> f64 {
    (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)
}

/// Counts of values per log-spaced bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sketch {
    /// Values at or below [`ZERO_BELOW`].
    #[serde(rename = "z", default, skip_serializing_if = "is_zero")]
    zeros: u64,
    /// Bucket index → count.
    #[serde(rename = "b", default, skip_serializing_if = "BTreeMap::is_empty")]
    buckets: BTreeMap<i32, u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Sketch {
    fn bucket(value: f64) -> Option<i32> {
        (value > ZERO_BELOW).then(|| (value.ln() / gamma().ln()).ceil() as i32)
    }

    fn representative(bucket: i32) -> f64 {
        2.0 * gamma().powi(bucket) / (gamma() + 1.0)
    }

    /// Adds a value (negative values count as zero).
    pub fn add(&mut self, value: f64) {
        match Self::bucket(value) {
            Some(b) => *self.buckets.entry(b).or_default() += 1,
            None => self.zeros += 1,
        }
    }

    /// Removes a value added before; false (and no change) if its bucket is empty.
    pub fn remove(&mut self, value: f64) -> bool {
        match Self::bucket(value) {
            Some(b) => match self.buckets.get_mut(&b) {
                Some(n) => {
                    *n -= 1;
                    if *n == 0 {
                        self.buckets.remove(&b);
                    }
                    true
                }
                None => false,
            },
            None if self.zeros > 0 => {
                self.zeros -= 1;
                true
            }
            None => false,
        }
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        self.zeros += other.zeros;
        for (b, n) in &other.buckets {
            *self.buckets.entry(*b).or_default() += n;
        }
    }

    /// Its zero count and its `(bucket, count)` pairs, for compact storage.
    pub fn parts(&self) -> (u64, impl Iterator<Item = (i32, u64)> + '_) {
        (self.zeros, self.buckets.iter().map(|(b, n)| (*b, *n)))
    }

    /// The sketch with these parts (the inverse of [`Sketch::parts`]).
    pub fn from_parts(zeros: u64, buckets: impl IntoIterator<Item = (i32, u64)>) -> Sketch {
        Sketch {
            zeros,
            buckets: buckets.into_iter().filter(|(_, n)| *n > 0).collect(),
        }
    }

    /// How many values it holds.
    pub fn count(&self) -> u64 {
        self.zeros + self.buckets.values().sum::<u64>()
    }

    /// The `q`-quantile (`0 ≤ q ≤ 1`) within [`RELATIVE_ERROR`]; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * (count - 1) as f64).floor() as u64;
        if rank < self.zeros {
            return Some(0.0);
        }
        let mut seen = self.zeros;
        for (b, n) in &self.buckets {
            seen += n;
            if seen > rank {
                return Some(Self::representative(*b));
            }
        }
        self.buckets.keys().last().map(|b| Self::representative(*b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(estimate: f64, exact: f64) -> bool {
        (estimate - exact).abs() <= RELATIVE_ERROR * exact.abs() + 1e-9
    }

    #[test]
    fn quantiles_are_within_the_stated_error() {
        let values: Vec<f64> = (1..=10_000).map(|i| (i as f64).powf(1.7) / 13.0).collect();
        let mut s = Sketch::default();
        for v in &values {
            s.add(*v);
        }
        for q in [0.0, 0.5, 0.95, 0.99, 1.0] {
            let exact = values[(q * (values.len() - 1) as f64).floor() as usize];
            let estimate = s.quantile(q).unwrap();
            assert!(within(estimate, exact), "q={q}: {estimate} vs {exact}");
        }
    }

    #[test]
    fn removing_undoes_adding_and_merging_adds_counts() {
        let mut a = Sketch::default();
        let mut b = Sketch::default();
        for v in [0.0, 3.0, 50.0, 50.5, 7_000.0] {
            a.add(v);
        }
        b.add(3.0);
        let before = a.clone();
        a.merge(&b);
        assert_eq!(a.count(), 6);
        assert!(a.remove(3.0));
        assert_eq!(a, before);
        for v in [0.0, 3.0, 50.0, 50.5, 7_000.0] {
            assert!(a.remove(v));
        }
        assert_eq!(a, Sketch::default());
        assert!(!a.remove(1.0), "nothing left to remove");
        assert_eq!(a.quantile(0.5), None);
    }
}
