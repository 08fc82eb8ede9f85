//! `chat`: many rooms whose sizes and activity follow Zipf's law (room k has 1/(k+1)^s of the
//! largest room's members and of the traffic), messages and typing through the dispatcher,
//! every delivery checked against what was acknowledged. In recovery mode (the soak's
//! `--drop-rate`) sockets are also dropped and recover with `SUBSCRIBE {since}` meanwhile.

use super::common::{RedisOps, settle, settle_messages};
use crate::client::{Dropper, Outcome, RecoveryArgs, RecoveryTally};
use crate::fleet::{Fleet, SocketPlan};
use crate::harness::Harness;
use crate::latency::Latency;
use crate::ledger::Ledger;
use crate::opening::ConnectReport;
use crate::procstat::Resources;
use crate::progress::Progress;
use crate::provision::{ChannelPlan, provision};
use crate::publish::{HttpPublisher, Pacer, SendCounters, Sent};
use crate::redis::RedisCounters;
use crate::verify::Verdict;
use crate::zipf::{Zipf, weight};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// More rooms than this per socket would trip the gateway's frame rate limit while joining.
const MAX_ROOMS_PER_USER: usize = 100;

#[derive(clap::Args, Clone, Debug)]
pub struct ChatArgs {
    /// Users, one socket each, spread round robin over the nodes.
    #[arg(long, default_value_t = 2000)]
    pub users: usize,
    /// Rooms (channels).
    #[arg(long, default_value_t = 200)]
    pub rooms: usize,
    /// Members of the largest room; room k has this / (k+1)^zipf (at least --min-room).
    #[arg(long, default_value_t = 500)]
    pub max_room: usize,
    #[arg(long, default_value_t = 2)]
    pub min_room: usize,
    /// Zipf exponent for room sizes and activity.
    #[arg(long, default_value_t = 1.0)]
    pub zipf: f64,
    /// Operations (messages and typing) per second over all rooms.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Fraction of operations that are typing notices instead of messages.
    #[arg(long, default_value_t = 0.2)]
    pub typing: f64,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Bytes of message content (the probe, padded).
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    /// Longest wait, in seconds, for deliveries to finish after the traffic.
    #[arg(long, default_value_t = 10)]
    pub drain: u64,
    /// Seed for room membership and traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// One operation of the mix. Presence updates slot in here when the gateway supports them:
/// a variant, its weight in `next_op`, and its sender in `run`'s loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Message,
    Typing,
}

#[derive(Debug, Serialize)]
pub struct ChatResult {
    pub users: usize,
    pub rooms: usize,
    pub memberships: usize,
    pub largest_room: usize,
    pub connect: ConnectReport,
    pub seconds: f64,
    pub messages: Sent,
    pub typing: Sent,
    pub verdict: Verdict,
    /// Typing notices owed to sockets that stayed (acknowledged × the other members) and
    /// received (a socket's own notices are not counted). In recovery mode an upper bound:
    /// typing is live only, and a dropped socket misses what is sent during its outage.
    pub typing_expected: u64,
    pub typing_delivered: u64,
    /// Typing notices that came back to the typist's own socket: the protocol says never.
    pub typing_echoes: u64,
    pub deliveries_per_second: f64,
    pub latency: Latency,
    pub resources: Resources,
    pub gateway_us_per_delivery: Option<f64>,
    pub loadgen_us_per_delivery: f64,
    pub redis: RedisOps,
    /// Recovery mode only: drops, reconnects, answers and replays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryTally>,
    /// When traffic started and when it had settled.
    #[serde(skip)]
    pub traffic: (Instant, Instant),
}

/// Each room's members (user indexes, the owner first): Zipf sizes, members drawn at random,
/// each user in at most [`MAX_ROOMS_PER_USER`] rooms.
fn plan_members(args: &ChatArgs, rng: &mut StdRng) -> Vec<Vec<usize>> {
    let mut rooms_of = vec![0usize; args.users];
    (0..args.rooms)
        .map(|k| {
            let size = (args.max_room as f64 * weight(k, args.zipf)).round() as usize;
            let size = size.clamp(args.min_room.min(args.users), args.users);
            let mut members: Vec<usize> = rand::seq::index::sample(rng, args.users, size)
                .into_iter()
                .filter(|&u| rooms_of[u] < MAX_ROOMS_PER_USER)
                .collect();
            if members.is_empty() {
                members.push(k % args.users);
            }
            for &u in &members {
                rooms_of[u] += 1;
            }
            members
        })
        .collect()
}

fn next_op(rng: &mut StdRng, typing: f64) -> Op {
    if rng.random::<f64>() < typing {
        Op::Typing
    } else {
        Op::Message
    }
}

/// A run's rooms and sockets.
/// The rooms and sockets of a run, its rooms already created.
pub struct Plan {
    /// Each room's members (user indexes, the owner first).
    members: Vec<Vec<usize>>,
    channels: Vec<ChannelPlan>,
    sockets: Vec<SocketPlan>,
    /// The run's random stream where planning left it: the traffic draws from it next.
    rng: StdRng,
}

