//! Sending load: probe messages through the dispatcher or straight into Redis, typing through
//! the dispatcher, at a fixed pace, with counts of what was sent, acknowledged and refused.

mod http;
mod redis;

pub use http::HttpPublisher;
pub use redis::RedisPublisher;

use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::time::Instant;

/// Which way events enter the system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// `PUBLISH` into Redis: the gateway alone is under test.
    Redis,
    /// `POST /api/v1/channels/{id}/messages`: the whole path, dispatcher included.
    Dispatcher,
}

/// A publisher of probe messages on either route.
pub enum Publisher {
    Redis(RedisPublisher),
    Http(HttpPublisher),
}

impl Publisher {
    /// Sends the next probe of `room`, posted by `author` (a member) on the dispatcher route.
    pub async fn message(&mut self, room: usize, author: &str) -> anyhow::Result<()> {
        match self {
            Publisher::Redis(p) => p.message(room).await,
            Publisher::Http(p) => {
                p.message(room, author).await;
                Ok(())
            }
        }
    }

    /// Waits until every message sent is answered.
    pub async fn finish(self) -> anyhow::Result<()> {
        match self {
            Publisher::Redis(p) => p.finish().await,
            Publisher::Http(p) => {
                p.finish().await;
                Ok(())
            }
        }
    }
}

/// What was sent so far.
#[derive(Default)]
pub struct SendCounters {
    sent: AtomicU64,
    acked: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// A snapshot of [`SendCounters`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sent {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub first_error: Option<String>,
}

impl SendCounters {
    pub fn sent(&self) {
        self.sent.fetch_add(1, Relaxed);
    }

    pub fn acked(&self) {
        self.acked.fetch_add(1, Relaxed);
    }

    pub fn failed(&self, error: String) {
        self.failed.fetch_add(1, Relaxed);
        self.first_error
            .lock()
            .expect("counters lock")
            .get_or_insert(error);
    }

    pub fn snapshot(&self) -> Sent {
        Sent {
            sent: self.sent.load(Relaxed),
            acked: self.acked.load(Relaxed),
            failed: self.failed.load(Relaxed),
            first_error: self.first_error.lock().expect("counters lock").clone(),
        }
    }
}

/// Ticks at a fixed rate from its start. When the sender falls behind, the next ticks come at
/// once (the schedule is kept, not stretched), and the delay is recorded.
pub struct Pacer {
    start: Instant,
    period: Duration,
    ticks: u64,
    /// The largest delay between a tick's planned time and the moment it was taken.
    pub max_lag: Duration,
}

impl Pacer {
    pub fn new(per_second: f64) -> Pacer {
        Pacer {
            start: Instant::now(),
            period: Duration::from_secs_f64(1.0 / per_second.max(1e-3)),
            ticks: 0,
            max_lag: Duration::ZERO,
        }
    }

    /// Waits for the next tick, or returns None once `until` has passed.
    pub async fn tick(&mut self, until: Instant) -> Option<()> {
        let planned = self.start + self.period.mul_f64(self.ticks as f64);
        if planned >= until {
            return None;
        }
        tokio::time::sleep_until(planned).await;
        self.max_lag = self.max_lag.max(Instant::now() - planned);
        self.ticks += 1;
        Some(())
    }
}
