//! What one socket received in one room: every sequence number it saw, and whether they came
//! in order and once each.

use crate::bitset::BitSet;

#[derive(Debug)]
pub struct RoomTrack {
    /// The room's index in the run's ledger.
    pub room: usize,
    /// `channel:<id>`, as frames name it.
    pub name: String,
    /// Every sequence number from this one on was handed out after the socket's `SUBSCRIBED`
    /// for the room, so each of them that was acknowledged must arrive.
    pub from_seq: u64,
    pub received: BitSet,
    pub duplicates: u64,
    pub out_of_order: u64,
    last: Option<u64>,
}

impl RoomTrack {
    pub fn new(room: usize, name: String, from_seq: u64) -> RoomTrack {
        RoomTrack {
            room,
            name,
            from_seq,
            received: BitSet::default(),
            duplicates: 0,
            out_of_order: 0,
            last: None,
        }
    }

    /// Notes the arrival of `seq`.
    pub fn observe(&mut self, seq: u64) {
        if !self.received.insert(seq) {
            self.duplicates += 1;
        } else if self.last.is_some_and(|last| seq < last) {
            self.out_of_order += 1;
        }
        self.last = Some(self.last.map_or(seq, |last| last.max(seq)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_reordering_are_counted() {
        let mut t = RoomTrack::new(0, "channel:a".into(), 0);
        for seq in [0, 1, 3, 2, 3, 4] {
            t.observe(seq);
        }
        assert_eq!((t.duplicates, t.out_of_order), (1, 1));
        assert_eq!(t.received.len(), 5);
    }
}
