//! What the client sockets observe, shared by every socket task: counters and end-to-end
//! latency samples, sharded by socket so tasks on different threads rarely share a lock or a
//! cache line.

use crate::latency;
use hdrhistogram::Histogram;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Enough that the runtime's worker threads rarely meet on one lock.
const SHARDS: usize = 8;

pub struct Stats {
    shards: Box<[Shard]>,
    /// Sockets that completed READY and their subscriptions.
    pub opened: AtomicU64,
    /// Sockets that ended (for any reason).
    pub ended: AtomicU64,
    /// Sockets closed by the server or the network before the run told them to stop.
    pub unexpected_closes: AtomicU64,
    /// Connects or subscriptions that failed.
    pub connect_errors: AtomicU64,
    /// Frames that are neither probes nor typing events (acks, `global` events, ...).
    pub other_frames: AtomicU64,
    /// Typing notices that reached the typist's own socket (the protocol says they never do).
    pub typing_echoes: AtomicU64,
}

#[repr(align(128))]
struct Shard {
    latency: Mutex<Histogram<u64>>,
    probes: AtomicU64,
    typing: AtomicU64,
    /// WebSocket payload bytes of the data frames received (compressed, if compressed).
    bytes: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        let shards = (0..SHARDS)
            .map(|_| Shard {
                latency: Mutex::new(latency::histogram()),
                probes: AtomicU64::new(0),
                typing: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
            })
            .collect();
        Stats {
            shards,
            opened: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            unexpected_closes: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            other_frames: AtomicU64::new(0),
            typing_echoes: AtomicU64::new(0),
        }
    }
}

impl Stats {
    /// A probe reached socket `socket` after `latency_ns`.
    pub fn probe(&self, socket: usize, latency_ns: u64) {
        let shard = &self.shards[socket % SHARDS];
        shard.probes.fetch_add(1, Relaxed);
        latency::record(&mut shard.latency.lock().expect("stats lock"), latency_ns);
    }

    /// A probe replayed from history reached socket `socket` (recovery mode): a delivery, but
    /// its age is the outage, not a latency, so no sample is recorded.
    pub fn replayed_probe(&self, socket: usize) {
        self.shards[socket % SHARDS].probes.fetch_add(1, Relaxed);
    }

    /// Socket `socket` received a data frame with `bytes` of payload.
    pub fn received(&self, socket: usize, bytes: usize) {
        self.shards[socket % SHARDS]
            .bytes
            .fetch_add(bytes as u64, Relaxed);
    }

    /// Payload bytes of every data frame received so far.
    pub fn bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.bytes.load(Relaxed)).sum()
    }

    pub fn typing(&self, socket: usize) {
        self.shards[socket % SHARDS].typing.fetch_add(1, Relaxed);
    }

    /// Probe deliveries so far.
    pub fn probes(&self) -> u64 {
        self.shards.iter().map(|s| s.probes.load(Relaxed)).sum()
    }

    /// Typing deliveries so far.
    pub fn typings(&self) -> u64 {
        self.shards.iter().map(|s| s.typing.load(Relaxed)).sum()
    }

    /// Sockets open now.
    pub fn open(&self) -> u64 {
        self.opened
            .load(Relaxed)
            .saturating_sub(self.ended.load(Relaxed))
    }

    /// The latency samples recorded since the last call.
    pub fn drain_latency(&self) -> Histogram<u64> {
        let mut total = latency::histogram();
        for shard in self.shards.iter() {
            let mut h = shard.latency.lock().expect("stats lock");
            total.add(&*h).expect("same bounds");
            h.reset();
        }
        total
    }
}
