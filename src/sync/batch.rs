//! Cutting pending records into batches bounded by count and bytes.

use std::ops::Range;

/// Splits records of the given encoded sizes, in order, into consecutive batches of at most
/// `max_count` records and `max_bytes` bytes. A record larger than `max_bytes` on its own gets
/// a batch of its own (the server answers it with 413, and it is dead-lettered with that
/// reason) instead of blocking the records behind it.
pub fn plan_batches(sizes: &[usize], max_count: usize, max_bytes: usize) -> Vec<Range<usize>> {
    let max_count = max_count.max(1);
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, &size) in sizes.iter().enumerate() {
        let full = i - start == max_count || (i > start && bytes + size > max_bytes);
        if full {
            batches.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        batches.push(start..sizes.len());
    }
    batches
}

/// The two halves of a batch, for finding the bad record of a 400 or the big one of a 413.
pub fn halves(batch: Range<usize>) -> (Range<usize>, Range<usize>) {
    let mid = batch.start + (batch.end - batch.start).div_ceil(2);
    (batch.start..mid, mid..batch.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_count_and_bytes_and_keep_order() {
        assert_eq!(plan_batches(&[10; 5], 2, 1000), vec![0..2, 2..4, 4..5]);
        assert_eq!(plan_batches(&[40, 40, 40, 10], 10, 100), vec![0..2, 2..4]);
        assert!(plan_batches(&[], 10, 100).is_empty());
    }

    #[test]
    fn an_oversized_record_travels_alone() {
        assert_eq!(
            plan_batches(&[10, 500, 10], 10, 100),
            vec![0..1, 1..2, 2..3]
        );
    }

    #[test]
    fn halves_cover_the_batch() {
        assert_eq!(halves(0..5), (0..3, 3..5));
        assert_eq!(halves(4..6), (4..5, 5..6));
    }
}
