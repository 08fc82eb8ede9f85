//! `churn`: a room with stable subscribers while other sockets keep arriving (joining the
//! room) and leaving after a fixed lifetime, at a steady rate, as events flow. Reports the
//! churn connect rate and latency, and checks deliveries: all of them to the stable sockets,
//! and to each newcomer everything published after its SUBSCRIBED until it left or the run
//! ended; order and uniqueness for every socket.

use super::common::{PublishArgs, gateway_metric, publisher, settle};
use crate::fleet::{Fleet, SocketPlan};
use crate::harness::Harness;
use crate::latency::Latency;
use crate::ledger::Ledger;
use crate::opening::{ConnectReport, Opening};
use crate::procstat::Resources;
use crate::progress::Progress;
use crate::provision::{ChannelPlan, provision};
use crate::publish::{Pacer, SendCounters, Sent};
use crate::verify::Verdict;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(clap::Args, Clone, Debug)]
pub struct ChurnArgs {
    /// Sockets that stay in the room for the whole run.
    #[arg(long, default_value_t = 500)]
    pub subscribers: usize,
    /// New sockets per second joining the room.
    #[arg(long, default_value_t = 100.0)]
    pub churn_rate: f64,
    /// Seconds each new socket stays before it closes.
    #[arg(long, default_value_t = 5.0)]
    pub lifetime: f64,
    /// Events per second published in the room.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Seconds of churn and traffic.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    #[command(flatten)]
    pub publish: PublishArgs,
    /// Longest wait, in seconds, for deliveries to finish after the traffic.
    #[arg(long, default_value_t = 10)]
    pub drain: u64,
}

#[derive(Debug, Serialize)]
pub struct ChurnResult {
    pub stable: ConnectReport,
    /// The arriving sockets: how many opened, how fast, with which latency.
    pub churn: ConnectReport,
    pub seconds: f64,
    pub events: Sent,
    pub verdict: Verdict,
    pub deliveries_per_second: f64,
    pub latency: Latency,
    pub resources: Resources,
    pub gateway_us_per_delivery: Option<f64>,
    pub loadgen_us_per_delivery: f64,
    /// After the traffic settled: sockets the gateways count as open, and the client's count.
    pub gateway_connections_open: Option<f64>,
    pub client_sockets_open: u64,
}

