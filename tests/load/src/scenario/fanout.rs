//! `fanout`: one room with N subscribers spread over the nodes; probe events published at a
//! fixed rate (several rates run one after the other on the same sockets), through the
//! dispatcher or straight into Redis. Per rate: deliveries/s, loss, end-to-end latency, gateway
//! and load generator CPU per delivery, and Redis commands per event.

use super::common::{PublishArgs, RedisOps, publisher, settle};
use crate::fleet::{Fleet, SocketPlan};
use crate::harness::Harness;
use crate::latency::Latency;
use crate::ledger::Ledger;
use crate::opening::ConnectReport;
use crate::procstat::Resources;
use crate::progress::Progress;
use crate::provision::{ChannelPlan, provision};
use crate::publish::{Pacer, Route, SendCounters, Sent};
use crate::redis::RedisCounters;
use crate::verify::Verdict;
use serde::Serialize;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(clap::Args, Clone, Debug)]
pub struct FanoutArgs {
    /// Sockets in the room, spread round robin over the nodes.
    #[arg(long, default_value_t = 2000)]
    pub subscribers: usize,
    /// Events per second; a comma-separated list runs each rate in turn on the same sockets.
    #[arg(long, value_delimiter = ',', default_value = "50")]
    pub rate: Vec<f64>,
    /// Seconds each rate runs.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    #[command(flatten)]
    pub publish: PublishArgs,
    /// Longest wait, in seconds, for deliveries to finish after each rate.
    #[arg(long, default_value_t = 10)]
    pub drain: u64,
}

#[derive(Debug, Serialize)]
pub struct FanoutResult {
    pub subscribers: usize,
    pub via: Route,
    /// False when concurrent dispatcher posts make reordering expected (`--room-concurrency`).
    pub order_checked: bool,
    pub connect: ConnectReport,
    /// Nodes subscribed to the room (PUBSUB NUMSUB).
    pub nodes_subscribed: u64,
    pub steps: Vec<Step>,
    /// Duplicates and reordering over the whole run, failed sockets.
    pub verdict: Verdict,
}

#[derive(Debug, Serialize)]
pub struct Step {
    pub rate: f64,
    pub seconds: f64,
    pub events: Sent,
    /// The furthest the publisher fell behind its schedule.
    pub publisher_max_lag_ms: f64,
    pub deliveries: u64,
    pub deliveries_per_second: f64,
    pub verdict: Verdict,
    pub latency: Latency,
    pub resources: Resources,
    pub gateway_us_per_delivery: Option<f64>,
    pub loadgen_us_per_delivery: f64,
    /// WebSocket payload bytes received per delivery (after compression, if any).
    pub payload_bytes_per_delivery: f64,
    pub redis: RedisOps,
    #[serde(skip)]
    seqs: Range<u64>,
}

