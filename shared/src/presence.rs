//! Presence: what each session says (status, activity, idle time) and the one presence the
//! rest of the world sees for the user, aggregated over all their sessions on all nodes.
//!
//! Rules: no session → `offline`; any session `invisible` → `offline` to everyone; else any
//! `online` → `online`; else any `dnd` → `dnd`; else (all idle) → `idle` with the earliest
//! `idle_since`. The activity (`game`) is the one set most recently by a session that has one,
//! and so is the `username`.

use crate::{event::Presence, id::Id};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A status a client may set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Online,
    Idle,
    Dnd,
    Invisible,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "online" => Some(Status::Online),
            "idle" => Some(Status::Idle),
            "dnd" => Some(Status::Dnd),
            "invisible" => Some(Status::Invisible),
            _ => None,
        }
    }
}

/// The kind of client a session runs on (Lanyard's `active_on_discord_*`): from a Discord
/// client's identify `properties`; native sessions count as `web`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Desktop,
    Mobile,
    Web,
}

/// One session's presence, as stored in the user's live map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionPresence {
    pub status: Status,
    pub game: Option<Value>,
    pub idle_since: Option<u64>,
    /// When the session set it (ms), to pick the latest activity.
    pub at: u64,
    /// The session's client kind, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The session's username (its token's `name` claim), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl SessionPresence {
    /// A fresh session: online, no activity.
    pub fn online(at: u64) -> Self {
        SessionPresence {
            status: Status::Online,
            game: None,
            idle_since: None,
            at,
            platform: None,
            username: None,
        }
    }
}

/// The user's visible presence.
pub fn aggregate(user: &Id, sessions: &[SessionPresence]) -> Presence {
    let offline = || Presence {
        user_id: user.clone(),
        status: "offline".into(),
        game: None,
        idle_since: None,
        active_on: Vec::new(),
        username: None,
    };
    if sessions.is_empty() || sessions.iter().any(|s| s.status == Status::Invisible) {
        return offline();
    }
    let has = |status| sessions.iter().any(|s| s.status == status);
    let (status, idle_since) = if has(Status::Online) {
        ("online", None)
    } else if has(Status::Dnd) {
        ("dnd", None)
    } else {
        ("idle", sessions.iter().filter_map(|s| s.idle_since).min())
    };
    let game = sessions
        .iter()
        .filter(|s| s.game.is_some())
        .max_by_key(|s| s.at)
        .and_then(|s| s.game.clone());
    let username = sessions
        .iter()
        .filter(|s| s.username.is_some())
        .max_by_key(|s| s.at)
        .and_then(|s| s.username.clone());
    let mut active_on: Vec<Platform> = sessions.iter().filter_map(|s| s.platform).collect();
    active_on.sort_unstable();
    active_on.dedup();
    Presence {
        user_id: user.clone(),
        status: status.into(),
        game,
        idle_since,
        active_on,
        username,
    }
}

/// The presence of a user nobody has seen.
pub fn offline(user: &Id) -> Presence {
    aggregate(user, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(status: Status, at: u64) -> SessionPresence {
        SessionPresence {
            status,
            game: None,
            idle_since: None,
            at,
            platform: None,
            username: None,
        }
    }

    fn user() -> Id {
        Id::parse("u").unwrap()
    }

    #[test]
    fn online_wins_idle_needs_everyone() {
        let mut idle = session(Status::Idle, 1);
        idle.idle_since = Some(50);
        assert_eq!(
            aggregate(&user(), &[idle.clone(), session(Status::Online, 2)]).status,
            "online"
        );
        let mut idle2 = idle.clone();
        idle2.idle_since = Some(40);
        let both = aggregate(&user(), &[idle, idle2]);
        assert_eq!((both.status.as_str(), both.idle_since), ("idle", Some(40)));
        assert_eq!(
            aggregate(
                &user(),
                &[session(Status::Dnd, 1), session(Status::Idle, 2)]
            )
            .status,
            "dnd"
        );
    }

    #[test]
    fn invisible_and_no_session_look_offline() {
        assert_eq!(aggregate(&user(), &[]).status, "offline");
        let seen = aggregate(
            &user(),
            &[session(Status::Online, 1), session(Status::Invisible, 2)],
        );
        assert_eq!(seen, offline(&user()));
    }

    #[test]
    fn the_latest_named_session_names_the_user_and_invisible_hides_it() {
        let mut a = session(Status::Online, 1);
        a.username = Some("old".into());
        let mut b = session(Status::Idle, 5);
        b.username = Some("new".into());
        let c = session(Status::Online, 9);
        assert_eq!(
            aggregate(&user(), &[a.clone(), b.clone(), c])
                .username
                .as_deref(),
            Some("new")
        );
        assert_eq!(aggregate(&user(), &[]).username, None);
        let hidden = session(Status::Invisible, 10);
        assert_eq!(aggregate(&user(), &[a, b, hidden]).username, None);
    }

    #[test]
    fn the_latest_activity_wins() {
        let mut a = session(Status::Online, 1);
        a.game = Some(json!({"name": "old"}));
        let mut b = session(Status::Online, 5);
        b.game = Some(json!({"name": "new"}));
        let c = session(Status::Online, 9);
        assert_eq!(
            aggregate(&user(), &[a, b, c]).game,
            Some(json!({"name": "new"}))
        );
    }
}
