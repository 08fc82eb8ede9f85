//! Continuity per room on this node: the offset and epoch of the last event the fan-out
//! handled in each room with history. An event that skips offsets reveals a gap (the node's
//! Redis link dropped, or its pub/sub buffer overflowed): the fan-out fills it from history
//! before going on. An event at or below the last offset is a repeat (a refill overlapping
//! live traffic) and is dropped. Only the fan-out task touches this, so it needs no lock.

use crate::sparse::ShrinkWhenSparse;
use std::collections::HashMap;

/// Where one room's stream stands on this node.
struct Tracked {
    /// The hub room it was tracked for ([`super::RoomMembers::generation`]).
    generation: u64,
    offset: u64,
    epoch: String,
}

impl Tracked {
    fn new(generation: u64, offset: u64, epoch: &str) -> Self {
        Tracked {
            generation,
            offset,
            epoch: epoch.to_owned(),
        }
    }
}

/// What an incoming event is, relative to what the node already handled in its room.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// The first event the node sees in this room, or the next one in order.
    InOrder,
    /// Already handled.
    Repeat,
    /// Events after `after` and before this one never arrived.
    Gap { after: u64 },
    /// The room's history was reset (another epoch): what came before is gone.
    NewEpoch,
}

#[derive(Default)]
pub struct Streams {
    rooms: HashMap<String, Tracked>,
}

impl Streams {
    /// `generation` names the hub room the event is for: a room the node left and joined
    /// again starts over (what it missed in between was nobody's here).
    pub fn check(&self, room: &str, generation: u64, offset: u64, epoch: &str) -> Check {
        match self.rooms.get(room) {
            None => Check::InOrder,
            Some(t) if t.generation != generation => Check::InOrder,
            // Known from before the room had history: its first epoch is no reset.
            Some(t) if t.epoch.is_empty() && t.offset == 0 && offset > 1 => Check::Gap { after: 0 },
            Some(t) if t.epoch.is_empty() && t.offset == 0 => Check::InOrder,
            Some(t) if t.epoch != epoch => Check::NewEpoch,
            Some(t) if offset <= t.offset => Check::Repeat,
            Some(t) if offset == t.offset + 1 => Check::InOrder,
            Some(t) => Check::Gap { after: t.offset },
        }
    }

    /// Records that the room's events up to `offset` were handled.
    pub fn advance(&mut self, room: &str, generation: u64, offset: u64, epoch: &str) {
        match self.rooms.get_mut(room) {
            Some(t) if t.generation == generation && t.epoch == epoch => {
                t.offset = t.offset.max(offset)
            }
            Some(t) => {
                t.generation = generation;
                t.epoch = epoch.to_owned();
                t.offset = offset;
            }
            None => {
                let tracked = Tracked::new(generation, offset, epoch);
                self.rooms.insert(room.to_owned(), tracked);
            }
        }
    }

    /// Whether the room is tracked for this hub room.
    pub fn tracks(&self, room: &str, generation: u64) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|t| t.generation == generation)
    }

    /// Stops tracking a room (no local socket is in it any more).
    pub fn forget(&mut self, room: &str) {
        self.rooms.remove(room);
        self.rooms.shrink_when_sparse();
    }

    /// Every tracked room with its generation, last offset and epoch.
    pub fn snapshot(&self) -> Vec<(String, u64, u64, String)> {
        self.rooms
            .iter()
            .map(|(room, t)| (room.clone(), t.generation, t.offset, t.epoch.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_order_repeats_gaps_and_resets() {
        let mut streams = Streams::default();
        assert_eq!(streams.check("r", 1, 7, "a"), Check::InOrder);
        streams.advance("r", 1, 7, "a");
        assert_eq!(streams.check("r", 1, 8, "a"), Check::InOrder);
        assert_eq!(streams.check("r", 1, 7, "a"), Check::Repeat);
        assert_eq!(streams.check("r", 1, 10, "a"), Check::Gap { after: 7 });
        assert_eq!(streams.check("r", 1, 1, "b"), Check::NewEpoch);
        streams.advance("r", 1, 1, "b");
        assert_eq!(streams.check("r", 1, 2, "b"), Check::InOrder);
        // The node left the room and joined it again: no gap to fill from before.
        assert_eq!(streams.check("r", 2, 9, "b"), Check::InOrder);
        streams.advance("r", 2, 9, "b");
        assert_eq!(streams.check("r", 2, 10, "b"), Check::InOrder);
        streams.forget("r");
        assert_eq!(streams.check("r", 2, 9, "a"), Check::InOrder);
        // Tracked from before the room had history: its first epoch continues it.
        streams.advance("q", 1, 0, "");
        assert_eq!(streams.check("q", 1, 1, "z"), Check::InOrder);
        assert_eq!(streams.check("q", 1, 3, "z"), Check::Gap { after: 0 });
    }
}
