//! The one task that owns the node's broker subscriber: it applies the hub's room
//! transitions in order (batched), retries while the broker is down, and re-subscribes
//! every live room after the connection comes back, then asks the fan-out to catch the rooms
//! up from history (what was published meanwhile never reached the node).

use crate::metrics::Metrics;
use crate::sparse::ShrinkWhenSparse;
use shared::broker::Subscriber;
use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// A room transition requested by the hub.
pub enum Change {
    /// The first local socket joined: subscribe, then flip `ready` to true.
    Subscribe {
        room: String,
        ready: watch::Sender<bool>,
    },
    /// The last local socket left.
    Unsubscribe { room: String },
}

const RETRY_DELAY: Duration = Duration::from_millis(250);

/// What the broker should hold for a room, and who waits for it.
#[derive(Default)]
struct Wanted {
    subscribed: bool,
    waiters: Vec<watch::Sender<bool>>,
}

pub async fn run(
    subscriber: Subscriber,
    mut changes: mpsc::UnboundedReceiver<Change>,
    resyncs: mpsc::UnboundedSender<()>,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let mut reconnections = subscriber.reconnections();
    let mut live: HashSet<String> = HashSet::new();
    let mut pending: HashMap<String, Wanted> = HashMap::new();
    // Set on a reconnection; the fan-out is asked to catch up once every room is live again.
    let mut resync_due = false;
    loop {
        let retry = !pending.is_empty();
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            _ = reconnections.next() => {
                // The subscriber connected before this task listened, so every notice is a
                // reconnection (a spurious one only costs an idempotent re-subscribe).
                metrics.broker_reconnects.inc();
                tracing::info!(rooms = live.len(), "broker connection is back, re-subscribing");
                resync_due = true;
                // The server forgot our subscriptions: every live room is wanted again.
                for room in live.drain() {
                    pending.entry(room).or_default().subscribed = true;
                }
            }
            change = changes.recv() => {
                let Some(change) = change else { return };
                record(&mut pending, change);
                while let Ok(change) = changes.try_recv() {
                    record(&mut pending, change);
                }
            }
            _ = tokio::time::sleep(RETRY_DELAY), if retry => {}
        }
        apply(&subscriber, &mut live, &mut pending, &metrics).await;
        metrics.subscriptions.set(live.len() as i64);
        if resync_due && pending.values().all(|wanted| !wanted.subscribed) {
            resync_due = false;
            // The receiver lives as long as the node.
            let _ = resyncs.send(());
        }
    }
}

fn record(pending: &mut HashMap<String, Wanted>, change: Change) {
    match change {
        Change::Subscribe { room, ready } => {
            let wanted = pending.entry(room).or_default();
            wanted.subscribed = true;
            wanted.waiters.push(ready);
        }
        Change::Unsubscribe { room } => {
            let wanted = pending.entry(room).or_default();
            wanted.subscribed = false;
            wanted.waiters.clear();
        }
    }
}

/// Brings the broker in line with `pending`; what fails stays pending for the next retry.
async fn apply(
    subscriber: &Subscriber,
    live: &mut HashSet<String>,
    pending: &mut HashMap<String, Wanted>,
    metrics: &Metrics,
) {
    let (mut subscribe, mut unsubscribe) = (Vec::new(), Vec::new());
    pending.retain(
        |room, wanted| match (wanted.subscribed, live.contains(room)) {
            (true, true) => {
                notify(wanted.waiters.drain(..));
                false
            }
            (false, false) => false,
            (true, false) => {
                subscribe.push(room.clone());
                true
            }
            (false, true) => {
                unsubscribe.push(room.clone());
                true
            }
        },
    );
    if !subscribe.is_empty() {
        match subscriber.subscribe(&subscribe).await {
            Ok(()) => {
                tracing::debug!(rooms = ?subscribe, "subscribed");
                for room in subscribe {
                    if let Some(wanted) = pending.remove(&room) {
                        notify(wanted.waiters);
                    }
                    live.insert(room);
                }
            }
            Err(error) => {
                metrics.broker_errors.inc();
                tracing::warn!(%error, rooms = subscribe.len(), "subscribe failed, will retry");
            }
        }
    }
    if !unsubscribe.is_empty() {
        match subscriber.unsubscribe(&unsubscribe).await {
            Ok(()) => {
                tracing::debug!(rooms = ?unsubscribe, "unsubscribed");
                for room in unsubscribe {
                    pending.remove(&room);
                    live.remove(&room);
                }
                live.shrink_when_sparse();
                pending.shrink_when_sparse();
            }
            Err(error) => {
                metrics.broker_errors.inc();
                tracing::warn!(%error, rooms = unsubscribe.len(), "unsubscribe failed, will retry");
            }
        }
    }
}

/// Tells joiners their room is live (a joiner that gave up has dropped its receiver).
fn notify(waiters: impl IntoIterator<Item = watch::Sender<bool>>) {
    for waiter in waiters {
        let _ = waiter.send(true);
    }
}
