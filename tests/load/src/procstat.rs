//! CPU time and resident memory of the processes under load (`/proc/<pid>/stat` and
//! `/proc/<pid>/status`) and of this process (`getrusage`), sampled before and after a phase.

use serde::Serialize;
use std::time::Instant;

/// One process's counters at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// User plus system CPU time, all threads.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

/// Reads `/proc/<pid>`; None if the process is gone.
pub fn usage(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3, `state`;
    // utime and stime are fields 14 and 15.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(Usage {
        cpu_seconds: ticks as f64 / clock_ticks_per_second(),
        rss_bytes: rss_kib * 1024,
    })
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// CPU seconds used so far by this process (`who = RUSAGE_SELF`) or by its waited-for
/// children (`RUSAGE_CHILDREN`).
fn rusage_cpu(who: libc::c_int) -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// CPU seconds used so far by this load generator and the workers it has reaped.
pub fn own_cpu_seconds() -> f64 {
    rusage_cpu(libc::RUSAGE_SELF) + rusage_cpu(libc::RUSAGE_CHILDREN)
}

/// Other programs' share of the machine above which a phase's figures are flagged.
pub const DISTURBED: f64 = 0.10;

/// What a watched process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Gateway,
    Dispatcher,
    Redis,
    /// A load generator worker process (its CPU counts as the load generator's).
    Worker,
}

/// The processes whose resources a run reports.
#[derive(Clone, Debug, Default)]
pub struct Watch {
    procs: Vec<(Role, String, u32)>,
}

/// The whole machine's CPU time so far (`/proc/stat`), all cores.
#[derive(Clone, Copy, Debug, Default)]
pub struct MachineCpu {
    /// Time not idle (softirq included).
    pub busy_seconds: f64,
    /// Time in softirqs (network processing); here it is also charged to the process whose
    /// system call ran it, so it is part of the processes' figures too.
    pub softirq_seconds: f64,
}

/// Reads the first line of `/proc/stat`.
pub fn machine_cpu() -> MachineCpu {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let tick = |i: usize| ticks.get(i).copied().unwrap_or(0.0) / clock_ticks_per_second();
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    // inside user.
    let total: f64 = (0..8).map(tick).sum();
    MachineCpu {
        busy_seconds: total - tick(3) - tick(4),
        softirq_seconds: tick(6),
    }
}

/// Every watched process's usage, this process's CPU and the machine's, at one moment.
#[derive(Clone, Debug)]
pub struct Sample {
    pub at: Instant,
    pub procs: Vec<Option<Usage>>,
    pub own_cpu_seconds: f64,
    pub machine: MachineCpu,
}

impl Watch {
    pub fn add(&mut self, role: Role, name: impl Into<String>, pid: u32) {
        self.procs.push((role, name.into(), pid));
    }

