//! Redis key names (an optional prefix applies to keys, never to pub/sub channel names).
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{p}chan:{id}` | hash | name, kind, public, created_at |
//! | `{p}chan:{id}:members` | hash | user id → role |
//! | `{p}chan:{id}:bans` | hash | user id → `1` |
//! | `{p}chan:{id}:messages` | hash | message id → author id |
//! | `{p}dm:{id}:participants` | set | user ids |
//! | `{p}usernames` | hash | user id → display name |
//! | `{p}history:{room}` | stream | field `e`: the published envelope, `MAXLEN ~ 1000`, 24 h TTL |
//! | `{p}{fleet}:nodes` | sorted set | gateway node ids, scored by last heartbeat (ms) |
//! | `{p}{fleet}:node:{id}` | string | the node's `NodeInfo` JSON, expiring after the registry TTL |

use crate::{id::Id, room::Room};

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

    pub fn channel(&self, id: &Id) -> String {
        format!("{}chan:{id}", self.prefix)
    }

    pub fn members(&self, id: &Id) -> String {
        format!("{}chan:{id}:members", self.prefix)
    }

    pub fn bans(&self, id: &Id) -> String {
        format!("{}chan:{id}:bans", self.prefix)
    }

    pub fn messages(&self, id: &Id) -> String {
        format!("{}chan:{id}:messages", self.prefix)
    }

    pub fn dm_participants(&self, id: &Id) -> String {
        format!("{}dm:{id}:participants", self.prefix)
    }

    pub fn usernames(&self) -> String {
        format!("{}usernames", self.prefix)
    }

    pub fn history(&self, room: &str) -> String {
        format!("{}history:{room}", self.prefix)
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
