//! Presence: a session's `PRESENCE_UPDATE`, the user's aggregate over all sessions, and
//! following other users' presence (native `PRESENCE_SUBSCRIBE`, Lanyard's Initialize and
//! Unsubscribe) with its initial state.

use super::{Aggregate, update};
use crate::node::Node;
use crate::session::{Session, SubscribeError};
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

/// Most presences following everyone answers with.
pub const MAX_ALL_PRESENCES: usize = 10_000;

/// Whose presence a session follows (or stops following): seed 003's three shapes.
#[derive(Debug, PartialEq)]
pub enum Target {
    /// These users: the initial state is a map id → presence.
    Many(Vec<Id>),
    /// One user: the initial state is that user's presence.
    One(Id),
    /// Everyone: the initial state maps every user with a visible presence.
    All,
}

/// The presence a follow starts from, in the shape its target asked for.
#[derive(Debug, PartialEq)]
pub enum Initial {
    /// For [`Target::One`].
    One(Presence),
    /// For [`Target::Many`] (every id asked, offline when nothing is live) and
    /// [`Target::All`] (visible users only).
    Many(Vec<Presence>),
}

/// Why a session could not follow what it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    #[error("too many user ids (see GATEWAY_PRESENCE_MAX_IDS)")]
    TooManyIds,
    #[error("presence for all users is not enabled on this deployment")]
    AllDisabled,
    #[error(transparent)]
    Subscribe(#[from] SubscribeError),
    #[error("presence unavailable, try again")]
    Unavailable,
}

/// Follows the presence of `target` (its `presence:` rooms, or every one of them), then reads
/// where it stands now. Updates published after the follow reach the session; one published
/// between the follow and the read may also be in the initial state.
pub async fn follow(session: &mut Session, target: Target) -> Result<Initial, FollowError> {
    let node = session.node().clone();
    let limits = &node.config.limits;
    match target {
        Target::One(user) => {
            session.follow_presence(&user).await?;
            let mut current = current(&node, std::slice::from_ref(&user))
                .await
                .map_err(|_| FollowError::Unavailable)?;
            Ok(Initial::One(current.remove(0)))
        }
        Target::Many(users) => {
            if users.len() > limits.presence_max_ids {
                return Err(FollowError::TooManyIds);
            }
            if !session.follow_presences(&users).await?.is_empty() {
                return Err(SubscribeError::Unavailable.into());
            }
            let current = current(&node, &users)
                .await
                .map_err(|_| FollowError::Unavailable)?;
            Ok(Initial::Many(current))
        }
        Target::All => {
            if !limits.presence_allow_all {
                return Err(FollowError::AllDisabled);
            }
            session.follow_all_presence().await?;
            let everyone = everyone(&node, MAX_ALL_PRESENCES)
                .await
                .map_err(|_| FollowError::Unavailable)?;
            Ok(Initial::Many(everyone))
        }
    }
}

/// Stops following the presence of `target`: [`Target::All`] stops following everyone and
/// each user followed one by one. Users not followed are ignored.
pub fn unfollow(session: &mut Session, target: Target) {
    match target {
        Target::One(user) => {
            session.unfollow_presence(&user);
        }
        Target::Many(users) => {
            for user in &users {
                session.unfollow_presence(user);
            }
        }
        Target::All => session.unfollow_all_presence(),
    }
}

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
        username: None,
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
