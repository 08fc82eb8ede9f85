//! The node's live-state heartbeat: every third of the lease TTL it renews its incarnation's
//! lease (one Redis step, whatever it holds), and sweeps the incarnations whose lease lapsed
//! (their nodes died or stalled), publishing the resulting changes (users going offline,
//! members leaving voice). The races are in docs/operations.md, "Presence and voice
//! liveness".

use super::{Aggregate, renew_every, update};
use crate::{
    dialect::render_reconnect,
    node::Node,
    session::{CloseReason, Outgoing},
};
use shared::live::{LeaseOp, LiveKind};
use std::sync::Arc;
use tokio::time::Instant;

/// Dead incarnations claimed per round.
const CLAIM_BATCH: usize = 16;
/// Rooms swept between two extensions of a claim: a node that held many users takes longer
/// to sweep than a claim lasts (one TTL), and another node would start over on it.
const ROOMS_PER_EXTENSION: usize = 500;

pub async fn run(node: Arc<Node>) {
    let ttl = node.config.fleet.live_ttl();
    let mut tick = tokio::time::interval(renew_every(ttl));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut known = false;
    // Since when every renewal succeeded: a node that was cut off from Redis does not sweep
    // until it has been back for a whole TTL, so that the nodes cut off with it (a Redis
    // outage) have renewed before anyone calls them dead.
    let mut healthy_since: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            _ = node.stopped.cancelled() => return,
            _ = tick.tick() => {}
        }
        let incarnation = node.incarnation.current();
        match node.broker.live_renew(&incarnation, ttl, known).await {
            Ok(true) => {
                known = true;
                healthy_since.get_or_insert_with(Instant::now);
            }
            Ok(false) => {
                start_over(&node, &incarnation);
                known = false;
                continue;
            }
            Err(error) => {
                node.metrics.broker_errors.inc();
                tracing::warn!(%error, "renewing the node's live lease failed");
                healthy_since = None;
                continue;
            }
        }
        retry_removals(&node).await;
        if healthy_since.is_some_and(|since| since.elapsed() >= ttl) {
            sweep(&node).await;
        }
        node.typing.retain_recent();
    }
}

/// The lease lapsed and a sweep claimed this incarnation (the node stalled longer than the
/// TTL): its entries are being removed, and entries set under it from now on could be removed
/// too. The node takes a new incarnation and asks every client to reconnect, so that each
/// session sets its presence and voice state again under the new one (a session resumes
/// with `RESUME`, on this node or another).
fn start_over(node: &Node, lapsed: &str) {
    let incarnation = node.incarnation.next();
    node.metrics.live_lease_lapses.inc();
    tracing::warn!(
        lapsed,
        incarnation,
        "the node's live lease lapsed; its clients reconnect"
    );
    let url = node.config.public_url();
    for member in node.hub.sessions() {
        if let Some(notice) = render_reconnect(member.format, Some(url.clone())) {
            member.outbound.try_send(Outgoing::plain(notice));
        }
        member.outbound.close(CloseReason::Reconnect);
    }
}

/// Retries the removals of entries that failed when their sessions closed.
async fn retry_removals(node: &Node) {
    for (kind, room, field) in node.leases.take_retries() {
        let aggregate = match kind {
            LiveKind::Presence => Aggregate::Presence,
            LiveKind::Voice => Aggregate::Voice { joined: false },
        };
        let op = LeaseOp::Remove {
            field: field.clone(),
        };
        if update(node, &room, op, aggregate).await.is_err() {
            node.leases.remove_later(kind, &room, &field);
        }
    }
}

/// Claims incarnations whose lease lapsed and removes their entries, room by room.
async fn sweep(node: &Node) {
    let ttl = node.config.fleet.live_ttl();
    let dead = match node.broker.live_claim(ttl, CLAIM_BATCH).await {
        Ok(dead) => dead,
        Err(error) => {
            node.metrics.broker_errors.inc();
            tracing::warn!(%error, "claiming lapsed live leases failed");
            return;
        }
    };
    for incarnation in dead {
        if let Err(error) = sweep_one(node, &incarnation).await {
            node.metrics.broker_errors.inc();
            // Claimed for a TTL: another round (here or on another node) takes it over.
            tracing::warn!(%error, incarnation, "sweeping a lapsed incarnation failed");
        }
    }
}

async fn sweep_one(node: &Node, incarnation: &str) -> Result<(), shared::broker::BrokerError> {
    let rooms = node.broker.live_held(incarnation).await?;
    tracing::info!(
        incarnation,
        rooms = rooms.len(),
        "sweeping a lapsed incarnation"
    );
    for (n, room) in rooms.into_iter().enumerate() {
        if n > 0 && n % ROOMS_PER_EXTENSION == 0 {
            let ttl = node.config.fleet.live_ttl();
            node.broker.live_extend_claim(incarnation, ttl).await?;
        }
        let aggregate = match room.split_once(':') {
            Some(("presence", _)) => Aggregate::Presence,
            Some(("channel", _)) => Aggregate::Voice { joined: false },
            _ => continue,
        };
        let dead = incarnation.to_owned();
        update(node, &room, LeaseOp::Sweep { dead }, aggregate).await?;
    }
    node.metrics.live_sweeps.inc();
    node.broker.live_buried(incarnation).await
}
