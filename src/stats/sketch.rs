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

/// Counts of values per log-spaced bucket, and the exact smallest and largest value.
///
/// The extremes are kept in thousandths of the unit (integers, like every other part of a
/// rollup). They stay exact through adds and merges; removing the value that was an extreme
/// leaves that extreme unknown (the next one is not recorded), and an unknown extreme falls
/// back to the sketch's estimate (within [`RELATIVE_ERROR`]) until the rollups are rebuilt.
/// Sketches stored before the extremes existed read back with them unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sketch {
    /// Values at or below [`ZERO_BELOW`].
    #[serde(rename = "z", default, skip_serializing_if = "is_zero")]
    zeros: u64,
    /// Bucket index → count.
    #[serde(rename = "b", default, skip_serializing_if = "BTreeMap::is_empty")]
    buckets: BTreeMap<i32, u64>,
    /// The exact smallest value in thousandths; `None` when empty or unknown.
    #[serde(rename = "lo", default, skip_serializing_if = "Option::is_none")]
    least: Option<i64>,
    /// The exact largest value in thousandths; `None` when empty or unknown.
    #[serde(rename = "hi", default, skip_serializing_if = "Option::is_none")]
    greatest: Option<i64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A value in thousandths of its unit (negative values count as zero, as in the buckets).
fn thousandths(value: f64) -> i64 {
    (value.max(0.0) * 1000.0).round() as i64
}

fn from_thousandths(t: i64) -> f64 {
    t as f64 / 1000.0
}

