//! `idle`: N authenticated sockets spread round robin over the nodes, each subscribed to its
//! own channel (and, automatically, `user:<id>` and `global`). Reports the connect rate and
//! latency, gateway CPU per connect, and gateway memory per socket; checks with Redis' own
//! counters that each channel is subscribed by exactly one node. While the sockets open, each
//! node's RSS growth and open connections are sampled (the `ramp`: memory per socket against
//! sockets held). With `--workers K` the sockets are held by K child processes (more than one
//! process may hold here).

use super::common::gateway_metric;
use crate::fleet::{Fleet, SocketPlan};
use crate::harness::Harness;
use crate::ledger::Ledger;
use crate::opening::{ConnectReport, Opening};
use crate::procstat::{Resources, Role, Sample, Watch};
use crate::progress::Progress;
use crate::provision::{ChannelPlan, provision};
use crate::redis::RedisCounters;
use crate::workers::{WorkerId, Workers, tell_parent, wait_for_parent};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the ramp is sampled while the sockets open.
const RAMP_EVERY: Duration = Duration::from_millis(250);

#[derive(clap::Args, Clone, Debug)]
pub struct IdleArgs {
    /// Sockets to open, spread round robin over the nodes.
    #[arg(long, default_value_t = 1000)]
    pub sockets: usize,
    /// Seconds the sockets stay open after the last one opened, before memory is read.
    #[arg(long, default_value_t = 5)]
    pub hold: u64,
    /// Channels the sockets share: socket i joins channel i mod N, whose members they all
    /// are (0: a channel of its own for every socket).
    #[arg(long, default_value_t = 0)]
    pub channels: usize,
    /// After the hold, run the `chat` mix (its own users, sockets and rooms; the `chat`
    /// options below) while the idle sockets stay open.
    #[arg(long)]
    pub then_chat: bool,
    #[command(flatten)]
    pub chat: super::chat::ChatArgs,
}

#[derive(Debug, Serialize)]
pub struct IdleResult {
    pub sockets: usize,
    /// Load generator processes holding the sockets.
    pub workers: usize,
    pub connect: ConnectReport,
    pub connects_per_second_per_node: f64,
    /// Gateway CPU while the sockets opened, per socket opened.
    pub gateway_cpu_us_per_connect: Option<f64>,
    pub connect_resources: Resources,
    /// From before the first connect to the end of the hold.
    pub memory: Resources,
    pub nodes: Vec<NodeFigures>,
    /// Each node's sockets and RSS growth while the sockets opened, every 250 ms and once
    /// when all had opened (empty when the gateways' memory is not watched).
    pub ramp: Vec<RampPoint>,
    /// Channels subscribed (PUBSUB NUMSUB) by exactly one node, by none, by several.
    /// False on a Redis Cluster: sharded subscriptions are not counted by PUBSUB NUMSUB, and
    /// the three counts below are then 0.
    pub channels_counted: bool,
    pub channels_on_one_node: usize,
    pub channels_on_no_node: usize,
    pub channels_on_several_nodes: usize,
    pub sockets_failed: u64,
    /// Redis, summed over its servers, while the sockets were held (after the first 5 s of
    /// the hold): commands per second, and calls per command over that window.
    pub redis_held: Option<RedisHeld>,
    /// The chat mix run after the hold, with the idle sockets still open.
    pub chat: Option<super::chat::ChatResult>,
}

#[derive(Debug, Serialize)]
pub struct RedisHeld {
    pub seconds: f64,
    pub commands_per_second: f64,
    pub calls: std::collections::BTreeMap<String, u64>,
    /// `used_memory` at the end of the hold, all servers.
    pub used_memory_mib: f64,
}

#[derive(Debug, Serialize)]
pub struct NodeFigures {
    pub node: String,
    pub sockets: usize,
    pub rss_bytes_per_socket: Option<f64>,
    /// `gateway_redis_subscriptions`: channels this node subscribes to.
    pub redis_subscriptions: Option<f64>,
}

/// One moment of the ramp.
#[derive(Debug, Serialize)]
pub struct RampPoint {
    /// Since the first connect.
    pub seconds: f64,
    pub nodes: Vec<RampNode>,
}

