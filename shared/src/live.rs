//! Live state shared by many sockets on many nodes (a user's presence, a voice channel's
//! members): one map per room of per-session entries. An entry's field names the node
//! *incarnation* holding it (`<incarnation>|<connection>`), and liveness is per incarnation,
//! not per entry: each node renews one lease for itself, whatever it holds, so an idle node
//! costs Redis a constant. A node whose lease lapsed is swept by any live node, room by room,
//! from the set of rooms it held; the sweep publishes the changes (users offline, members out
//! of voice). The races are in docs/operations.md, "Presence and voice liveness".
//!
//! Updates go in two steps so the aggregation rule lives once, in Rust: `apply` changes the
//! map and returns it with a version; the caller computes the aggregate and `commit`s it,
//! which stores and publishes it only if no other update came in between (that later update
//! publishes instead) and only if it differs from what was last published.

/// The field naming one session in a live map.
pub fn field(incarnation: &str, connection: u64) -> String {
    format!("{incarnation}|{connection}")
}

/// What a `live_apply` does to a room's map before returning it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseOp {
    /// Adds or replaces a session's entry, leased for the TTL.
    Set { field: String, value: String },
    /// Removes a session's entry.
    Remove { field: String },
    /// Removes every entry of a dead incarnation.
    Sweep { dead: String },
}

/// A room's live map after an `apply`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveSnapshot {
    /// Changes with every apply that changed something; `commit` checks it.
    pub version: u64,
    /// Session field → entry, for every entry whose lease is running.
    pub entries: Vec<(String, String)>,
    /// False when the apply changed nothing (a removal or sweep that found nothing): there is
    /// nothing to commit, and `entries` is left empty.
    pub changed: bool,
    /// How many entries the map holds (also when unchanged): a room found empty is taken out
    /// of the index.
    pub live_entries: usize,
}

/// The two families of live maps, each with its own index of the rooms with live state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LiveKind {
    Presence,
    Voice,
}

impl LiveKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LiveKind::Presence => "presence",
            LiveKind::Voice => "voice",
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
