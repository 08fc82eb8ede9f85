//! Recovery mode of a client socket: when the test drops it (at random, abruptly: a TCP reset,
//! no WebSocket close), how it reopens on the same node and re-subscribes each of its rooms
//! with `since` = the last offset and epoch it saw (docs/protocol.md, "Delivery"), and what it
//! counts doing so. Nothing is deduplicated here: a replayed event that was already received
//! is scored as a duplicate, a missing one as lost.

use super::{Connector, Opened, Outcome, RoomTrack, Ws};
use anyhow::Context;
use futures_util::SinkExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// How long a dropped client keeps trying to reopen its socket.
const REOPEN_TIMEOUT: Duration = Duration::from_secs(15);
const RETRY_EVERY: Duration = Duration::from_millis(100);

#[derive(clap::Args, Clone, Debug)]
pub struct RecoveryArgs {
    /// Recovery mode, when above 0: client sockets dropped per second over the whole fleet, at
    /// random times during the traffic. A dropped client closes its socket abruptly (TCP
    /// reset, no WebSocket close), waits out an outage, reconnects to the same node and
    /// re-subscribes each of its rooms with `since` = the last offset and epoch it saw. Every
    /// acknowledged message must still arrive exactly once and in order; a `recovered: false`
    /// answer fails the run. 0 (the default) is the normal soak: no drops.
    #[arg(long, default_value_t = 0.0, value_name = "PER_SECOND")]
    pub drop_rate: f64,
    /// Recovery mode: the longest outage, in milliseconds, between a drop and the reconnect
    /// (each is drawn uniformly from 0 to this), so that dropped clients miss events that must
    /// be replayed.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub max_outage_ms: u64,
}

impl RecoveryArgs {
    pub fn enabled(&self) -> bool {
        self.drop_rate > 0.0
    }
}

/// What the sockets of a fleet in recovery mode share.
pub struct Dropper {
    connector: Arc<Connector>,
    /// Mean time between two drops of one socket (drops are a Poisson process per socket).
    mean_interval: Duration,
    max_outage: Duration,
    seed: u64,
    /// Drops are made only while this is set: during the traffic.
    active: AtomicBool,
}

impl Dropper {
    /// `args.drop_rate` drops per second spread over `sockets` sockets; inactive until
    /// [`Self::start`].
    pub fn new(
        connector: Arc<Connector>,
        sockets: usize,
        args: &RecoveryArgs,
        seed: u64,
    ) -> Dropper {
        Dropper {
            connector,
            mean_interval: Duration::from_secs_f64(sockets.max(1) as f64 / args.drop_rate),
            max_outage: Duration::from_millis(args.max_outage_ms),
            seed,
            active: AtomicBool::new(false),
        }
    }

    pub fn start(&self) {
        self.active.store(true, Relaxed);
    }

    /// No more drops; sockets already dropped still reconnect and recover.
    pub fn stop(&self) {
        self.active.store(false, Relaxed);
    }
}

/// One socket's recovery: where to reopen it, its drop schedule, and its counts.
pub struct Recovery {
    dropper: Arc<Dropper>,
    addr: SocketAddr,
    token: String,
    rng: StdRng,
    tally: RecoveryTally,
}

/// Recovery counts, of one socket or (summed by [`RecoveryTally::of`]) of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RecoveryTally {
    /// Sockets the test dropped.
    pub drops: u64,
    /// Sockets reopened after a drop (READY received).
    pub reconnects: u64,
    /// Attempts to reopen that failed and were retried.
    pub failed_attempts: u64,
    /// `SUBSCRIBE {since}` sent after reconnects.
    pub resubscribes: u64,
    /// `recovered: true` answers.
    pub recovered: u64,
    /// `recovered: false` answers, asked or not: history did not cover the gap.
    pub not_recovered: u64,
    /// Events received that were replays from history (offset up to the answer's).
    pub replayed: u64,
    /// Offsets of a room the server skipped for a socket (events never sent to it).
    pub offset_gaps: u64,
    /// Events whose offset was not above the last one the socket had seen.
    pub offset_repeats: u64,
    /// `ERROR` frames, and `SUBSCRIBED` answers that break the protocol (no position, a
    /// changed epoch with `recovered: true`).
    pub errors: u64,
    /// The first `recovered: false`, error or failed attempt, for the report.
    pub first_problem: Option<String>,
}

impl Recovery {
    /// Socket `id` of a fleet in recovery mode, reopened on `addr` with `token`.
    pub fn new(dropper: Arc<Dropper>, id: usize, addr: SocketAddr, token: String) -> Recovery {
        Recovery {
            rng: StdRng::seed_from_u64(
                dropper.seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ),
            dropper,
            addr,
            token,
            tally: RecoveryTally::default(),
        }
    }

    /// When the next drop is due: exponential intervals, so drops over the fleet are a
    /// Poisson process at the drop rate.
    pub fn next_drop(&mut self) -> Instant {
        let u: f64 = self.rng.random();
        Instant::now() + self.dropper.mean_interval.mul_f64(-(1.0 - u).ln())
    }

    /// True while drops are to be made.
    pub fn active(&self) -> bool {
        self.dropper.active.load(Relaxed)
    }

