//! End-to-end latency histograms (HdrHistogram, microseconds, 3 significant digits, up to a
//! minute) and their summary in milliseconds.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt;

/// Longest latency recorded exactly: a minute, in microseconds; longer ones are clamped. The
/// bound keeps a histogram at about 140 KiB, cheap to merge every second.
const MAX_MICROS: u64 = 60_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// Records `nanos` (clamped to 1 µs .. 1 min).
pub fn record(histogram: &mut Histogram<u64>, nanos: u64) {
    let micros = (nanos / 1_000).clamp(1, MAX_MICROS);
    histogram.saturating_record(micros);
}

/// Percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |micros: u64| micros as f64 / 1_000.0;
        Latency {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 0 {
            return write!(f, "no samples");
        }
        write!(
            f,
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms ({} samples)",
            self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms, self.count
        )
    }
}
