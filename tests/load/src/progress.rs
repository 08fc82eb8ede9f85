//! The progress line, once a second on stderr, and the latency samples of the current phase
//! (the line shows the last second's p99; the phase keeps all of them).

use crate::latency::{self, Latency};
use crate::procstat::{DISTURBED, Role, Sample, Watch};
use crate::publish::SendCounters;
use crate::stats::Stats;
use hdrhistogram::Histogram;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

pub struct Progress {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    stats: Arc<Stats>,
    sent: Vec<(&'static str, Arc<SendCounters>)>,
    phase: Mutex<String>,
    /// Latency samples of the current phase drained so far.
    phase_latency: Mutex<Histogram<u64>>,
}

impl Progress {
    /// Starts printing. `sent` names the send counters to show.
    pub fn start(
        stats: Arc<Stats>,
        sent: Vec<(&'static str, Arc<SendCounters>)>,
        watch: Watch,
    ) -> Progress {
        let shared = Arc::new(Shared {
            stats,
            sent,
            phase: Mutex::new("start".into()),
            phase_latency: Mutex::new(latency::histogram()),
        });
        let task = tokio::spawn(print_every_second(shared.clone(), watch));
        Progress { shared, task }
    }

    /// Names what the run does now (shown on each line).
    pub fn phase(&self, name: impl Into<String>) {
        *self.shared.phase.lock().expect("progress lock") = name.into();
    }

    /// Every latency sample since the last call, and starts a new phase's collection.
    pub fn take_latency(&self) -> Histogram<u64> {
        let mut phase = self.shared.phase_latency.lock().expect("progress lock");
        phase
            .add(self.shared.stats.drain_latency())
            .expect("same bounds");
        std::mem::replace(&mut *phase, latency::histogram())
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

async fn print_every_second(shared: Arc<Shared>, watch: Watch) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut previous = (watch.sample(), shared.stats.probes());
    loop {
        tick.tick().await;
        let second = {
            // Drained under the phase lock, so no sample lands in the wrong phase.
            let mut phase = shared.phase_latency.lock().expect("progress lock");
            let second = shared.stats.drain_latency();
            phase.add(&second).expect("same bounds");
            second
        };
        let now = (watch.sample(), shared.stats.probes());
        let line = render(&shared, &watch, started, (&previous, &now), &second);
        eprintln!("{line}");
        previous = now;
    }
}

fn render(
    shared: &Shared,
    watch: &Watch,
    started: Instant,
    ((before, probes_before), (after, probes_after)): (&(Sample, u64), &(Sample, u64)),
    second: &Histogram<u64>,
) -> String {
    let stats = &shared.stats;
    let wall = (after.at - before.at).as_secs_f64().max(1e-9);
    let mut line = format!(
        "[{:>4}s] {} | sockets {}",
        started.elapsed().as_secs(),
        shared.phase.lock().expect("progress lock"),
        stats.open()
    );
    for (name, counters) in &shared.sent {
        let s = counters.snapshot();
        let _ = write!(
            line,
            " | {name} {} ok {} failed {}",
            s.sent, s.acked, s.failed
        );
    }
    let rate = (probes_after - probes_before) as f64 / wall;
    let _ = write!(
        line,
        " | delivered {probes_after} ({rate:.0}/s, p99 {:.1} ms)",
        Latency::of(second).p99_ms
    );
    let typing = stats.typings();
    if typing > 0 {
        let _ = write!(line, " + typing {typing}");
    }
    let resources = watch.delta(before, after);
    if let Some(cpu) = resources.gateway_cpu_seconds {
        let _ = write!(line, " | gateway cpu {:.0}%", cpu / wall * 100.0);
    }
    if watch.has(Role::Dispatcher) {
        let cpu = resources.dispatcher_cpu_seconds.unwrap_or(0.0);
        let _ = write!(line, " | dispatcher {:.0}%", cpu / wall * 100.0);
    }
    let _ = write!(
        line,
        " | loadgen cpu {:.0}%",
        resources.loadgen_cpu_seconds / wall * 100.0
    );
    let other = resources.disturbance();
    if other > DISTURBED {
        let _ = write!(
            line,
            " | OTHER PROGRAMS {:.0}% of the machine",
            other * 100.0
        );
    }
    let errors = stats.connect_errors.load(Relaxed) + stats.unexpected_closes.load(Relaxed);
    if errors > 0 {
        let _ = write!(line, " | socket errors {errors}");
    }
    line
}