#[derive(Debug, Serialize)]
pub struct RampNode {
    pub node: String,
    /// Open connections (`gateway_connections_open`).
    pub sockets: u64,
    /// RSS now minus before the first connect.
    pub rss_delta_bytes: i64,
}

/// Samples each node's open connections and RSS growth every [`RAMP_EVERY`] until `done`,
/// then once more.
async fn sample_ramp(
    h: &Harness,
    watch: &Watch,
    before: &Sample,
    done: CancellationToken,
) -> Vec<RampPoint> {
    let base = watch.gateway_rss(before);
    let mut ramp = Vec::new();
    let mut tick = tokio::time::interval(RAMP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            biased;
            _ = done.cancelled() => true,
            _ = tick.tick() => false,
        };
        let rss = watch.gateway_rss(&watch.sample());
        let of = |name: &str, rss: &[(String, Option<u64>)]| {
            rss.iter().find(|(n, _)| n == name).and_then(|(_, b)| *b)
        };
        let mut nodes = Vec::new();
        for node in &h.cluster.nodes {
            let sockets = gateway_metric(node, "gateway_connections_open").await;
            let delta = of(&node.name, &rss)
                .zip(of(&node.name, &base))
                .map(|(now, then)| now as i64 - then as i64);
            if let (Some(sockets), Some(delta)) = (sockets, delta) {
                nodes.push(RampNode {
                    node: node.name.clone(),
                    sockets: sockets as u64,
                    rss_delta_bytes: delta,
                });
            }
        }
        if !nodes.is_empty() {
            ramp.push(RampPoint {
                seconds: before.at.elapsed().as_secs_f64(),
                nodes,
            });
        }
        if last {
            return ramp;
        }
    }
}

/// This run's channels: one per socket, owned by the socket's user, or `args.channels`
/// shared ones, channel k owned by socket k's user with sockets k + N, k + 2N, … as members.
fn channels(h: &Harness, args: &IdleArgs) -> Vec<ChannelPlan> {
    let count = channel_count(args);
    (0..count)
        .map(|k| ChannelPlan {
            id: h.id("ic", k),
            owner: h.id("iu", k),
            members: (k + count..args.sockets)
                .step_by(count)
                .map(|i| h.id("iu", i))
                .collect(),
        })
        .collect()
}

fn channel_count(args: &IdleArgs) -> usize {
    match args.channels {
        0 => args.sockets,
        n => n.min(args.sockets).max(1),
    }
}

/// The sockets to open (those `worker` owns, or all), round robin over the nodes; socket i
/// is user i's, in channel i mod the channel count.
fn plans(h: &Harness, args: &IdleArgs, worker: Option<WorkerId>) -> Vec<SocketPlan> {
    let (nodes, count) = (h.cluster.nodes.len(), channel_count(args));
    (0..args.sockets)
        .filter(|i| worker.is_none_or(|w| w.owns(*i)))
        .map(|i| SocketPlan::new(h, h.id("iu", i), i % nodes, vec![i % count]))
        .collect()
}

/// Who holds the sockets: this process, or worker processes.
enum Holders {
    Here(Fleet),
    Workers(Workers),
}

impl Holders {
    /// Closes every socket; returns how many had been closed early.
    async fn stop(self) -> anyhow::Result<u64> {
        Ok(match self {
            Holders::Here(fleet) => {
                let outcomes = fleet.stop().await;
                outcomes.iter().filter(|o| o.failure.is_some()).count() as u64
            }
            Holders::Workers(workers) => workers.stop::<u64>().await?.iter().sum(),
        })
    }
}

/// Opens the sockets here (`workers` ≤ 1) or in `workers` child processes.
async fn open(
    h: &Harness,
    args: &IdleArgs,
    channels: &[ChannelPlan],
    workers: usize,
) -> anyhow::Result<(Opening, Holders)> {
    if workers > 1 {
        let scenario = [
            "idle",
            "--sockets",
            &args.sockets.to_string(),
            "--channels",
            &args.channels.to_string(),
        ]
        .map(String::from);
        let mut children = Workers::spawn(h, workers, &scenario)?;
        let mut opening = Opening::default();
        for part in children.collect::<Opening>().await? {
            opening.merge(&part);
        }
        return Ok((opening, Holders::Workers(children)));
    }
    let ledger = Arc::new(Ledger::new(channels.iter().map(|c| c.id.clone())));
    let mut fleet = Fleet::new(ledger);
    let plans = plans(h, args, None);
    let opening = fleet.open_all(h, plans, h.client.connect_concurrency).await;
    Ok((opening, Holders::Here(fleet)))
}

