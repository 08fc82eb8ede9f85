//! Live state a session contributes to: the user's presence and a voice channel's members
//! (multi-node, see `shared::live`), and typing indicators. The session calls in;
//! [`lease::run`] keeps this node's lease alive and sweeps what dead nodes left behind.

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

/// The live entries this node's sessions own: (kind, room) → session fields; and removals
/// that failed (Redis did not answer), retried by [`lease::run`]: an entry is only removed
/// by its session or by a sweep after the node died, so a removal must not be dropped.
#[derive(Default)]
pub struct Leases {
    owned: Mutex<HashMap<(LiveKind, String), HashSet<String>>>,
    retries: Mutex<Vec<(LiveKind, String, String)>>,
}

impl Leases {
    fn hold(&self, kind: LiveKind, room: &str, field: &str) {
        let mut owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        owned
            .entry((kind, room.to_owned()))
            .or_default()
            .insert(field.to_owned());
    }

    /// Forgets `field`; true when no other field of its incarnation is left in the room.
    fn release(&self, kind: LiveKind, room: &str, field: &str) -> bool {
        let mut owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (kind, room.to_owned());
        let Some(fields) = owned.get_mut(&key) else {
            return true;
        };
        fields.remove(field);
        let incarnation = incarnation_of(field);
        let last = !fields.iter().any(|f| incarnation_of(f) == incarnation);
        if fields.is_empty() {
            owned.remove(&key);
            owned.shrink_when_sparse();
        }
        last
    }

    /// Remembers a removal to retry.
    pub fn remove_later(&self, kind: LiveKind, room: &str, field: &str) {
        let mut retries = self.retries.lock().unwrap_or_else(PoisonError::into_inner);
        retries.push((kind, room.to_owned(), field.to_owned()));
    }

    fn take_retries(&self) -> Vec<(LiveKind, String, String)> {
        std::mem::take(&mut *self.retries.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// This node's session fields in one room's map.
    pub(crate) fn fields(&self, kind: LiveKind, room: &str) -> Vec<String> {
        let owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        owned
            .get(&(kind, room.to_owned()))
            .map(|f| f.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The incarnation part of a session field (`<incarnation>|<connection>`).
fn incarnation_of(field: &str) -> &str {
    field
        .rsplit_once('|')
        .map_or(field, |(incarnation, _)| incarnation)
}

/// The name this node's live entries are held under: `<node id>:<boot>.<n>`, where `n`
/// counts the times the node found its lease lapsed and started over.
pub struct Incarnation {
    base: String,
    current: Mutex<(u32, String)>,
}

impl Incarnation {
    pub fn new(node_id: &str, boot: &str) -> Incarnation {
        let base = format!("{node_id}:{boot}");
        let first = format!("{base}.0");
        Incarnation {
            base,
            current: Mutex::new((0, first)),
        }
    }

    pub fn current(&self) -> String {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.1.clone()
    }

    /// Starts a new incarnation and returns it.
    pub fn next(&self) -> String {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.0 += 1;
        current.1 = format!("{}.{}", self.base, current.0);
        current.1.clone()
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
/// changed. Keeps the node's bookkeeping (its entries, the rooms its incarnation holds) and
/// the index of rooms with live state in step.
pub async fn update(
    node: &Node,
    room: &str,
    op: LeaseOp,
    aggregate: Aggregate,
) -> Result<(), BrokerError> {
    let kind = aggregate.kind();
    let mut unhold = None;
    match &op {
        LeaseOp::Set { field, .. } => {
            // Before the entry exists: a sweep must find the room if this node dies.
            node.broker.live_hold(incarnation_of(field), room).await?;
            node.leases.hold(kind, room, field);
        }
        LeaseOp::Remove { field } => {
            if node.leases.release(kind, room, field) {
                unhold = Some(incarnation_of(field).to_owned());
            }
        }
        LeaseOp::Sweep { .. } => {}
    }
    let snapshot = node.broker.live_apply(room, &op).await?;
    if let Some(incarnation) = unhold {
        // After the entry is gone (a failure leaves the room listed: a sweep finds nothing).
        node.broker.live_unhold(&incarnation, room).await?;
    }
    if !snapshot.changed {
        if snapshot.live_entries == 0 {
            node.broker.live_unindex(kind, room).await?;
        }
        return Ok(());
    }
    let Some((canonical, payload)) = aggregate.render(room, &snapshot.entries) else {
        return Ok(());
    };
    node.broker
        .live_commit(room, snapshot.version, &canonical, Some(&payload))
        .await?;
    if snapshot.entries.is_empty() {
        node.broker.live_unindex(kind, room).await?;
    } else if matches!(op, LeaseOp::Set { .. }) {
        node.broker.live_index(kind, &[room.to_owned()]).await?;
    }
    Ok(())
}

/// The field naming one session in a live map: `<incarnation>|<connection id>`.
pub fn session_field(node: &Node, conn: crate::session::ConnId) -> String {
    shared::live::field(&node.incarnation.current(), conn.0)
}

/// How often the node's lease is renewed and dead incarnations' entries swept.
pub fn renew_every(ttl: Duration) -> Duration {
    ttl / 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_is_released_with_the_last_field_of_an_incarnation() {
        let leases = Leases::default();
        let room = "presence:7";
        for field in ["n:a.0|1", "n:a.0|2", "n:a.1|3"] {
            leases.hold(LiveKind::Presence, room, field);
        }
        assert!(
            !leases.release(LiveKind::Presence, room, "n:a.0|1"),
            "|2 is left"
        );
        assert!(leases.release(LiveKind::Presence, room, "n:a.0|2"));
        assert!(leases.release(LiveKind::Presence, room, "n:a.1|3"));
        assert!(leases.fields(LiveKind::Presence, room).is_empty());
    }

    #[test]
    fn incarnations_are_numbered_from_the_node_and_its_boot() {
        let incarnation = Incarnation::new("gw-1", "b00t");
        assert_eq!(incarnation.current(), "gw-1:b00t.0");
        assert_eq!(incarnation.next(), "gw-1:b00t.1");
        assert_eq!(incarnation.current(), "gw-1:b00t.1");
        assert_eq!(incarnation_of("gw-1:b00t.1|42"), "gw-1:b00t.1");
    }
}
