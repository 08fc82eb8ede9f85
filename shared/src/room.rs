//! Room names, which are also the Redis pub/sub channel names (DESIGN §2).

use crate::id::Id;
use std::{fmt, str::FromStr};

/// A pub/sub room: `channel:<id>`, `dm:<id>`, `user:<id>`, `global` or `presence:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Room {
    Channel(Id),
    Dm(Id),
    User(Id),
    Global,
    Presence(Id),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown room name")]
pub struct InvalidRoom;

impl FromStr for Room {
    type Err = InvalidRoom;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "global" {
            return Ok(Room::Global);
        }
        let (kind, id) = s.split_once(':').ok_or(InvalidRoom)?;
        let id = Id::parse(id).map_err(|_| InvalidRoom)?;
        match kind {
            "channel" => Ok(Room::Channel(id)),
            "dm" => Ok(Room::Dm(id)),
            "user" => Ok(Room::User(id)),
            "presence" => Ok(Room::Presence(id)),
            _ => Err(InvalidRoom),
        }
    }
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Room::Channel(id) => write!(f, "channel:{id}"),
            Room::Dm(id) => write!(f, "dm:{id}"),
            Room::User(id) => write!(f, "user:{id}"),
            Room::Global => f.write_str("global"),
            Room::Presence(id) => write!(f, "presence:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        for name in ["channel:42", "dm:a-b", "user:u_1", "global", "presence:7"] {
            let room: Room = name.parse().unwrap();
            assert_eq!(room.to_string(), name);
        }
    }

    #[test]
    fn rejects_unknown_kinds_and_bad_ids() {
        for bad in [
            "",
            "global:1",
            "guild:1",
            "channel:",
            "channel:a b",
            "channel",
            "user:x:y",
        ] {
            assert_eq!(bad.parse::<Room>(), Err(InvalidRoom), "{bad:?}");
        }
    }
}
