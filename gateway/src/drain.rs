//! Draining: when the node is asked to stop it tells every client to reconnect (in batches
//! spread over the drain window, so the fleet is not hit by one reconnect storm), waits for
//! the sockets to close, and stops before the shutdown grace period ends.

use crate::{
    dialect::render_reconnect,
    node::Node,
    session::{CloseReason, Outgoing},
};
use std::{sync::Arc, time::Duration};
use tokio::time::{Instant, sleep, sleep_until};

/// Pause between two batches.
const TICK: Duration = Duration::from_millis(100);

/// Runs the drain; returns when every session is closed or the grace period is over.
pub async fn run(node: &Arc<Node>) {
    let started = Instant::now();
    let deadline = started
        + node
            .config
            .fleet
            .shutdown_grace()
            .saturating_sub(Duration::from_millis(500));
    // Give the registry a beat to leave and the fleet view to settle.
    sleep(TICK).await;
    let sessions = node.hub.sessions();
    let ticks = (node.config.fleet.drain_window().as_millis() / TICK.as_millis()).max(1) as usize;
    let batch = sessions.len().div_ceil(ticks).max(1);
    tracing::info!(sessions = sessions.len(), batch, "draining");
    for (n, chunk) in sessions.chunks(batch).enumerate() {
        if Instant::now() >= deadline {
            break;
        }
        for member in chunk {
            let url = node.successor_for(member.user.as_str());
            if let Some(notice) = render_reconnect(member.format, url) {
                member.outbound.try_send(Outgoing::plain(notice));
            }
            member.outbound.close(CloseReason::Reconnect);
        }
        sleep_until((started + TICK * (n as u32 + 1)).min(deadline)).await;
    }
    while node.hub.session_count() > 0 && Instant::now() < deadline {
        sleep(Duration::from_millis(20)).await;
    }
}