pub async fn run(h: &Harness, args: &ChurnArgs) -> anyhow::Result<ChurnResult> {
    let nodes = h.cluster.nodes.len();
    let lifetime = Duration::from_secs_f64(args.lifetime);
    let stable: Vec<String> = (0..args.subscribers).map(|i| h.id("s", i)).collect();
    // Arriving users are reused round robin; enough of them that one is rarely still online.
    let pool = ((args.churn_rate * (args.lifetime + 1.0)).ceil() as usize).max(1);
    let arriving: Vec<String> = (0..pool).map(|i| h.id("a", i)).collect();
    let owner = h.id("owner", 0);
    let room = ChannelPlan {
        id: h.id("churn", 0),
        owner: owner.clone(),
        members: stable.iter().chain(&arriving).cloned().collect(),
    };
    provision(
        &h.api,
        std::slice::from_ref(&room),
        h.client.http_concurrency,
    )
    .await?;
    let ledger = Arc::new(Ledger::new([room.id.clone()]));
    let plan = |user: &String, i: usize| SocketPlan::new(h, user.clone(), i % nodes, vec![0]);

    let messages = Arc::new(SendCounters::default());
    let watch = &h.cluster.watch;
    let progress = Progress::start(
        h.stats.clone(),
        vec![("events", messages.clone())],
        watch.clone(),
    );
    let mut fleet = Fleet::new(ledger.clone());
    progress.phase(format!(
        "churn: opening {} stable sockets",
        args.subscribers
    ));
    let plans = stable.iter().enumerate().map(|(i, u)| plan(u, i)).collect();
    let stable_report = fleet
        .open_all(h, plans, h.client.connect_concurrency)
        .await
        .report();
    let mut publisher = publisher(h, &args.publish, &ledger, &messages, &owner).await?;

    progress.phase(format!(
        "churn: {}/s arriving for {} s, {} events/s",
        args.churn_rate, args.lifetime, args.rate
    ));
    progress.take_latency();
    let (before, probes_before) = (watch.sample(), h.stats.probes());
    let started = Instant::now();
    let until = started + Duration::from_secs(args.duration);
    let (mut events, mut arrivals) = (Pacer::new(args.rate), Pacer::new(args.churn_rate));
    let mut churn = Opening::default();
    let mut opening = FuturesUnordered::new();
    let mut tasks = Vec::new();
    let mut next_user = 0;
    loop {
        tokio::select! {
            Some(()) = events.tick(until) => publisher.message(0, &owner).await?,
            Some(()) = arrivals.tick(until) => {
                let plan = plan(&arriving[next_user % pool], next_user);
                next_user += 1;
                opening.push(fleet.open(h, plan, Some(lifetime)));
            }
            Some(opened) = opening.next() => match opened {
                Ok((task, (to_ready, to_subscribed))) => {
                    tasks.push(task);
                    churn.opened(to_ready, to_subscribed);
                }
                Err(e) => churn.failed(&e),
            },
            else => break,
        }
    }
    drop(opening);
    let seconds = started.elapsed().as_secs_f64();
    churn.seconds = seconds;
    for task in tasks {
        fleet.adopt(task);
    }
    progress.phase("churn: draining");
    publisher.finish().await?;
    settle(h, &[&messages], None, Duration::from_secs(args.drain)).await;
    let after = watch.sample();
    let latency = Latency::of(&progress.take_latency());
    progress.stop();
    let mut gateway_open = Some(0.0);
    for node in &h.cluster.nodes {
        let open = gateway_metric(node, "gateway_connections_open").await;
        gateway_open = gateway_open.zip(open).map(|(a, b)| a + b);
    }
    let client_sockets_open = h.stats.open();
    let outcomes = fleet.stop().await;

    let deliveries = h.stats.probes() - probes_before;
    let resources = watch.delta(&before, &after);
    Ok(ChurnResult {
        stable: stable_report,
        churn: churn.report(),
        seconds,
        events: messages.snapshot(),
        verdict: Verdict::of(&ledger, &outcomes, None),
        deliveries_per_second: deliveries as f64 / seconds,
        latency,
        gateway_us_per_delivery: resources.gateway_us_per(deliveries),
        loadgen_us_per_delivery: resources.loadgen_us_per(deliveries),
        resources,
        gateway_connections_open: gateway_open,
        client_sockets_open,
    })
}

impl fmt::Display for ChurnResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, c) = (&self.stable, &self.churn);
        writeln!(
            f,
            "churn: {} stable sockets ({} failed)",
            s.opened, s.failed
        )?;
        writeln!(
            f,
            "  arriving: {} opened ({} failed) in {:.1} s, {:.0}/s; connect {}",
            c.opened, c.failed, c.seconds, c.per_second, c.connect_latency
        )?;
        if let Some(e) = &c.first_error {
            writeln!(f, "  first error: {e}")?;
        }
        writeln!(
            f,
            "  events {} sent {} acked; {:.0} deliveries/s; {}",
            self.events.sent, self.events.acked, self.deliveries_per_second, self.verdict
        )?;
        writeln!(f, "  latency {}", self.latency)?;
        writeln!(
            f,
            "  {}",
            crate::report::cpu_per_delivery(
                self.gateway_us_per_delivery,
                self.loadgen_us_per_delivery
            )
        )?;
        write!(
            f,
            "  after settling: gateways count {} open sockets, the client {}",
            self.gateway_connections_open
                .map_or("n/a".into(), |n| format!("{n:.0}")),
            self.client_sockets_open
        )?;
        if let Some(warning) = self.resources.disturbance_warning() {
            write!(f, "\n  {warning}")?;
        }
        Ok(())
    }
}