    pub fn sample(&self) -> Sample {
        Sample {
            at: Instant::now(),
            procs: self.procs.iter().map(|(_, _, pid)| usage(*pid)).collect(),
            own_cpu_seconds: own_cpu_seconds(),
            machine: machine_cpu(),
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.procs.iter().any(|(r, _, _)| *r == role)
    }

    /// What changed between two samples. A process added to the watch after `before` was
    /// taken counts from zero.
    pub fn delta(&self, before: &Sample, after: &Sample) -> Resources {
        let at = |sample: &Sample, i: usize| sample.procs.get(i).copied().flatten();
        let cpu_of = |i: usize| {
            at(after, i).map_or(0.0, |a| {
                a.cpu_seconds - at(before, i).map_or(0.0, |b| b.cpu_seconds)
            })
        };
        let cpu = |role: Role| {
            self.has(role).then(|| {
                (0..self.procs.len())
                    .filter(|&i| self.procs[i].0 == role)
                    .map(cpu_of)
                    .sum::<f64>()
            })
        };
        let nodes = self
            .procs
            .iter()
            .enumerate()
            .filter(|(_, (r, _, _))| *r == Role::Gateway)
            .map(|(i, (_, name, _))| NodeMemory {
                node: name.clone(),
                rss_before_mib: at(before, i).map(|u| mib(u.rss_bytes)),
                rss_after_mib: at(after, i).map(|u| mib(u.rss_bytes)),
                rss_delta_bytes: at(after, i)
                    .zip(at(before, i))
                    .map(|(a, b)| a.rss_bytes as i64 - b.rss_bytes as i64),
            })
            .collect();
        let loadgen =
            after.own_cpu_seconds - before.own_cpu_seconds + cpu(Role::Worker).unwrap_or(0.0);
        let watched: f64 = (0..self.procs.len()).map(cpu_of).sum::<f64>() + loadgen;
        let busy = after.machine.busy_seconds - before.machine.busy_seconds;
        let softirq = after.machine.softirq_seconds - before.machine.softirq_seconds;
        Resources {
            wall_seconds: (after.at - before.at).as_secs_f64(),
            gateway_cpu_seconds: cpu(Role::Gateway),
            dispatcher_cpu_seconds: cpu(Role::Dispatcher),
            redis_cpu_seconds: cpu(Role::Redis),
            loadgen_cpu_seconds: loadgen,
            machine_busy_seconds: busy,
            machine_softirq_seconds: softirq,
            other_cpu_seconds: (busy - watched).max(0.0),
            gateways: nodes,
        }
    }

    /// Each gateway's RSS in bytes (None when gone), in the order they were added.
    pub fn gateway_rss(&self, sample: &Sample) -> Vec<(String, Option<u64>)> {
        self.procs
            .iter()
            .zip(&sample.procs)
            .filter(|((r, _, _), _)| *r == Role::Gateway)
            .map(|((_, name, _), usage)| (name.clone(), usage.map(|u| u.rss_bytes)))
            .collect()
    }
}

fn mib(bytes: u64) -> f64 {
    (bytes as f64 / 1_048_576.0 * 10.0).round() / 10.0
}

/// Resources used during a phase. CPU figures are None for processes not watched (an
/// external deployment without `--gateway-pids`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Resources {
    pub wall_seconds: f64,
    pub gateway_cpu_seconds: Option<f64>,
    pub dispatcher_cpu_seconds: Option<f64>,
    pub redis_cpu_seconds: Option<f64>,
    pub loadgen_cpu_seconds: f64,
    /// The machine's busy time over all cores, and the part of it in softirqs.
    pub machine_busy_seconds: f64,
    pub machine_softirq_seconds: f64,
    /// Busy time that no watched process accounts for: other programs on the machine. The two
    /// clocks differ by a few percent of the machine; beyond 10%, the figures are disturbed.
    pub other_cpu_seconds: f64,
    pub gateways: Vec<NodeMemory>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeMemory {
    pub node: String,
    pub rss_before_mib: Option<f64>,
    pub rss_after_mib: Option<f64>,
    pub rss_delta_bytes: Option<i64>,
}

impl Resources {
    /// Gateway CPU microseconds per delivery (= CPU seconds per million deliveries).
    pub fn gateway_us_per(&self, deliveries: u64) -> Option<f64> {
        self.gateway_cpu_seconds.map(|s| per_million(s, deliveries))
    }

    /// Load generator CPU microseconds per delivery.
    pub fn loadgen_us_per(&self, deliveries: u64) -> f64 {
        per_million(self.loadgen_cpu_seconds, deliveries)
    }

    /// Other programs' share of the machine's capacity during the phase (0 to 1).
    pub fn disturbance(&self) -> f64 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        self.other_cpu_seconds / (self.wall_seconds * cores).max(1e-9)
    }

    /// A warning when other programs used more than 10% of the machine.
    pub fn disturbance_warning(&self) -> Option<String> {
        let share = self.disturbance();
        (share > DISTURBED).then(|| {
            format!(
                "WARNING: other programs used {:.0}% of the machine meanwhile; figures are disturbed",
                share * 100.0
            )
        })
    }
}

fn per_million(seconds: f64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        seconds * 1e6 / count as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_read() {
        let me = usage(std::process::id()).expect("/proc/self");
        assert!(me.rss_bytes > 0);
        assert!(own_cpu_seconds() >= 0.0);
    }
}
