//! What one socket received in one room: every sequence number it saw, and whether they came
//! in order and once each; in recovery mode also the room's position (offset and epoch) it
//! would resume from, the server offsets it saw, and which events were replays.

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
    /// The room's offset of the last event seen (or of the last `SUBSCRIBED`) and its epoch:
    /// what `SUBSCRIBE {since}` sends after a reconnect. Set by the first `SUBSCRIBED`.
    pub position: Option<(u64, String)>,
    /// Events up to this offset, after a `recovered: true` answer, are replays of history.
    pub replay_until: u64,
    /// Events received that were replays (offset at most `replay_until`).
    pub replayed: u64,
    /// Offsets skipped: events of the room the server never sent this socket (recovery mode
    /// only, where every offset of the room must arrive).
    pub offset_gaps: u64,
    /// Events whose offset was not above the last one seen: sent twice, or from before the
    /// position `SUBSCRIBED` announced (recovery mode only).
    pub offset_repeats: u64,
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
            position: None,
            replay_until: 0,
            replayed: 0,
            offset_gaps: 0,
            offset_repeats: 0,
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

    /// Notes an event at `offset` (recovery mode); true when it is a replay of history.
    pub fn observe_offset(&mut self, offset: u64) -> bool {
        let replay = offset <= self.replay_until;
        if replay {
            self.replayed += 1;
        }
        if let Some((last, _)) = &mut self.position {
            if offset <= *last {
                self.offset_repeats += 1;
            } else {
                self.offset_gaps += offset - *last - 1;
                *last = offset;
            }
        }
        replay
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

    #[test]
    fn offsets_count_replays_gaps_and_repeats() {
        let mut t = RoomTrack::new(0, "channel:a".into(), 0);
        t.position = Some((4, "e".into()));
        t.replay_until = 6;
        let replays: Vec<bool> = [5, 6, 7, 7, 10].map(|o| t.observe_offset(o)).into();
        assert_eq!(replays, [true, true, false, false, false]);
        assert_eq!((t.replayed, t.offset_repeats, t.offset_gaps), (2, 1, 2));
        assert_eq!(t.position, Some((10, "e".into())));
    }
}