/// A worker's part: opens its share of the sockets, reports how that went, holds them until
/// the parent says stop, then reports how many closed early.
pub async fn run_worker(h: &Harness, args: &IdleArgs, worker: WorkerId) -> anyhow::Result<()> {
    let channels = channels(h, args);
    let ledger = Arc::new(Ledger::new(channels.iter().map(|c| c.id.clone())));
    let mut fleet = Fleet::new(ledger);
    let plans = plans(h, args, Some(worker));
    let opening = fleet.open_all(h, plans, h.client.connect_concurrency).await;
    tell_parent(&opening)?;
    wait_for_parent().await;
    tell_parent(&Holders::Here(fleet).stop().await?)
}

pub async fn run(h: &Harness, args: &IdleArgs, workers: usize) -> anyhow::Result<IdleResult> {
    let nodes = h.cluster.nodes.len();
    let channels = channels(h, args);
    provision(&h.api, &channels, h.client.http_concurrency).await?;
    // The chat mix's rooms are created now: each creation goes to every socket on `global`.
    let chat_plan = match args.then_chat {
        true => Some(super::chat::provisioned(h, &args.chat).await?),
        false => None,
    };

    let mut watch = h.cluster.watch.clone();
    let progress = Progress::start(h.stats.clone(), Vec::new(), watch.clone());
    progress.phase(format!("idle: opening {} sockets", args.sockets));
    let before = watch.sample();
    let opened_all = CancellationToken::new();
    let (opened, ramp) = tokio::join!(
        async {
            let opened = open(h, args, &channels, workers).await;
            opened_all.cancel();
            opened
        },
        sample_ramp(h, &watch, &before, opened_all.clone())
    );
    let (opening, holders) = opened?;
    if let Holders::Workers(children) = &holders {
        for (i, pid) in children.pids().into_iter().enumerate() {
            watch.add(Role::Worker, format!("worker-{i}"), pid);
        }
    }
    let connect = opening.report();
    let opened = watch.sample();
    progress.phase(format!("idle: holding {} sockets", connect.opened));
    let redis_held = hold(h, args.hold).await?;
    let held = watch.sample();
    progress.stop();

    let connect_resources = watch.delta(&before, &opened);
    let memory = watch.delta(&before, &held);
    let mut node_figures = Vec::new();
    for (i, node) in h.cluster.nodes.iter().enumerate() {
        let sockets = (0..args.sockets).filter(|s| s % nodes == i).count();
        let rss = memory.gateways.iter().find(|m| m.node == node.name);
        node_figures.push(NodeFigures {
            node: node.name.clone(),
            sockets,
            rss_bytes_per_socket: rss
                .and_then(|m| m.rss_delta_bytes)
                .map(|d| d as f64 / sockets.max(1) as f64),
            redis_subscriptions: gateway_metric(node, "gateway_redis_subscriptions").await,
        });
    }
    let rooms: Vec<String> = channels
        .iter()
        .map(|c| format!("channel:{}", c.id))
        .collect();
    // Sharded pub/sub (a Redis Cluster) is not counted by PUBSUB NUMSUB.
    let numsub = match h.cluster.redis_nodes.len() {
        1 => {
            RedisCounters::connect(&h.cluster.redis_nodes)
                .await?
                .numsub(&rooms)
                .await?
        }
        _ => Vec::new(),
    };
    let chat = match chat_plan {
        Some(plan) => Some(super::chat::run_planned(h, &args.chat, None, plan).await?),
        None => None,
    };
    let sockets_failed = holders.stop().await?;
    Ok(IdleResult {
        sockets: args.sockets,
        workers: workers.max(1),
        connects_per_second_per_node: connect.per_second / nodes as f64,
        gateway_cpu_us_per_connect: connect_resources
            .gateway_cpu_seconds
            .map(|s| s * 1e6 / connect.opened.max(1) as f64),
        connect,
        connect_resources,
        memory,
        nodes: node_figures,
        ramp,
        channels_counted: h.cluster.redis_nodes.len() == 1,
        channels_on_one_node: numsub.iter().filter(|&&n| n == 1).count(),
        channels_on_no_node: numsub.iter().filter(|&&n| n == 0).count(),
        channels_on_several_nodes: numsub.iter().filter(|&&n| n > 1).count(),
        sockets_failed,
        redis_held,
        chat,
    })
}

