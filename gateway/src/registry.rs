//! The node's entry in the fleet registry: refreshed every fifth of its TTL with the live
//! connection count, removed when the node drains or stops, and the fleet view read back on
//! every beat (so assignment checks on the connect path never wait for Redis).

use crate::node::Node;
use std::sync::Arc;

pub async fn run(node: Arc<Node>) {
    let ttl = node.config.fleet.registry_ttl();
    let mut beat = tokio::time::interval(node.config.fleet.heartbeat_every());
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = node.draining.cancelled() => break,
            _ = beat.tick() => {}
        }
        if let Err(error) = node.broker.register_node(&node.info(), ttl).await {
            node.metrics.broker_errors.inc();
            tracing::warn!(%error, "node registry heartbeat failed");
        }
        match node.broker.live_nodes().await {
            Ok(fleet) => node.set_fleet(fleet),
            Err(error) => {
                node.metrics.broker_errors.inc();
                tracing::warn!(%error, "reading the fleet failed");
            }
        }
    }
    // Draining: leave the registry so no new user is sent here, but keep the fleet view
    // fresh so clients are pointed at live nodes.
    if let Err(error) = node.broker.deregister_node(&node.id).await {
        tracing::warn!(%error, "leaving the node registry failed; the entry will expire");
    }
    loop {
        tokio::select! {
            biased;
            _ = node.stopped.cancelled() => return,
            _ = beat.tick() => {}
        }
        if let Ok(fleet) = node.broker.live_nodes().await {
            node.set_fleet(fleet);
        }
    }
}
