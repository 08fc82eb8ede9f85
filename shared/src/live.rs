//! Live state shared by many sockets on many nodes (a user's presence, a voice channel's
//! members): one map per room of per-session entries, each leased for a TTL that the owning
//! node refreshes. A dead node's entries lapse by themselves; any node's sweep then publishes
//! the change.
//!
//! Updates go in two steps so the aggregation rule lives once, in Rust: `apply` changes the
//! map, drops lapsed entries and returns the map with a version; the caller computes the
//! aggregate and `commit`s it, which stores and publishes it only if no other update came in
//! between (that later update publishes instead) and only if it differs from what was last
//! published.

/// What a `live_apply` does to a room's map before returning it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseOp {
    /// Adds or replaces a session's entry, leased for the TTL.
    Set { field: String, value: String },
    /// Removes a session's entry.
    Remove { field: String },
    /// Renews the lease of these sessions' entries (a node's heartbeat).
    Touch { fields: Vec<String> },
    /// Only drops lapsed entries.
    Sweep,
}

/// A room's live map after an `apply`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveSnapshot {
    /// Changes with every apply that changed something; `commit` checks it.
    pub version: u64,
    /// Session field → entry, for every entry whose lease is running.
    pub entries: Vec<(String, String)>,
    /// False when the apply changed nothing (a touch or sweep with nothing lapsed): there is
    /// nothing to commit, and `entries` is left empty.
    pub changed: bool,
    /// How many entries the map holds (also when unchanged): a sweep that finds an empty map
    /// takes the room out of the index.
    pub live_entries: usize,
}

/// The two families of live maps, each with its own index of rooms for the sweep.
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