/// Holds for `seconds`; after the first 5 (the last sockets' joins settle), Redis' counters
/// are read at the start and the end of the rest.
async fn hold(h: &Harness, seconds: u64) -> anyhow::Result<Option<RedisHeld>> {
    const SETTLE: u64 = 5;
    if seconds <= SETTLE {
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        return Ok(None);
    }
    tokio::time::sleep(Duration::from_secs(SETTLE)).await;
    let mut redis = RedisCounters::connect(&h.cluster.redis_nodes).await?;
    let (before, started) = (redis.commands().await?, std::time::Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds - SETTLE)).await;
    let after = redis.commands().await?;
    let elapsed = started.elapsed().as_secs_f64();
    let calls = before.delta(&after);
    Ok(Some(RedisHeld {
        seconds: elapsed,
        commands_per_second: calls.values().sum::<u64>() as f64 / elapsed,
        calls,
        used_memory_mib: redis.used_memory_bytes().await? as f64 / 1_048_576.0,
    }))
}

impl fmt::Display for IdleResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.connect;
        writeln!(
            f,
            "idle: {} sockets over {} nodes, held by {} load generator process(es)",
            self.sockets,
            self.nodes.len(),
            self.workers
        )?;
        writeln!(
            f,
            "  opened {} (failed {}) in {:.2} s: {:.0} sockets/s, {:.0} per node",
            c.opened, c.failed, c.seconds, c.per_second, self.connects_per_second_per_node
        )?;
        if let Some(e) = &c.first_error {
            writeln!(f, "  first error: {e}")?;
        }
        writeln!(f, "  connect to READY: {}", c.connect_latency)?;
        writeln!(f, "  SUBSCRIBE to SUBSCRIBED: {}", c.subscribe_latency)?;
        if let Some(us) = self.gateway_cpu_us_per_connect {
            writeln!(f, "  gateway CPU per connect: {us:.0} µs")?;
        }
        for n in &self.nodes {
            let per_socket = n
                .rss_bytes_per_socket
                .map_or("n/a".into(), |b| format!("{:.1} KiB", b / 1024.0));
            let subs = n
                .redis_subscriptions
                .map_or("n/a".into(), |s| format!("{s:.0}"));
            writeln!(
                f,
                "  {}: {} sockets, RSS per socket {per_socket}, Redis subscriptions {subs}",
                n.node, n.sockets
            )?;
        }
        if self.channels_counted {
            writeln!(
                f,
                "  PUBSUB NUMSUB per channel: 1 node for {}, none for {}, several for {}",
                self.channels_on_one_node, self.channels_on_no_node, self.channels_on_several_nodes
            )?;
        } else {
            writeln!(
                f,
                "  channels per node: not counted (sharded pub/sub on a Redis Cluster)"
            )?;
        }
        if let Some(r) = &self.redis_held {
            let calls: Vec<String> = r.calls.iter().map(|(c, n)| format!("{c} {n}")).collect();
            writeln!(
                f,
                "  Redis while held ({:.0} s): {:.1} commands/s ({}); used_memory {:.1} MiB",
                r.seconds,
                r.commands_per_second,
                calls.join(", "),
                r.used_memory_mib
            )?;
        }
        if let Some(chat) = &self.chat {
            writeln!(f, "then, with the idle sockets still open:")?;
            writeln!(f, "{chat}")?;
        }
        write!(
            f,
            "  sockets closed early: {}; loadgen CPU while connecting: {:.2} s",
            self.sockets_failed, self.connect_resources.loadgen_cpu_seconds
        )?;
        if let Some(warning) = self.memory.disturbance_warning() {
            write!(f, "\n  {warning}")?;
        }
        Ok(())
    }
}
