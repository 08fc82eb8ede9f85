//! Giving back a map's memory once it has emptied. A `HashMap` keeps the capacity of its
//! largest size: a node that once held 10,000 sessions would keep tables for 10,000 in the
//! hub (its rooms, each room's members and catch-up seats, its sessions), the stream
//! positions, the subscription set and the live-state index forever. The tables that follow the
//! number of sessions or rooms shrink when they fall below a quarter of their capacity, to
//! twice their size (amortized O(1) per removal: a shrink follows many removals), and give
//! back all of it once empty: a table left at its floor after a burst would be allocated in
//! the middle of the burst's freed memory and keep those pages resident.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

/// Below this capacity a table is not worth shrinking.
const MIN_CAPACITY: usize = 1024;

/// A table that can give back unused capacity.
pub trait ShrinkWhenSparse {
    /// Shrinks to twice the length when the length is under a quarter of the capacity, and
    /// to nothing when empty.
    fn shrink_when_sparse(&mut self);
}

fn sparse(len: usize, capacity: usize) -> bool {
    (capacity > MIN_CAPACITY && len < capacity / 4) || (len == 0 && capacity > 0)
}

impl<K: Eq + Hash, V, S: BuildHasher> ShrinkWhenSparse for HashMap<K, V, S> {
    fn shrink_when_sparse(&mut self) {
        if sparse(self.len(), self.capacity()) {
            self.shrink_to(self.len() * 2);
        }
    }
}

impl<T: Eq + Hash, S: BuildHasher> ShrinkWhenSparse for HashSet<T, S> {
    fn shrink_when_sparse(&mut self) {
        if sparse(self.len(), self.capacity()) {
            self.shrink_to(self.len() * 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emptied_table_gives_back_its_capacity() {
        let mut map: HashMap<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
        let grown = map.capacity();
        for i in 0..9_990 {
            map.remove(&i);
            map.shrink_when_sparse();
        }
        assert!(
            map.capacity() < MIN_CAPACITY * 2,
            "{} of {grown}",
            map.capacity()
        );
        assert_eq!(map.len(), 10);
    }

    #[test]
    fn an_empty_table_gives_back_everything() {
        let mut map: HashMap<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
        for i in 0..10_000 {
            map.remove(&i);
            map.shrink_when_sparse();
        }
        assert_eq!(map.capacity(), 0);
        let mut set: HashSet<u32> = (0..100).collect();
        set.clear();
        set.shrink_when_sparse();
        assert_eq!(set.capacity(), 0, "small ones too");
    }

    #[test]
    fn small_or_full_tables_are_left_alone() {
        let mut set: HashSet<u32> = (0..100).collect();
        set.retain(|&i| i < 10);
        let capacity = set.capacity();
        set.shrink_when_sparse();
        assert_eq!(set.capacity(), capacity, "under the minimum");
        let mut full: HashSet<u32> = (0..5_000).collect();
        let capacity = full.capacity();
        full.shrink_when_sparse();
        assert_eq!(full.capacity(), capacity);
    }
}
