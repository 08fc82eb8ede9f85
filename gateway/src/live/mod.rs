//! Live state a session contributes to: the user's presence and a voice channel's members
//! (leased, multi-node, see `shared::live`), and typing indicators. The session calls in;
//! [`lease::run`] keeps this node's leases alive and sweeps what dead nodes left behind.

pub mod lease;
pub mod presence;
pub mod typing;
pub mod voice;

use crate::node::Node;
use crate::sparse::ShrinkWhenSparse;
use shared::{broker::BrokerError, live::LeaseOp, live::LiveKind};
use std::{
    collections::{HashMap, HashSet},
    sync::{Mutex, PoisonError},
    time::Duration,
};

/// The live entries this node owns, to renew their leases: (kind, room) → session fields.
#[derive(Default)]
pub struct Leases {
    owned: Mutex<HashMap<(LiveKind, String), HashSet<String>>>,
}

impl Leases {
    fn hold(&self, kind: LiveKind, room: &str, field: &str) {
        let mut owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        owned
            .entry((kind, room.to_owned()))
            .or_default()
            .insert(field.to_owned());
    }

    fn release(&self, kind: LiveKind, room: &str, field: &str) {
        let mut owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (kind, room.to_owned());
        if let Some(fields) = owned.get_mut(&key) {
            fields.remove(field);
            if fields.is_empty() {
                owned.remove(&key);
                owned.shrink_when_sparse();
            }
        }
    }

    /// This node's session fields in one room's map.
    fn fields(&self, kind: LiveKind, room: &str) -> Vec<String> {
        let owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        owned
            .get(&(kind, room.to_owned()))
            .map(|f| f.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// A copy of everything held, for one renewal round.
    fn snapshot(&self) -> Vec<((LiveKind, String), Vec<String>)> {
        let owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        owned
            .iter()
            .map(|(k, fields)| (k.clone(), fields.iter().cloned().collect()))
            .collect()
    }
}

/// How a room's entries become the aggregate that is stored and published.
pub enum Aggregate {
    Presence,
    /// `joined` tells subscribers whether the change was a join/update or a leave.
    Voice {
        joined: bool,
    },
}

impl Aggregate {
    fn kind(&self) -> LiveKind {
        match self {
            Aggregate::Presence => LiveKind::Presence,
            Aggregate::Voice { .. } => LiveKind::Voice,
        }
    }

    /// (canonical form, payload to publish); the canonical form is empty when nothing is live.
    fn render(&self, room: &str, entries: &[(String, String)]) -> Option<(String, String)> {
        let (_, id) = room.split_once(':')?;
        let id = shared::Id::parse(id).ok()?;
        match self {
            Aggregate::Presence => Some(presence::render(&id, entries)),
            Aggregate::Voice { joined } => Some(voice::render(&id, *joined, entries)),
        }
    }
}

/// Applies `op` to `room`'s live map, then stores and publishes the new aggregate if it
/// changed. Keeps the node's lease bookkeeping and the sweep index in step.
pub async fn update(
    node: &Node,
    room: &str,
    op: LeaseOp,
    aggregate: Aggregate,
) -> Result<(), BrokerError> {
    let kind = aggregate.kind();
    let ttl = node.config.fleet.live_ttl();
    match &op {
        LeaseOp::Set { field, .. } => node.leases.hold(kind, room, field),
        LeaseOp::Remove { field } => node.leases.release(kind, room, field),
        LeaseOp::Touch { .. } | LeaseOp::Sweep => {}
    }
    let snapshot = node.broker.live_apply(room, &op, ttl).await?;
    if !snapshot.changed {
        if snapshot.live_entries == 0 && matches!(op, LeaseOp::Sweep) {
            // Nothing left to sweep (its keys may have expired): stop listing the room.
            node.broker.live_unindex(kind, room).await?;
        }
        return Ok(());
    }
    let Some((canonical, payload)) = aggregate.render(room, &snapshot.entries) else {
        return Ok(());
    };
    node.broker
        .live_commit(room, snapshot.version, &canonical, Some(&payload), ttl)
        .await?;
    if snapshot.entries.is_empty() {
        node.broker.live_unindex(kind, room).await?;
    } else if matches!(op, LeaseOp::Set { .. }) {
        node.broker.live_index(kind, &[room.to_owned()]).await?;
    }
    Ok(())
}

/// The field naming one session in a live map: `<node id>|<connection id>`.
pub fn session_field(node: &Node, conn: crate::session::ConnId) -> String {
    format!("{}|{}", node.id, conn.0)
}

/// How often leases are renewed and dead nodes' leftovers swept.
pub fn renew_every(ttl: Duration) -> Duration {
    ttl / 3
}
