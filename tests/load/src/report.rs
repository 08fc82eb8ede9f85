//! A run's results: the human summary goes to stdout, and `--json PATH` writes the same figures,
//! with the command and the machine, for comparisons between runs.

use anyhow::Context;
use serde::Serialize;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Serialize)]
pub struct Report<'a, T: Serialize> {
    pub scenario: &'a str,
    /// The command line that produced it.
    pub command: Vec<String>,
    pub finished_unix: u64,
    pub machine: Machine,
    pub gateway_nodes: usize,
    /// True when the load generator started the cluster itself.
    pub own_cluster: bool,
    pub result: &'a T,
}

#[derive(Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
}

impl Machine {
    pub fn this() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
                .unwrap_or_default(),
        }
    }
}

impl<'a, T: Serialize> Report<'a, T> {
    pub fn new(scenario: &'a str, gateway_nodes: usize, own_cluster: bool, result: &'a T) -> Self {
        Report {
            scenario,
            command: std::env::args().collect(),
            finished_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            machine: Machine::this(),
            gateway_nodes,
            own_cluster,
            result,
        }
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(path, json + "\n").with_context(|| format!("write {}", path.display()))
    }
}

/// The summary line with both CPU costs per delivery (the gateway's is unknown against a
/// deployment whose processes are not watched).
pub fn cpu_per_delivery(gateway_us: Option<f64>, loadgen_us: f64) -> String {
    let gateway = gateway_us.map_or("n/a".into(), |us| format!("{us:.2} µs"));
    format!("CPU per delivery: gateway {gateway}, load generator {loadgen_us:.2} µs")
}