/// The exact extremes of a sketch: known, or unknown for a non-empty sketch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extremes {
    /// Smallest, in thousandths.
    pub least: Option<i64>,
    /// Largest, in thousandths.
    pub greatest: Option<i64>,
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
        let t = thousandths(value);
        if self.count() == 0 {
            (self.least, self.greatest) = (Some(t), Some(t));
        } else {
            // An unknown extreme stays unknown: the value it stood for may lie beyond `t`.
            self.least = self.least.map(|l| l.min(t));
            self.greatest = self.greatest.map(|g| g.max(t));
        }
        match Self::bucket(value) {
            Some(b) => *self.buckets.entry(b).or_default() += 1,
            None => self.zeros += 1,
        }
    }

    /// Removes a value added before; false (and no change) if its bucket is empty.
    pub fn remove(&mut self, value: f64) -> bool {
        let removed = match Self::bucket(value) {
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
        };
        if removed {
            let t = thousandths(value);
            if self.count() == 0 {
                (self.least, self.greatest) = (None, None);
            } else {
                // Removing an extreme (or a value beyond it) leaves the next one unknown.
                self.least = self.least.filter(|l| t > *l);
                self.greatest = self.greatest.filter(|g| t < *g);
            }
        }
        removed
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        if other.count() == 0 {
            return;
        }
        if self.count() == 0 {
            (self.least, self.greatest) = (other.least, other.greatest);
        } else {
            self.least = self.least.zip(other.least).map(|(a, b)| a.min(b));
            self.greatest = self.greatest.zip(other.greatest).map(|(a, b)| a.max(b));
        }
        self.zeros += other.zeros;
        for (b, n) in &other.buckets {
            *self.buckets.entry(*b).or_default() += n;
        }
    }

    /// Its zero count and its `(bucket, count)` pairs, for compact storage.
    pub fn parts(&self) -> (u64, impl Iterator<Item = (i32, u64)> + '_) {
        (self.zeros, self.buckets.iter().map(|(b, n)| (*b, *n)))
    }

    /// Its exact extremes, for compact storage.
    pub fn extremes(&self) -> Extremes {
        Extremes {
            least: self.least,
            greatest: self.greatest,
        }
    }

    /// The sketch with these parts (the inverse of [`Sketch::parts`] and
    /// [`Sketch::extremes`]); extremes are dropped from an empty sketch.
    pub fn from_parts(
        zeros: u64,
        buckets: impl IntoIterator<Item = (i32, u64)>,
        extremes: Extremes,
    ) -> Sketch {
        let mut s = Sketch {
            zeros,
            buckets: buckets.into_iter().filter(|(_, n)| *n > 0).collect(),
            least: extremes.least,
            greatest: extremes.greatest,
        };
        if s.count() == 0 {
            (s.least, s.greatest) = (None, None);
        }
        s
    }

    /// True when `self` (kept up incrementally) holds the same values as `rebuilt` (built
    /// from scratch): the same counts, and each extreme equal or unknown in `self`.
    pub fn agrees_with(&self, rebuilt: &Sketch) -> bool {
        let extreme = |mine: Option<i64>, exact: Option<i64>| mine.is_none() || mine == exact;
        self.zeros == rebuilt.zeros
            && self.buckets == rebuilt.buckets
            && extreme(self.least, rebuilt.least)
            && extreme(self.greatest, rebuilt.greatest)
    }

    /// How many values it holds.
    pub fn count(&self) -> u64 {
        self.zeros + self.buckets.values().sum::<u64>()
    }

    /// The smallest value: exact when known, else within [`RELATIVE_ERROR`]; `None` when
    /// empty.
    pub fn min(&self) -> Option<f64> {
        match self.least {
            Some(t) => Some(from_thousandths(t)),
            None => self.by_rank(1),
        }
    }

    /// The largest value: exact when known, else within [`RELATIVE_ERROR`]; `None` when
    /// empty.
    pub fn max(&self) -> Option<f64> {
        match self.greatest {
            Some(t) => Some(from_thousandths(t)),
            None => self.by_rank(self.count()),
        }
    }

    /// The `q`-quantile (`0 ≤ q ≤ 1`) by the nearest-rank method: the value of rank
    /// `⌈q·n⌉` (at least 1) among the `n` values in ascending order, so p95 of {100, 300} is
    /// 300 and p50 is 100. Ranks 1 and `n` are the exact extremes when known; others are
    /// within [`RELATIVE_ERROR`] (and never outside the extremes). `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        // The small tolerance keeps q·n that is whole in decimals (0.95 × 20) from rounding
        // up to the next rank through binary error.
        let rank = ((q.clamp(0.0, 1.0) * n as f64 - 1e-9).ceil() as u64).clamp(1, n);
        if rank == 1 {
            return self.min();
        }
        if rank == n {
            return self.max();
        }
        let estimate = self.by_rank(rank)?;
        let lo = self.least.map_or(f64::MIN, from_thousandths);
        let hi = self.greatest.map_or(f64::MAX, from_thousandths);
        Some(estimate.clamp(lo, hi))
    }

    /// The estimate of the value of 1-based `rank` from the buckets alone.
    fn by_rank(&self, rank: u64) -> Option<f64> {
        if self.count() == 0 {
            return None;
        }
        if rank <= self.zeros {
            return Some(0.0);
        }
        let mut seen = self.zeros;
        for (b, n) in &self.buckets {
            seen += n;
            if seen >= rank {
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
            let rank = ((q * values.len() as f64).ceil() as usize).max(1);
            let exact = values[rank - 1];
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

    fn of(values: &[f64]) -> Sketch {
        let mut s = Sketch::default();
        for v in values {
            s.add(*v);
        }
        s
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let two = of(&[100.0, 300.0]);
        assert_eq!(two.quantile(0.5), Some(100.0));
        assert_eq!(two.quantile(0.95), Some(300.0));
        assert_eq!(two.quantile(0.99), Some(300.0));
        let ten = of(&(1..=10).map(|i| f64::from(i) * 100.0).collect::<Vec<_>>());
        assert_eq!(ten.quantile(0.95), Some(1000.0));
        assert_eq!(ten.quantile(0.99), Some(1000.0));
        let p50 = ten.quantile(0.5).unwrap();
        assert!(within(p50, 500.0), "p50 {p50}");
        let p90 = ten.quantile(0.9).unwrap();
        assert!(within(p90, 900.0), "p90 {p90}");
        // 0.95 × 20 is 19 in decimals: rank 19, not 20.
        let twenty = of(&(1..=20).map(f64::from).collect::<Vec<_>>());
        assert!(within(twenty.quantile(0.95).unwrap(), 19.0));
    }

    #[test]
    fn min_and_max_are_exact() {
        let one = of(&[3000.0]);
        assert_eq!((one.min(), one.max()), (Some(3000.0), Some(3000.0)));
        assert_eq!(one.quantile(0.5), Some(3000.0));
        let mut s = of(&[12.345, 7.5, 901.25]);
        assert_eq!((s.min(), s.max()), (Some(7.5), Some(901.25)));
        s.merge(&of(&[2.0]));
        assert_eq!(s.min(), Some(2.0));
        // Merging into or from an empty sketch keeps the other's extremes.
        let mut empty = Sketch::default();
        empty.merge(&s);
        assert_eq!(empty, s);
        s.merge(&Sketch::default());
        assert_eq!(empty, s);
        // Interior ranks never leave the exact range.
        let close = of(&[100.0, 100.2, 100.4]);
        let p50 = close.quantile(0.5).unwrap();
        assert!((100.0..=100.4).contains(&p50), "{p50}");
    }

    #[test]
    fn removing_an_extreme_falls_back_to_the_estimate_and_agrees_with_a_rebuild() {
        let mut s = of(&[10.0, 20.0, 30.0]);
        assert!(s.remove(20.0));
        assert_eq!(
            (s.min(), s.max()),
            (Some(10.0), Some(30.0)),
            "an inner value"
        );
        assert!(s.remove(30.0));
        let max = s.max().unwrap();
        assert!(
            within(max, 10.0),
            "the next largest is unknown: estimated {max}"
        );
        assert_ne!(s, of(&[10.0]));
        assert!(s.agrees_with(&of(&[10.0])));
        assert!(!of(&[10.0]).agrees_with(&of(&[11.0])));
        assert!(!of(&[10.0, 30.0]).agrees_with(&of(&[10.0, 31.0])));
        // Adding keeps an unknown extreme unknown; removing everything forgets it.
        s.add(5.0);
        assert!(within(s.max().unwrap(), 10.0));
        assert_eq!(s.min(), Some(5.0));
        assert!(s.remove(5.0) && s.remove(10.0));
        assert_eq!(s, Sketch::default());
        s.add(42.0);
        assert_eq!(s, of(&[42.0]));
    }

    #[test]
    fn sketches_stored_without_extremes_still_read_and_estimate() {
        let old: Sketch = serde_json::from_str(r#"{"z":1,"b":{"401":2}}"#).unwrap();
        assert_eq!(old.count(), 3);
        assert_eq!(old.min(), Some(0.0));
        let max = old.max().unwrap();
        assert!(max > 3000.0 && max < 3100.0, "{max}");
        let now = serde_json::to_string(&of(&[3000.0])).unwrap();
        assert_eq!(now, r#"{"b":{"401":1},"lo":3000000,"hi":3000000}"#);
        let back: Sketch = serde_json::from_str(&now).unwrap();
        assert_eq!(back.max(), Some(3000.0));
    }
}
