//! How a batch of sockets opened: counts, time taken, and the latency from TCP connect to
//! READY and from SUBSCRIBE to SUBSCRIBED. Mergeable, and serialisable as (value, count) pairs,
//! so worker processes can hand theirs to the parent.

use crate::latency::{self, Latency};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(into = "Wire", from = "Wire")]
pub struct Opening {
    pub opened: u64,
    pub failed: u64,
    /// Wall time of the batch (the longest one when merged).
    pub seconds: f64,
    pub first_error: Option<String>,
    connect: Histogram<u64>,
    subscribe: Histogram<u64>,
}

/// The summary of an [`Opening`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConnectReport {
    pub opened: u64,
    pub failed: u64,
    pub seconds: f64,
    /// Sockets opened (READY and every SUBSCRIBED) per second, over all nodes.
    pub per_second: f64,
    /// From the TCP connect to READY.
    pub connect_latency: Latency,
    /// From the first SUBSCRIBE sent to the last SUBSCRIBED read.
    pub subscribe_latency: Latency,
    pub first_error: Option<String>,
}

impl Default for Opening {
    fn default() -> Self {
        Opening {
            opened: 0,
            failed: 0,
            seconds: 0.0,
            first_error: None,
            connect: latency::histogram(),
            subscribe: latency::histogram(),
        }
    }
}

impl Opening {
    /// A socket opened: READY after `to_ready`, every SUBSCRIBED after `to_subscribed`.
    pub fn opened(&mut self, to_ready: Duration, to_subscribed: Duration) {
        self.opened += 1;
        latency::record(&mut self.connect, to_ready.as_nanos() as u64);
        latency::record(&mut self.subscribe, to_subscribed.as_nanos() as u64);
    }

    pub fn failed(&mut self, error: &anyhow::Error) {
        self.failed += 1;
        self.first_error.get_or_insert_with(|| format!("{error:#}"));
    }

    /// Adds another batch that ran at the same time (in another process).
    pub fn merge(&mut self, other: &Opening) {
        self.opened += other.opened;
        self.failed += other.failed;
        self.seconds = self.seconds.max(other.seconds);
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        self.connect.add(&other.connect).expect("same bounds");
        self.subscribe.add(&other.subscribe).expect("same bounds");
    }

    pub fn report(&self) -> ConnectReport {
        ConnectReport {
            opened: self.opened,
            failed: self.failed,
            seconds: self.seconds,
            per_second: self.opened as f64 / self.seconds.max(1e-9),
            connect_latency: Latency::of(&self.connect),
            subscribe_latency: Latency::of(&self.subscribe),
            first_error: self.first_error.clone(),
        }
    }
}

/// An [`Opening`] on the wire: histograms as (microseconds, count) pairs.
#[derive(Serialize, Deserialize)]
struct Wire {
    opened: u64,
    failed: u64,
    seconds: f64,
    first_error: Option<String>,
    connect: Vec<(u64, u64)>,
    subscribe: Vec<(u64, u64)>,
}

impl From<Opening> for Wire {
    fn from(o: Opening) -> Wire {
        let pairs = |h: &Histogram<u64>| {
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect()
        };
        Wire {
            connect: pairs(&o.connect),
            subscribe: pairs(&o.subscribe),
            opened: o.opened,
            failed: o.failed,
            seconds: o.seconds,
            first_error: o.first_error,
        }
    }
}

impl From<Wire> for Opening {
    fn from(w: Wire) -> Opening {
        let histogram = |pairs: &[(u64, u64)]| {
            let mut h = latency::histogram();
            for &(micros, count) in pairs {
                h.saturating_record_n(micros, count);
            }
            h
        };
        Opening {
            connect: histogram(&w.connect),
            subscribe: histogram(&w.subscribe),
            opened: w.opened,
            failed: w.failed,
            seconds: w.seconds,
            first_error: w.first_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opening_survives_the_wire_and_merges() {
        let mut a = Opening::default();
        a.opened(Duration::from_millis(3), Duration::from_millis(1));
        a.seconds = 2.0;
        let json = serde_json::to_string(&a).unwrap();
        let mut b: Opening = serde_json::from_str(&json).unwrap();
        b.merge(&a);
        let report = b.report();
        assert_eq!(report.opened, 2);
        assert_eq!(report.per_second, 1.0);
        assert!((2.9..3.1).contains(&report.connect_latency.p50_ms));
    }
}
