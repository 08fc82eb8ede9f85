//! Room history as clients and nodes see it: every publication to a room with history gets
//! the next `offset` (1, 2, 3, ... per room) within the room's `epoch`, a name that changes
//! whenever the history was lost or reset (Redis restarted without persistence, a key evicted
//! or deleted). A `(offset, epoch)` pair is a [`Position`]; reading history after a position
//! answers whether the events since then are all still there.

use bytes::Bytes;
use clap::Args;

/// Where a room's stream stands: the offset of its newest event within an epoch.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Position {
    pub offset: u64,
    pub epoch: String,
}

impl Position {
    /// Where a room with no history yet stands: offset 0, no epoch (the first publication
    /// starts one).
    pub fn none() -> Self {
        Position {
            offset: 0,
            epoch: String::new(),
        }
    }

    /// Whether a client at `self` can take the room's events from a read that found `top`
    /// as continuing from where it is: the same epoch, or no epoch yet at offset 0 (the
    /// client saw the room before its history began, so every event of any epoch is new).
    pub fn continues_in(&self, top: &Position) -> bool {
        self.epoch == top.epoch || (self.epoch.is_empty() && self.offset == 0)
    }
}

/// What a history read found after a given offset.
#[derive(Clone, Debug)]
pub struct HistoryRead {
    /// The room's position at the time of the read.
    pub top: Position,
    /// Events after the asked offset, oldest first, each as published (with `offset` and
    /// `epoch` spliced in), at most the asked limit.
    pub events: Vec<(u64, Bytes)>,
}

impl HistoryRead {
    /// Whether `events` are exactly the events after `after` up to the top: none trimmed
    /// away by retention and none left out by the limit.
    pub fn is_complete_after(&self, after: u64) -> bool {
        if after >= self.top.offset {
            return after == self.top.offset;
        }
        let expected = self.top.offset - after;
        self.events.len() as u64 == expected
            && self
                .events
                .iter()
                .zip(after + 1..)
                .all(|((offset, _), want)| *offset == want)
    }
}

/// How much history each room keeps (DESIGN §2). Both binaries take these flags; the
/// dispatcher's values are the ones that apply (it writes the history).
#[derive(Args, Clone, Debug)]
pub struct HistoryOptions {
    /// Events kept per room (approximate: Redis trims whole blocks, so a few more may stay).
    #[arg(long, env = "HISTORY_MAX_LEN", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub history_max_len: u64,
    /// Seconds a room's history (and its epoch) lives after the room's last publication.
    #[arg(long, env = "HISTORY_TTL_SECS", default_value_t = 24 * 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub history_ttl_secs: u64,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        HistoryOptions {
            history_max_len: 1000,
            history_ttl_secs: 24 * 3600,
        }
    }
}

/// A fresh epoch name: 12 random hex digits.
pub fn new_epoch() -> String {
    let mut epoch = uuid::Uuid::new_v4().simple().to_string();
    epoch.truncate(12);
    epoch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(top: u64, offsets: &[u64]) -> HistoryRead {
        HistoryRead {
            top: Position {
                offset: top,
                epoch: "e".into(),
            },
            events: offsets.iter().map(|o| (*o, Bytes::new())).collect(),
        }
    }

    #[test]
    fn a_position_before_any_history_continues_in_any_epoch() {
        let top = Position {
            offset: 3,
            epoch: "e".into(),
        };
        assert!(Position::none().continues_in(&top));
        assert!(top.continues_in(&top));
        let elsewhere = Position {
            offset: 3,
            epoch: "f".into(),
        };
        assert!(!elsewhere.continues_in(&top));
        let no_epoch_but_offset = Position {
            offset: 2,
            epoch: String::new(),
        };
        assert!(!no_epoch_but_offset.continues_in(&top));
    }

    #[test]
    fn complete_only_when_every_missed_offset_is_there() {
        assert!(read(5, &[3, 4, 5]).is_complete_after(2));
        assert!(read(5, &[]).is_complete_after(5));
        // Trimmed: offset 3 is gone.
        assert!(!read(5, &[4, 5]).is_complete_after(2));
        // Cut by the limit.
        assert!(!read(5, &[3, 4]).is_complete_after(2));
        // An offset from the future (another epoch's, or made up).
        assert!(!read(5, &[]).is_complete_after(9));
        // A room with no history yet: nothing to miss.
        assert!(read(0, &[]).is_complete_after(0));
        assert!(!read(0, &[]).is_complete_after(1));
    }
}
