//! A bounded cache of summaries read from record frames: the pages a person looks at again
//! (the next refresh of the same view) are not read and parsed again. Keyed by frame offset,
//! which names one version of one record in one log; cleared when compaction moves frames.
//! Two generations: when the newer one is full, the older one is dropped, so memory stays
//! under two generations' worth whatever the history's size.

use rustc_hash::FxHashMap as HashMap;

use crate::model::Execution;

/// Summaries per generation.
const GENERATION: usize = 512;

#[derive(Debug, Default)]
pub(super) struct SummaryCache {
    newer: HashMap<u64, Execution>,
    older: HashMap<u64, Execution>,
}

impl SummaryCache {
    /// The summary of the frame at `offset`, if read lately.
    pub fn get(&mut self, offset: u64) -> Option<Execution> {
        if let Some(e) = self.newer.get(&offset) {
            return Some(e.clone());
        }
        let e = self.older.remove(&offset)?;
        self.put(offset, e.clone());
        Some(e)
    }

    pub fn put(&mut self, offset: u64, summary: Execution) {
        if self.newer.len() >= GENERATION {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(offset, summary);
    }

    /// Forgets everything (frames moved: offsets name other records now).
    pub fn clear(&mut self) {
        self.newer.clear();
        self.older.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str) -> Execution {
        Execution {
            id: id.into(),
            ..Execution::default()
        }
    }

    #[test]
    fn keeps_at_most_two_generations_and_the_recent_ones() {
        let mut cache = SummaryCache::default();
        for i in 0..(3 * GENERATION as u64) {
            cache.put(i, summary(&format!("e{i}")));
        }
        assert!(cache.newer.len() + cache.older.len() <= 2 * GENERATION);
        assert_eq!(cache.get(0), None, "the oldest were dropped");
        let last = 3 * GENERATION as u64 - 1;
        assert_eq!(cache.get(last).unwrap().id, format!("e{last}"));
        cache.clear();
        assert_eq!(cache.get(last), None);
    }
}
