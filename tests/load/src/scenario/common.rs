//! Pieces the scenarios share: building a publisher for a route, letting deliveries settle
//! after sending stops, Redis operations per event, and a gateway's own metrics.

use crate::cluster::Node;
use crate::harness::Harness;
use crate::ledger::Ledger;
use crate::publish::{HttpPublisher, Publisher, RedisPublisher, Route, SendCounters};
use crate::redis::CommandCounts;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long deliveries must stand still before sending is considered fully delivered.
const QUIET: Duration = Duration::from_secs(1);

/// How probe messages are published (fanout and churn).
#[derive(clap::Args, Clone, Debug)]
pub struct PublishArgs {
    /// Where events enter: `redis` isolates the gateway, `dispatcher` is the whole path.
    #[arg(long, value_enum, default_value_t = Route::Redis)]
    pub via: Route,
    /// Bytes of message content (the probe, padded).
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    /// Dispatcher route: posts in flight in the room. 1 (the default) keeps the room's order
    /// checkable but caps its rate at one message per round trip; above 1, reordering is
    /// expected and not a fault.
    #[arg(long, default_value_t = 1)]
    pub room_concurrency: usize,
}

impl PublishArgs {
    /// True when the order of arrival is meaningful.
    pub fn ordered(&self) -> bool {
        self.via == Route::Redis || self.room_concurrency <= 1
    }
}

/// A publisher of probe messages as `args` say. `author` must be a member of every room it
/// posts to through the dispatcher.
pub async fn publisher(
    h: &Harness,
    args: &PublishArgs,
    ledger: &Arc<Ledger>,
    messages: &Arc<SendCounters>,
    author: &str,
) -> anyhow::Result<Publisher> {
    anyhow::ensure!(
        h.cluster.redis_nodes.len() == 1,
        "fanout and churn publish and count subscribers with plain pub/sub on one Redis: \
         run them without --redis-cluster"
    );
    Ok(match args.via {
        Route::Redis => Publisher::Redis(
            RedisPublisher::connect(
                h.cluster.redis,
                ledger.clone(),
                messages.clone(),
                author,
                args.payload,
            )
            .await?,
        ),
        Route::Dispatcher => Publisher::Http(HttpPublisher::new(
            h.api.clone(),
            ledger.clone(),
            (messages.clone(), Arc::default()),
            h.client.http_concurrency as u32,
            args.room_concurrency,
            args.payload,
        )),
    })
}

/// Waits until everything sent has been answered and then until deliveries (probes and
/// typing) reach `target`, or, without a target, stand still for a second; gives up after
/// `max`. A target makes the wait immune to pauses of a busy machine.
pub async fn settle(h: &Harness, sent: &[&SendCounters], target: Option<u64>, max: Duration) {
    let delivered = || h.stats.probes() + h.stats.typings();
    settle_on(delivered, sent, target, max).await;
}

/// Like [`settle`] with a target, counting message (probe) deliveries only: for runs where
/// typing notices may be missed (they are live only, and recovery mode drops sockets).
pub async fn settle_messages(h: &Harness, sent: &[&SendCounters], target: u64, max: Duration) {
    settle_on(|| h.stats.probes(), sent, Some(target), max).await;
}

async fn settle_on(
    delivered: impl Fn() -> u64,
    sent: &[&SendCounters],
    target: Option<u64>,
    max: Duration,
) {
    let deadline = Instant::now() + max;
    let mut last = (delivered(), Instant::now());
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let answered = sent.iter().all(|c| {
            let s = c.snapshot();
            s.acked + s.failed >= s.sent
        });
        let now = delivered();
        if now != last.0 {
            last = (now, Instant::now());
        }
        let done = match target {
            Some(target) => now >= target,
            None => last.1.elapsed() >= QUIET,
        };
        if answered && done {
            return;
        }
    }
}

/// Redis commands executed during a phase: in total, per event published, and per second.
/// A command whose calls per event stay put when the rate changes is driven by events; one
/// whose calls per second stay put is background work (node registry, session leases).
#[derive(Clone, Debug, Default, Serialize)]
pub struct RedisOps {
    pub events: u64,
    pub seconds: f64,
    pub calls: BTreeMap<String, u64>,
    pub calls_per_event: BTreeMap<String, f64>,
    pub calls_per_second: BTreeMap<String, f64>,
    pub total_commands: u64,
}

impl RedisOps {
    pub fn between(
        before: &CommandCounts,
        after: &CommandCounts,
        events: u64,
        seconds: f64,
    ) -> RedisOps {
        let calls = before.delta(after);
        let ratio = |n: u64, d: f64| (n as f64 / d.max(1e-9) * 1000.0).round() / 1000.0;
        let per = |d: f64| {
            calls
                .iter()
                .map(|(k, v)| (k.clone(), ratio(*v, d)))
                .collect()
        };
        RedisOps {
            events,
            seconds,
            calls_per_event: per(events as f64),
            calls_per_second: per(seconds),
            total_commands: after.total_commands_processed - before.total_commands_processed,
            calls,
        }
    }

    /// `publish 1 (50/s), …`: calls per event, and per second.
    pub fn summary(&self) -> String {
        self.calls_per_event
            .iter()
            .map(|(cmd, n)| format!("{cmd} {n} ({}/s)", self.calls_per_second[cmd]))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The sum of metric `name` on a gateway's `/metrics`; None if unreadable.
pub async fn gateway_metric(node: &Node, name: &str) -> Option<f64> {
    let url = format!("http://{}/metrics", node.addr);
    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
    integration_tests::stack::metric_in(&text, name)
}
