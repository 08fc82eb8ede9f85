//! The publishing side's record, per room: the sequence numbers handed out and which of them
//! were acknowledged (2xx from the dispatcher, an integer reply from Redis). Deliveries are
//! checked against it.

use crate::bitset::BitSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The rooms of a run, indexed in the order they were given.
pub struct Ledger {
    rooms: Vec<RoomLog>,
}

pub struct RoomLog {
    /// The channel id, as the dispatcher API names it.
    pub channel: String,
    /// The pub/sub room, `channel:<id>`.
    pub room: String,
    next: AtomicU64,
    acked: Mutex<BitSet>,
    typing_acked: AtomicU64,
}

impl Ledger {
    pub fn new(channels: impl IntoIterator<Item = String>) -> Ledger {
        let rooms = channels
            .into_iter()
            .map(|channel| RoomLog {
                room: format!("channel:{channel}"),
                channel,
                next: AtomicU64::new(0),
                acked: Mutex::default(),
                typing_acked: AtomicU64::new(0),
            })
            .collect();
        Ledger { rooms }
    }

    pub fn room(&self, index: usize) -> &RoomLog {
        &self.rooms[index]
    }

    pub fn rooms(&self) -> &[RoomLog] {
        &self.rooms
    }

    /// Acknowledged messages over all rooms.
    pub fn acked_total(&self) -> u64 {
        self.rooms.iter().map(RoomLog::acked_count).sum()
    }
}

impl RoomLog {
    /// The next sequence number; take it at the moment the event's order is fixed.
    pub fn next_seq(&self) -> u64 {
        self.next.fetch_add(1, Relaxed)
    }

    /// How many sequence numbers were handed out: every later one is published after now.
    pub fn issued(&self) -> u64 {
        self.next.load(Relaxed)
    }

    pub fn ack(&self, seq: u64) {
        self.acked.lock().expect("ledger lock").insert(seq);
    }

    pub fn acked(&self) -> std::sync::MutexGuard<'_, BitSet> {
        self.acked.lock().expect("ledger lock")
    }

    pub fn acked_count(&self) -> u64 {
        self.acked().len()
    }

    pub fn ack_typing(&self) {
        self.typing_acked.fetch_add(1, Relaxed);
    }

    pub fn typing_acked(&self) -> u64 {
        self.typing_acked.load(Relaxed)
    }
}
