//! The node's live-state heartbeat: every third of the lease TTL it renews the leases of its
//! own sessions' entries, and sweeps rooms nobody renewed for a whole TTL (their nodes died),
//! publishing the resulting changes (users going offline, members leaving voice).

use super::{Aggregate, renew_every, update};
use crate::node::Node;
use futures_util::StreamExt;
use shared::live::{LeaseOp, LiveKind};
use std::sync::Arc;

/// Rooms swept per round and kind.
const SWEEP_BATCH: usize = 200;
/// Lease renewals in flight at once (pipelined on the broker connection).
const RENEW_CONCURRENCY: usize = 64;

pub async fn run(node: Arc<Node>) {
    let ttl = node.config.fleet.live_ttl();
    let mut tick = tokio::time::interval(renew_every(ttl));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = node.stopped.cancelled() => return,
            _ = tick.tick() => {}
        }
        renew(&node).await;
        for kind in [LiveKind::Presence, LiveKind::Voice] {
            sweep(&node, kind).await;
        }
        node.typing.retain_recent();
    }
}

fn aggregate(kind: LiveKind) -> Aggregate {
    match kind {
        LiveKind::Presence => Aggregate::Presence,
        LiveKind::Voice => Aggregate::Voice { joined: false },
    }
}

/// Renews every lease the node holds, `RENEW_CONCURRENCY` rooms at a time: one after the
/// other, a round took ~1.5 s at 15,000 sockets (a Redis round trip each) and would outgrow the
/// renewal period near 50,000.
async fn renew(node: &Node) {
    let started = std::time::Instant::now();
    let held = node.leases.snapshot();
    let mut rooms: [Vec<String>; 2] = Default::default();
    for ((kind, room), _) in &held {
        rooms[*kind as usize].push(room.clone());
    }
    futures_util::stream::iter(held)
        .for_each_concurrent(RENEW_CONCURRENCY, |((kind, room), fields)| async move {
            let touch = LeaseOp::Touch { fields };
            if let Err(error) = update(node, &room, touch, aggregate(kind)).await {
                node.metrics.broker_errors.inc();
                tracing::warn!(%error, room, "renewing live leases failed");
            }
        })
        .await;
    node.metrics
        .lease_renewal_seconds
        .observe(started.elapsed().as_secs_f64());
    for (kind, rooms) in [LiveKind::Presence, LiveKind::Voice].into_iter().zip(rooms) {
        if let Err(error) = node.broker.live_index(kind, &rooms).await {
            node.metrics.broker_errors.inc();
            tracing::warn!(%error, "indexing live rooms failed");
        }
    }
}

async fn sweep(node: &Node, kind: LiveKind) {
    let ttl = node.config.fleet.live_ttl();
    let stale = match node.broker.live_stale(kind, ttl, SWEEP_BATCH).await {
        Ok(stale) => stale,
        Err(error) => {
            node.metrics.broker_errors.inc();
            tracing::warn!(%error, "listing stale live rooms failed");
            return;
        }
    };
    for room in stale {
        if let Err(error) = update(node, &room, LeaseOp::Sweep, aggregate(kind)).await {
            node.metrics.broker_errors.inc();
            tracing::warn!(%error, room, "sweeping a live room failed");
        }
    }
}