fn plan(h: &Harness, args: &ChatArgs, mut rng: StdRng) -> Plan {
    let nodes = h.cluster.nodes.len();
    let members = plan_members(args, &mut rng);
    let user = |i: usize| h.id("u", i);
    let channels = members
        .iter()
        .enumerate()
        .map(|(k, m)| ChannelPlan {
            id: h.id("r", k),
            owner: user(m[0]),
            members: m[1..].iter().map(|&u| user(u)).collect(),
        })
        .collect();
    let mut rooms_of: Vec<Vec<usize>> = vec![Vec::new(); args.users];
    for (k, m) in members.iter().enumerate() {
        for &u in m {
            rooms_of[u].push(k);
        }
    }
    let sockets = rooms_of
        .into_iter()
        .enumerate()
        .map(|(i, rooms)| SocketPlan::new(h, user(i), i % nodes, rooms))
        .collect();
    Plan {
        members,
        channels,
        sockets,
        rng,
    }
}

/// Typing deliveries owed to the sockets that stayed: each acknowledged notice once to every
/// other subscribed member (the typer is a subscribed member; its own notice is not counted).
fn typing_owed(ledger: &Ledger, outcomes: &[Outcome]) -> u64 {
    let mut subscribed = vec![0u64; ledger.rooms().len()];
    for track in outcomes
        .iter()
        .filter(|o| o.stayed && o.failure.is_none())
        .flat_map(|o| &o.tracks)
    {
        subscribed[track.room] += 1;
    }
    ledger
        .rooms()
        .iter()
        .zip(&subscribed)
        .map(|(r, n)| r.typing_acked() * n.saturating_sub(1))
        .sum()
}

/// Runs the mix; with `recovery`, sockets are dropped at random during the traffic and
/// recover (see `client::recover`).
pub async fn run(
    h: &Harness,
    args: &ChatArgs,
    recovery: Option<&RecoveryArgs>,
) -> anyhow::Result<ChatResult> {
    let planned = provisioned(h, args).await?;
    run_planned(h, args, recovery, planned).await
}

/// Plans the run and creates its rooms (each creation is an event on `global`, which every
/// socket of the system receives: done before other sockets open, it costs them nothing).
pub async fn provisioned(h: &Harness, args: &ChatArgs) -> anyhow::Result<Plan> {
    let planned = plan(h, args, StdRng::seed_from_u64(args.seed));
    provision(&h.api, &planned.channels, h.client.http_concurrency).await?;
    Ok(planned)
}

