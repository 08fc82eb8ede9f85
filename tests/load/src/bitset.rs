//! A growable set of small integers (event sequence numbers), one bit each.

#[derive(Clone, Debug, Default)]
pub struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    /// Adds `n`; false if it was already there.
    pub fn insert(&mut self, n: u64) -> bool {
        let (word, bit) = split(n);
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let fresh = self.words[word] & bit == 0;
        self.words[word] |= bit;
        fresh
    }

    pub fn contains(&self, n: u64) -> bool {
        let (word, bit) = split(n);
        self.words.get(word).is_some_and(|w| w & bit != 0)
    }

    pub fn len(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// How many members of `self` in `range` are also in `other`, and how many are not.
    pub fn overlap_in(&self, other: &BitSet, range: std::ops::Range<u64>) -> (u64, u64) {
        let (mut both, mut only_self) = (0, 0);
        if range.is_empty() || self.words.is_empty() {
            return (0, 0);
        }
        let (first, _) = split(range.start);
        let (last, _) = split(range.end - 1);
        for i in first..=last.min(self.words.len() - 1) {
            let mut mask = u64::MAX;
            if i == first {
                mask &= u64::MAX << (range.start % 64);
            }
            if i == last {
                mask &= u64::MAX >> (63 - (range.end - 1) % 64);
            }
            let mine = self.words[i] & mask;
            let theirs = other.words.get(i).copied().unwrap_or(0);
            both += u64::from((mine & theirs).count_ones());
            only_self += u64::from((mine & !theirs).count_ones());
        }
        (both, only_self)
    }
}

fn split(n: u64) -> (usize, u64) {
    ((n / 64) as usize, 1 << (n % 64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(members: &[u64]) -> BitSet {
        let mut s = BitSet::default();
        for &m in members {
            s.insert(m);
        }
        s
    }

    #[test]
    fn insert_reports_duplicates() {
        let mut s = BitSet::default();
        assert!(s.insert(70));
        assert!(!s.insert(70));
        assert!(s.contains(70) && !s.contains(69));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn overlap_counts_within_the_range_only() {
        let acked = set(&[0, 1, 2, 63, 64, 65, 200]);
        let received = set(&[1, 2, 64, 200, 300]);
        assert_eq!(acked.overlap_in(&received, 0..1000), (4, 3));
        assert_eq!(acked.overlap_in(&received, 2..65), (2, 1));
        assert_eq!(acked.overlap_in(&received, 65..66), (0, 1));
        assert_eq!(acked.overlap_in(&received, 5..5), (0, 0));
        assert_eq!(received.overlap_in(&acked, 250..400), (0, 1));
        assert_eq!(BitSet::default().overlap_in(&acked, 0..u64::MAX), (0, 0));
    }
}