pub async fn run(h: &Harness, args: &FanoutArgs) -> anyhow::Result<FanoutResult> {
    let nodes = h.cluster.nodes.len();
    let users: Vec<String> = (0..args.subscribers).map(|i| h.id("f", i)).collect();
    let owner = h.id("owner", 0);
    let room = ChannelPlan {
        id: h.id("fan", 0),
        owner: owner.clone(),
        members: users.clone(),
    };
    provision(
        &h.api,
        std::slice::from_ref(&room),
        h.client.http_concurrency,
    )
    .await?;
    let ledger = Arc::new(Ledger::new([room.id.clone()]));
    let plans = users
        .iter()
        .enumerate()
        .map(|(i, user)| SocketPlan::new(h, user.clone(), i % nodes, vec![0]))
        .collect();

    let messages = Arc::new(SendCounters::default());
    let watch = &h.cluster.watch;
    let progress = Progress::start(
        h.stats.clone(),
        vec![("events", messages.clone())],
        watch.clone(),
    );
    let mut fleet = Fleet::new(ledger.clone());
    progress.phase(format!("fanout: opening {} sockets", args.subscribers));
    let connect = fleet
        .open_all(h, plans, h.client.connect_concurrency)
        .await
        .report();
    let mut publisher = publisher(h, &args.publish, &ledger, &messages, &owner).await?;
    let mut redis = RedisCounters::connect(&h.cluster.redis_nodes).await?;
    let nodes_subscribed = redis
        .numsub(std::slice::from_ref(&ledger.room(0).room))
        .await?[0];

    let mut steps = Vec::new();
    for &rate in &args.rate {
        progress.phase(format!("fanout {rate}/s via {:?}", args.publish.via));
        progress.take_latency();
        let (sent_before, probes_before) = (messages.snapshot(), h.stats.probes());
        let bytes_before = h.stats.bytes();
        let seq_start = ledger.room(0).issued();
        let (commands_before, before) = (redis.commands().await?, watch.sample());
        let started = Instant::now();
        let mut pacer = Pacer::new(rate);
        let until = started + Duration::from_secs(args.duration);
        while pacer.tick(until).await.is_some() {
            publisher.message(0, &owner).await?;
        }
        let seconds = started.elapsed().as_secs_f64();
        let sent = minus(&messages.snapshot(), &sent_before);
        let target = probes_before + sent.sent * connect.opened;
        settle(
            h,
            &[&messages],
            Some(target),
            Duration::from_secs(args.drain),
        )
        .await;
        let (after, commands_after) = (watch.sample(), redis.commands().await?);
        let sent = minus(&messages.snapshot(), &sent_before);
        let deliveries = h.stats.probes() - probes_before;
        let resources = watch.delta(&before, &after);
        let wall = resources.wall_seconds;
        steps.push(Step {
            rate,
            seconds,
            publisher_max_lag_ms: pacer.max_lag.as_secs_f64() * 1e3,
            deliveries,
            deliveries_per_second: deliveries as f64 / seconds,
            verdict: Verdict::default(),
            latency: Latency::of(&progress.take_latency()),
            gateway_us_per_delivery: resources.gateway_us_per(deliveries),
            loadgen_us_per_delivery: resources.loadgen_us_per(deliveries),
            payload_bytes_per_delivery: (h.stats.bytes() - bytes_before) as f64
                / deliveries.max(1) as f64,
            resources,
            redis: RedisOps::between(&commands_before, &commands_after, sent.sent, wall),
            events: sent,
            seqs: seq_start..ledger.room(0).issued(),
        });
    }
    publisher.finish().await?;
    progress.stop();
    let outcomes = fleet.stop().await;
    for step in &mut steps {
        step.verdict = Verdict::of(&ledger, &outcomes, Some(step.seqs.clone()));
    }
    Ok(FanoutResult {
        subscribers: args.subscribers,
        via: args.publish.via,
        order_checked: args.publish.ordered(),
        connect,
        nodes_subscribed,
        steps,
        verdict: Verdict::of(&ledger, &outcomes, None),
    })
}

/// Counts sent since `before`.
fn minus(now: &Sent, before: &Sent) -> Sent {
    Sent {
        sent: now.sent - before.sent,
        acked: now.acked - before.acked,
        failed: now.failed - before.failed,
        first_error: now.first_error.clone(),
    }
}

impl fmt::Display for FanoutResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.connect;
        writeln!(
            f,
            "fanout: {} subscribers ({} opened, {} failed) via {:?}; {} nodes subscribed to the room",
            self.subscribers, c.opened, c.failed, self.via, self.nodes_subscribed
        )?;
        for s in &self.steps {
            writeln!(
                f,
                "  {} events/s for {:.1} s: {} sent, {} acked, {} failed; max publisher lag {:.1} ms",
                s.rate,
                s.seconds,
                s.events.sent,
                s.events.acked,
                s.events.failed,
                s.publisher_max_lag_ms
            )?;
            writeln!(
                f,
                "    {} deliveries, {:.0}/s, {:.0} payload bytes each; {}",
                s.deliveries, s.deliveries_per_second, s.payload_bytes_per_delivery, s.verdict
            )?;
            writeln!(f, "    latency {}", s.latency)?;
            writeln!(
                f,
                "    {}",
                crate::report::cpu_per_delivery(
                    s.gateway_us_per_delivery,
                    s.loadgen_us_per_delivery
                )
            )?;
            writeln!(f, "    Redis calls per event: {}", s.redis.summary())?;
            if let Some(warning) = s.resources.disturbance_warning() {
                writeln!(f, "    {warning}")?;
            }
        }
        write!(f, "  whole run: {}", self.verdict)?;
        if !self.order_checked {
            write!(f, " (posts ran concurrently: reordering is expected)")?;
        }
        Ok(())
    }
}
