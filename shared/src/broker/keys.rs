//! Redis key names (an optional prefix `P` applies to keys, never to pub/sub channel names).
//! Braces are Redis Cluster hash tags: the keys a script touches together share a slot, and
//! a room's history shares the slot of the room's sharded pub/sub channel.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `Pchan:{channel:<id>}` | hash | name, kind, public, created_at |
//! | `Pchan:{channel:<id>}:members` | hash | user id → role |
//! | `Pchan:{channel:<id>}:bans` | hash | user id → `1` |
//! | `Pchan:{channel:<id>}:messages` | hash | message id → author id |
//! | `Pdm:{<id>}:participants` | set | user ids |
//! | `Pusernames` | hash | user id → display name |
//! | `Ppublic-channels` | set | ids of public channels (a superset: see `directory`) |
//! | `Puser-rooms:{user:<id>}` | set | the channels and DMs the user belongs to (a superset: see `directory`) |
//! | `Phistory:{<room>}` | stream | entry id `<offset>-0`, field `e`: the published envelope; `MAXLEN ~ HISTORY_MAX_LEN`, `HISTORY_TTL_SECS` after the last publication |
//! | `Phistory:{<room>}:meta` | hash | `e` the epoch, `s` the newest offset; same TTL as the stream |
//! | `Plive:{<room>}` | hash | live state of a room (presence of `presence:<u>`, voice of `channel:<c>`): session → entry |
//! | `Plive:{<room>}:ver` | string | version, bumped by every change |
//! | `Plive:{<room>}:cur` | string | the aggregate last published |
//! | `Plive-index:{presence\|voice}` | sorted set | rooms with live state, scored by when they got it (ms) |
//! | `P{live}:nodes` | sorted set | node incarnations, scored by lease expiry (ms) |
//! | `P{live}:dead` | set | incarnations claimed by a sweep, until it finished |
//! | `Plive-held:<incarnation>` | set | the rooms where the incarnation holds entries (a superset) |
//! | `Psession:<id>` | string | a closed session's record (JSON: user, last seq, room positions, recent frames), `GATEWAY_RESUME_TTL_SECS` |
//! | `Pidem:<scope>:<key>` | string | an `Idempotency-Key`'s record: pending, or the first answer (status, body, body hash) |
//! | `P{fleet}:nodes` | sorted set | gateway node ids, scored by last heartbeat (ms) |
//! | `P{fleet}:node:<id>` | string | the node's `NodeInfo` JSON, expiring after the registry TTL |

use crate::{id::Id, room::Room};

/// The keys of one room's live map.
pub struct LiveKeys {
    pub entries: String,
    pub version: String,
    pub current: String,
}

#[derive(Clone, Debug, Default)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// A channel's keys are tagged with its room, `{channel:<id>}`: they share the hash slot of
    /// the room's history and sharded pub/sub channel, so a change and its event are one step.
    pub fn channel(&self, id: &Id) -> String {
        format!("{}chan:{{channel:{id}}}", self.prefix)
    }

    pub fn members(&self, id: &Id) -> String {
        format!("{}chan:{{channel:{id}}}:members", self.prefix)
    }

    pub fn bans(&self, id: &Id) -> String {
        format!("{}chan:{{channel:{id}}}:bans", self.prefix)
    }

    pub fn messages(&self, id: &Id) -> String {
        format!("{}chan:{{channel:{id}}}:messages", self.prefix)
    }

    pub fn dm_participants(&self, id: &Id) -> String {
        format!("{}dm:{{{id}}}:participants", self.prefix)
    }

    /// The rooms a user belongs to (tagged with the user's own room).
    pub fn user_rooms(&self, user: &Id) -> String {
        format!("{}user-rooms:{{user:{user}}}", self.prefix)
    }

    /// The public channels' ids, for listing (a superset of the truth, like `user_rooms`).
    pub fn public_channels(&self) -> String {
        format!("{}public-channels", self.prefix)
    }

    pub fn usernames(&self) -> String {
        format!("{}usernames", self.prefix)
    }

    pub fn history(&self, room: &str) -> String {
        format!("{}history:{{{room}}}", self.prefix)
    }

    /// The epoch and newest offset of `room`'s history (same hash slot as the stream).
    pub fn history_meta(&self, room: &str) -> String {
        format!("{}history:{{{room}}}:meta", self.prefix)
    }

    /// The live map of `room` and its companions: entries, version, current aggregate. All
    /// three share the room's hash slot (and so its sharded channel's).
    pub fn live(&self, room: &str) -> LiveKeys {
        let base = format!("{}live:{{{room}}}", self.prefix);
        LiveKeys {
            version: format!("{base}:ver"),
            current: format!("{base}:cur"),
            entries: base,
        }
    }

    /// The incarnation leases and the incarnations being swept (one hash slot: a renewal
    /// and a claim are checked against each other in one step).
    pub fn live_nodes(&self) -> [String; 2] {
        [
            format!("{}{{live}}:nodes", self.prefix),
            format!("{}{{live}}:dead", self.prefix),
        ]
    }

    pub fn live_held(&self, incarnation: &str) -> String {
        format!("{}live-held:{incarnation}", self.prefix)
    }

    pub fn live_index(&self, kind: crate::live::LiveKind) -> String {
        format!("{}live-index:{}", self.prefix, kind.as_str())
    }

    /// A closed session's record, for resuming it.
    pub fn session(&self, id: &str) -> String {
        format!("{}session:{id}", self.prefix)
    }

    /// The record of one `Idempotency-Key`, scoped by the caller and the route.
    pub fn idempotency(&self, scoped_key: &str) -> String {
        format!("{}idem:{scoped_key}", self.prefix)
    }

    /// The registry's index of node ids (one hash slot with the entries: `{fleet}`).
    pub fn nodes(&self) -> String {
        format!("{}{{fleet}}:nodes", self.prefix)
    }

    pub fn node(&self, id: &str) -> String {
        format!("{}{{fleet}}:node:{id}", self.prefix)
    }

    pub fn room_history(&self, room: &Room) -> String {
        self.history(&room.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_move_together_share_a_hash_tag() {
        let keys = Keys::new("p:");
        let id = Id::parse("42").unwrap();
        assert_eq!(keys.channel(&id), "p:chan:{channel:42}");
        assert_eq!(keys.members(&id), "p:chan:{channel:42}:members");
        assert_eq!(keys.bans(&id), "p:chan:{channel:42}:bans");
        // A channel's state, its history and its room share one slot.
        let slot = |k: &str| fred::util::redis_keyslot(k.as_bytes());
        assert_eq!(slot(&keys.members(&id)), slot("channel:42"));
        assert_eq!(slot(&keys.history_meta("channel:42")), slot("channel:42"));
        // The history of room X hashes like the sharded channel X itself.
        assert_eq!(keys.history("channel:42"), "p:history:{channel:42}");
        assert_eq!(keys.node("gw-1"), "p:{fleet}:node:gw-1");
    }
}