    /// Drops `ws` abruptly (SO_LINGER 0: the kernel resets the connection, no close frame),
    /// waits out a random outage, reopens the socket on the same node and re-subscribes every
    /// room of `tracks` with `since` its last position. Errs when the socket could not be
    /// reopened within [`REOPEN_TIMEOUT`] or the new one refuses the subscriptions.
    pub async fn drop_and_reopen(
        &mut self,
        ws: Ws,
        tracks: &mut [RoomTrack],
    ) -> anyhow::Result<Opened> {
        let _ = ws.get_ref().set_zero_linger();
        drop(ws);
        self.tally.drops += 1;
        for track in tracks.iter_mut() {
            track.replay_until = 0;
        }
        let max = self.dropper.max_outage.as_millis() as u64;
        let outage = Duration::from_millis(self.rng.random_range(0..=max));
        tokio::time::sleep(outage).await;
        let deadline = Instant::now() + REOPEN_TIMEOUT;
        let mut opened = loop {
            match self.dropper.connector.open(self.addr, &self.token).await {
                Ok(opened) => break opened,
                Err(e) => {
                    self.tally.failed_attempts += 1;
                    self.problem(|| format!("reconnect attempt failed: {e:#}"));
                    if Instant::now() >= deadline {
                        return Err(e.context(format!(
                            "could not reconnect within {REOPEN_TIMEOUT:?} after a drop"
                        )));
                    }
                    tokio::time::sleep(RETRY_EVERY).await;
                }
            }
        };
        self.tally.reconnects += 1;
        for track in tracks.iter() {
            let mut op = json!({"op": "SUBSCRIBE", "room": track.name});
            if let Some((offset, epoch)) = &track.position {
                op["since"] = json!({"offset": offset, "epoch": epoch});
                self.tally.resubscribes += 1;
            }
            opened
                .ws
                .feed(Message::text(op.to_string()))
                .await
                .context("re-subscribing after a reconnect")?;
        }
        opened
            .ws
            .flush()
            .await
            .context("re-subscribing after a reconnect")?;
        Ok(opened)
    }

    /// A `SUBSCRIBED` or `ERROR` frame (`kind`) read in recovery mode.
    pub fn on_answer(&mut self, kind: &str, text: &str, tracks: &mut [RoomTrack]) {
        let frame: Value = serde_json::from_str(text).unwrap_or_default();
        if kind == "ERROR" {
            self.tally.errors += 1;
            self.problem(|| format!("ERROR frame: {text}"));
            return;
        }
        let Some(track) = tracks.iter_mut().find(|t| frame["room"] == t.name.as_str()) else {
            return; // user:<id> and global, joined again by every READY
        };
        let data = &frame["data"];
        let (Some(offset), Some(epoch)) = (data["offset"].as_u64(), data["epoch"].as_str()) else {
            self.tally.errors += 1;
            self.problem(|| format!("SUBSCRIBED without offset and epoch: {text}"));
            return;
        };
        match data["recovered"].as_bool() {
            Some(true) => {
                self.tally.recovered += 1;
                track.replay_until = offset;
                let since_epoch = track.position.as_ref().map(|(_, e)| e.as_str());
                if since_epoch != Some(epoch) {
                    self.tally.errors += 1;
                    self.problem(|| format!("recovered: true with another epoch: {text}"));
                }
            }
            Some(false) => {
                self.tally.not_recovered += 1;
                let since = track
                    .position
                    .as_ref()
                    .map_or("none".into(), |(offset, epoch)| {
                        format!("offset {offset} epoch {epoch}")
                    });
                self.problem(|| format!("recovered: false after since {since} in {text}"));
                track.position = Some((offset, epoch.to_owned()));
            }
            // Only the first join answers without `recovered`; it is read by `Socket::join`.
            None => {
                self.tally.errors += 1;
                self.problem(|| format!("SUBSCRIBED without `recovered` after since: {text}"));
            }
        }
    }

    pub fn into_tally(self) -> RecoveryTally {
        self.tally
    }

    fn problem(&mut self, what: impl FnOnce() -> String) {
        self.tally.first_problem.get_or_insert_with(what);
    }
}

impl RecoveryTally {
    /// The run's counts: every socket's, plus what its room tracks saw. None when no socket
    /// was in recovery mode.
    pub fn of(outcomes: &[Outcome]) -> Option<RecoveryTally> {
        let mut total: Option<RecoveryTally> = None;
        for outcome in outcomes {
            let Some(tally) = &outcome.recovery else {
                continue;
            };
            let t = total.get_or_insert_with(RecoveryTally::default);
            t.drops += tally.drops;
            t.reconnects += tally.reconnects;
            t.failed_attempts += tally.failed_attempts;
            t.resubscribes += tally.resubscribes;
            t.recovered += tally.recovered;
            t.not_recovered += tally.not_recovered;
            t.errors += tally.errors;
            if t.first_problem.is_none() {
                t.first_problem.clone_from(&tally.first_problem);
            }
            for track in &outcome.tracks {
                t.replayed += track.replayed;
                t.offset_gaps += track.offset_gaps;
                t.offset_repeats += track.offset_repeats;
            }
        }
        total
    }
}