/// Runs the mix over rooms [`provisioned`] already created.
pub async fn run_planned(
    h: &Harness,
    args: &ChatArgs,
    recovery: Option<&RecoveryArgs>,
    planned: Plan,
) -> anyhow::Result<ChatResult> {
    let Plan {
        members,
        channels,
        sockets,
        mut rng,
    } = planned;
    let ledger = Arc::new(Ledger::new(channels.iter().map(|r| r.id.clone())));

    let (messages, typing) = (
        Arc::new(SendCounters::default()),
        Arc::new(SendCounters::default()),
    );
    let watch = &h.cluster.watch;
    let progress = Progress::start(
        h.stats.clone(),
        vec![("messages", messages.clone()), ("typing", typing.clone())],
        watch.clone(),
    );
    let mut fleet = Fleet::new(ledger.clone());
    let dropper = recovery.map(|r| {
        let dropper = Arc::new(Dropper::new(h.connector.clone(), args.users, r, args.seed));
        fleet.recover_with(dropper.clone());
        dropper
    });
    progress.phase(format!("chat: opening {} sockets", args.users));
    let connect = fleet
        .open_all(h, sockets, h.client.connect_concurrency)
        .await
        .report();
    let publisher = HttpPublisher::new(
        h.api.clone(),
        ledger.clone(),
        (messages.clone(), typing.clone()),
        h.client.http_concurrency as u32,
        1,
        args.payload,
    );
    let mut redis = RedisCounters::connect(&h.cluster.redis_nodes).await?;

    progress.phase(match recovery {
        Some(r) => format!("chat: {} ops/s, {} drops/s", args.rate, r.drop_rate),
        None => format!("chat: {} ops/s", args.rate),
    });
    progress.take_latency();
    let (commands_before, before) = (redis.commands().await?, watch.sample());
    let (probes_before, typings_before) = (h.stats.probes(), h.stats.typings());
    let zipf = Zipf::new(channels.len(), args.zipf);
    let started = Instant::now();
    if let Some(dropper) = &dropper {
        dropper.start();
    }
    let mut pacer = Pacer::new(args.rate);
    while pacer
        .tick(started + Duration::from_secs(args.duration))
        .await
        .is_some()
    {
        let room = zipf.sample(&mut rng);
        let author = h.id("u", members[room][rng.random_range(0..members[room].len())]);
        match next_op(&mut rng, args.typing) {
            Op::Message => publisher.message(room, &author).await,
            Op::Typing => publisher.typing(room, &author).await,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(dropper) = &dropper {
        dropper.stop();
    }
    progress.phase("chat: draining");
    publisher.finish().await;
    // Every member of a room has a socket in it: what each acknowledgement owes.
    let owed = |typing: bool| -> u64 {
        let rooms = ledger.rooms().iter().zip(&members);
        rooms
            .map(|(r, m)| {
                let size = m.len() as u64;
                let typing = if typing { r.typing_acked() } else { 0 };
                r.acked_count() * size + typing * size.saturating_sub(1)
            })
            .sum()
    };
    let (sent, drain) = ([&*messages, &*typing], Duration::from_secs(args.drain));
    if dropper.is_some() {
        // Typing notices missed during outages never come: wait for the messages only.
        settle_messages(h, &sent, probes_before + owed(false), drain).await;
    } else {
        let target = probes_before + typings_before + owed(true);
        settle(h, &sent, Some(target), drain).await;
    }
    let (after, commands_after) = (watch.sample(), redis.commands().await?);
    let settled = Instant::now();
    let latency = Latency::of(&progress.take_latency());
    progress.stop();
    let outcomes = fleet.stop().await;

    let deliveries = h.stats.probes() - probes_before + h.stats.typings() - typings_before;
    let resources = watch.delta(&before, &after);
    let (messages, typing) = (messages.snapshot(), typing.snapshot());
    let redis = RedisOps::between(
        &commands_before,
        &commands_after,
        messages.sent + typing.sent,
        resources.wall_seconds,
    );
    Ok(ChatResult {
        users: args.users,
        rooms: channels.len(),
        memberships: members.iter().map(Vec::len).sum(),
        largest_room: members.iter().map(Vec::len).max().unwrap_or(0),
        connect,
        seconds,
        verdict: Verdict::of(&ledger, &outcomes, None),
        typing_expected: typing_owed(&ledger, &outcomes),
        typing_delivered: h.stats.typings() - typings_before,
        typing_echoes: h
            .stats
            .typing_echoes
            .load(std::sync::atomic::Ordering::Relaxed),
        deliveries_per_second: deliveries as f64 / seconds,
        latency,
        gateway_us_per_delivery: resources.gateway_us_per(deliveries),
        loadgen_us_per_delivery: resources.loadgen_us_per(deliveries),
        resources,
        redis,
        recovery: RecoveryTally::of(&outcomes),
        messages,
        typing,
        traffic: (started, settled),
    })
}

impl fmt::Display for ChatResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.connect;
        writeln!(
            f,
            "chat: {} users ({} opened, {} failed), {} rooms, {} memberships, largest room {}",
            self.users, c.opened, c.failed, self.rooms, self.memberships, self.largest_room
        )?;
        writeln!(
            f,
            "  {:.1} s of traffic: messages {} sent {} acked {} failed; typing {} sent {} acked {} failed",
            self.seconds,
            self.messages.sent,
            self.messages.acked,
            self.messages.failed,
            self.typing.sent,
            self.typing.acked,
            self.typing.failed
        )?;
        for error in [&self.messages.first_error, &self.typing.first_error]
            .into_iter()
            .flatten()
        {
            writeln!(f, "  first refusal: {error}")?;
        }
        writeln!(f, "  messages: {}", self.verdict)?;
        if let Some(r) = &self.recovery {
            writeln!(
                f,
                "  recovery: {} drops, {} reconnects ({} failed attempts), {} rooms re-subscribed \
                 with since: {} recovered, {} not recovered; {} events replayed; offset gaps {}, \
                 repeats {}; errors {}",
                r.drops,
                r.reconnects,
                r.failed_attempts,
                r.resubscribes,
                r.recovered,
                r.not_recovered,
                r.replayed,
                r.offset_gaps,
                r.offset_repeats,
                r.errors
            )?;
            if let Some(problem) = &r.first_problem {
                writeln!(f, "  first recovery problem: {problem}")?;
            }
        }
        let owed = if self.recovery.is_some() {
            "at most owed (typing is not replayed)"
        } else {
            "owed"
        };
        writeln!(
            f,
            "  typing: {} of {} {owed} deliveries arrived, {} echoed to the typist",
            self.typing_delivered, self.typing_expected, self.typing_echoes
        )?;
        writeln!(
            f,
            "  {:.0} deliveries/s; message latency {}",
            self.deliveries_per_second, self.latency
        )?;
        writeln!(
            f,
            "  {}",
            crate::report::cpu_per_delivery(
                self.gateway_us_per_delivery,
                self.loadgen_us_per_delivery
            )
        )?;
        write!(f, "  Redis calls per operation: {}", self.redis.summary())?;
        if let Some(warning) = self.resources.disturbance_warning() {
            write!(f, "\n  {warning}")?;
        }
        Ok(())
    }
}
