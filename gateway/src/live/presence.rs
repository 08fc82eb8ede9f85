//! Presence: a session's `PRESENCE_UPDATE`, the user's aggregate over all sessions, and
//! `PRESENCE_SUBSCRIBE`'s initial state.

use super::{Aggregate, update};
use crate::node::Node;
use serde_json::Value;
use shared::{
    Id,
    broker::BrokerError,
    event::{Envelope, Event, Presence},
    live::{LeaseOp, LiveKind, now_ms},
    presence::{self, SessionPresence},
};

/// Longest activity name accepted.
pub const MAX_GAME_NAME: usize = 128;

/// Sets this session's presence.
pub async fn set(
    node: &Node,
    user: &Id,
    field: &str,
    presence: &SessionPresence,
) -> Result<(), BrokerError> {
    let value = serde_json::to_string(presence).expect("presence serializes");
    let op = LeaseOp::Set {
        field: field.to_owned(),
        value,
    };
    update(node, &room(user), op, Aggregate::Presence).await
}

/// Drops this session's presence (its socket closed).
pub async fn clear(node: &Node, user: &Id, field: &str) -> Result<(), BrokerError> {
    update(
        node,
        &room(user),
        LeaseOp::Remove {
            field: field.to_owned(),
        },
        Aggregate::Presence,
    )
    .await
}

pub fn room(user: &Id) -> String {
    format!("presence:{user}")
}

/// (canonical, payload) of a user's aggregate; offline is stored as nothing.
pub(super) fn render(user: &Id, entries: &[(String, String)]) -> (String, String) {
    let sessions: Vec<SessionPresence> = entries
        .iter()
        .filter_map(|(_, v)| serde_json::from_str(v).ok())
        .collect();
    let visible = presence::aggregate(user, &sessions);
    let canonical = if visible.status == "offline" {
        String::new()
    } else {
        serde_json::to_string(&visible).expect("presence serializes")
    };
    (
        canonical,
        Envelope::new(Event::PresenceUpdate(visible)).to_json(),
    )
}

/// The current presence of each user (offline when nothing is live).
pub async fn current(node: &Node, users: &[Id]) -> Result<Vec<Presence>, BrokerError> {
    let rooms: Vec<String> = users.iter().map(room).collect();
    let stored = node.broker.live_current(&rooms).await?;
    Ok(users
        .iter()
        .zip(stored)
        .map(|(user, json)| {
            json.and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_else(|| presence::offline(user))
        })
        .collect())
}

/// Every user with live presence, up to `limit`.
pub async fn everyone(node: &Node, limit: usize) -> Result<Vec<Presence>, BrokerError> {
    let rooms = node.broker.live_indexed(LiveKind::Presence, limit).await?;
    let users: Vec<Id> = rooms
        .iter()
        .filter_map(|r| r.strip_prefix("presence:"))
        .filter_map(|id| Id::parse(id).ok())
        .collect();
    let all = current(node, &users).await?;
    Ok(all.into_iter().filter(|p| p.status != "offline").collect())
}

/// Why a `PRESENCE_UPDATE` was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPresence {
    #[error("unknown status: use online, idle, dnd or invisible")]
    Status,
    #[error("game must be null or an object with a string name of at most 128 characters")]
    Game,
    #[error("idle_since must be null or a timestamp in milliseconds")]
    IdleSince,
}

/// A session presence from `PRESENCE_UPDATE {status?, game?, idle_since?}` (seed 002: a
/// non-null `idle_since` without a status means idle).
pub fn parse(
    status: Option<&Value>,
    game: Option<&Value>,
    idle_since: Option<&Value>,
) -> Result<SessionPresence, InvalidPresence> {
    let idle_since = match idle_since {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or(InvalidPresence::IdleSince)?),
    };
    let status = match status {
        None | Some(Value::Null) if idle_since.is_some() => presence::Status::Idle,
        None | Some(Value::Null) => presence::Status::Online,
        Some(Value::String(s)) => presence::Status::parse(s).ok_or(InvalidPresence::Status)?,
        Some(_) => return Err(InvalidPresence::Status),
    };
    let game = match game {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => match o.get("name") {
            Some(Value::String(name))
                if !name.is_empty() && name.chars().count() <= MAX_GAME_NAME =>
            {
                Some(Value::Object(o.clone()))
            }
            _ => return Err(InvalidPresence::Game),
        },
        Some(_) => return Err(InvalidPresence::Game),
    };
    Ok(SessionPresence {
        status,
        game,
        idle_since,
        at: now_ms(),
        platform: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn idle_since_alone_means_idle() {
        let p = parse(
            None,
            Some(&json!({"name": "chess"})),
            Some(&json!(1450996513618u64)),
        )
        .unwrap();
        assert_eq!(p.status, presence::Status::Idle);
        assert_eq!(
            parse(None, None, None).unwrap().status,
            presence::Status::Online
        );
    }

    #[test]
    fn bad_fields_are_named() {
        assert_eq!(
            parse(Some(&json!("away")), None, None),
            Err(InvalidPresence::Status)
        );
        assert_eq!(
            parse(None, Some(&json!("chess")), None),
            Err(InvalidPresence::Game)
        );
        assert_eq!(
            parse(None, Some(&json!({"name": "x".repeat(129)})), None),
            Err(InvalidPresence::Game)
        );
        assert_eq!(
            parse(None, None, Some(&json!("yesterday"))),
            Err(InvalidPresence::IdleSince)
        );
    }
}
