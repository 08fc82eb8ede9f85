//! `silent`: N clients that connect, send their WebSocket handshake (with a valid token) and
//! then never read or write, held for a while, then gone without a close (the kernel resets
//! them). Reports each node's RSS before, while held, and after the node has let them all go:
//! what such clients cost, and whether the node gives the memory back.

use super::common::gateway_metric;
use crate::client::raw;
use crate::harness::Harness;
use crate::procstat::Sample;
use futures_util::{StreamExt, stream};
use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

#[derive(clap::Args, Clone, Debug)]
pub struct SilentArgs {
    /// Silent clients to open, round robin over the nodes.
    #[arg(long, default_value_t = 10_000)]
    pub sockets: usize,
    /// Seconds they are held once the nodes have them all, before they vanish.
    #[arg(long, default_value_t = 5)]
    pub hold: u64,
    /// Seconds the nodes get to see them all, and later to let them all go.
    #[arg(long, default_value_t = 30)]
    pub settle: u64,
    /// Seconds between the last session's end and the last memory reading (the node gives
    /// freed heap back within 5 s of a fall in sessions).
    #[arg(long, default_value_t = 10)]
    pub after: u64,
    /// Times the whole cycle (open, hold, vanish) runs, to tell memory the node keeps once
    /// (its high-water mark) from memory it leaks (growing with every cycle).
    #[arg(long, default_value_t = 1)]
    pub cycles: usize,
}

#[derive(Debug, Serialize)]
pub struct SilentResult {
    pub sockets: usize,
    pub cycles: Vec<Cycle>,
}

/// One open-hold-vanish cycle.
#[derive(Debug, Serialize)]
pub struct Cycle {
    /// Handshakes that could not even be written.
    pub failed: usize,
    /// Sessions the nodes held at the peak (`gateway_connections_open`).
    pub sessions_held: f64,
    /// Sessions still open once the settle time after the vanishing was over.
    pub sessions_left: f64,
    /// Before is the run's start for every cycle.
    pub nodes: Vec<NodeRss>,
}

#[derive(Debug, Serialize)]
pub struct NodeRss {
    pub node: String,
    pub before_mib: Option<f64>,
    pub held_mib: Option<f64>,
    pub after_mib: Option<f64>,
}

impl NodeRss {
    /// How far above the start the node ended, in percent.
    fn after_vs_before_percent(&self) -> Option<f64> {
        Some((self.after_mib? / self.before_mib? - 1.0) * 100.0)
    }
}

/// `gateway_connections_open` summed over the nodes.
async fn sessions(h: &Harness) -> f64 {
    let mut total = 0.0;
    for node in &h.cluster.nodes {
        total += gateway_metric(node, "gateway_connections_open")
            .await
            .unwrap_or(0.0);
    }
    total
}

/// Polls `sessions` until `done` says so or `within` has passed; returns the last count.
async fn wait_sessions(h: &Harness, within: Duration, done: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        let now = sessions(h).await;
        if done(now) || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn run(h: &Harness, args: &SilentArgs) -> anyhow::Result<SilentResult> {
    let before = h.cluster.watch.gateway_rss(&h.cluster.watch.sample());
    let mut cycles = Vec::new();
    for n in 0..args.cycles.max(1) {
        cycles.push(cycle(h, args, n, &before).await);
    }
    Ok(SilentResult {
        sockets: args.sockets,
        cycles,
    })
}

async fn cycle(
    h: &Harness,
    args: &SilentArgs,
    n: usize,
    before: &[(String, Option<u64>)],
) -> Cycle {
    let watch = &h.cluster.watch;
    let rss = |sample: &Sample| watch.gateway_rss(sample);
    let baseline = sessions(h).await;

    eprintln!(
        "silent: opening {} clients that never read or write",
        args.sockets
    );
    let nodes = h.cluster.nodes.len();
    let sources = u32::from(h.client.sources.max(1));
    let opened: Vec<Option<TcpStream>> = stream::iter(0..args.sockets)
        .map(|i| {
            let addr = h.cluster.nodes[i % nodes].addr;
            let source = IpAddr::V4(Ipv4Addr::from(
                u32::from(Ipv4Addr::new(127, 0, 0, 2)) + i as u32 % sources,
            ));
            let token = h.token(&h.id(&format!("silent{n}-"), i));
            async move { raw::upgrade(addr, source, &token).await.ok() }
        })
        .buffer_unordered(h.client.connect_concurrency)
        .collect()
        .await;
    let failed = opened.iter().filter(|s| s.is_none()).count();
    let expected = baseline + (args.sockets - failed) as f64;
    let settle = Duration::from_secs(args.settle);
    let sessions_held = wait_sessions(h, settle, |n| n >= expected).await;
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let held = rss(&watch.sample());

    eprintln!("silent: the clients vanish (reset, no close frame)");
    for stream in opened.into_iter().flatten() {
        let _ = stream.set_zero_linger();
    }
    let sessions_left = wait_sessions(h, settle, |n| n <= baseline).await;
    tokio::time::sleep(Duration::from_secs(args.after)).await;
    let after = rss(&watch.sample());

    let mib = |bytes: Option<u64>| bytes.map(|b| b as f64 / (1024.0 * 1024.0));
    let nodes = before
        .iter()
        .zip(&held)
        .zip(&after)
        .map(|(((node, b), (_, held)), (_, a))| NodeRss {
            node: node.clone(),
            before_mib: mib(*b),
            held_mib: mib(*held),
            after_mib: mib(*a),
        })
        .collect();
    Cycle {
        failed,
        sessions_held: sessions_held - baseline,
        sessions_left: sessions_left - baseline,
        nodes,
    }
}

impl fmt::Display for SilentResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.1}"));
        for (n, cycle) in self.cycles.iter().enumerate() {
            writeln!(
                f,
                "silent, cycle {}: {} clients that never read or write ({} could not connect); \
                 nodes held {} sessions, {} left after they vanished",
                n + 1,
                self.sockets,
                cycle.failed,
                cycle.sessions_held,
                cycle.sessions_left
            )?;
            cycle.fmt_nodes(f, &show)?;
        }
        Ok(())
    }
}

impl Cycle {
    fn fmt_nodes(
        &self,
        f: &mut fmt::Formatter<'_>,
        show: &dyn Fn(Option<f64>) -> String,
    ) -> fmt::Result {
        for node in &self.nodes {
            writeln!(
                f,
                "  {}: RSS {} MiB before, {} MiB held, {} MiB after ({} % of the start)",
                node.node,
                show(node.before_mib),
                show(node.held_mib),
                show(node.after_mib),
                node.after_vs_before_percent()
                    .map_or("?".to_owned(), |p| format!("{p:+.1}")),
            )?;
        }
        Ok(())
    }
}
