//! The event catalogue (DESIGN §3) and the envelope every Redis publication carries:
//! seed 001's `{type, timestamp, data}` plus `id` (event uuid), and `offset` and `epoch` (the
//! event's place in its room's history, see [`crate::history`]).

use crate::id::Id;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One event, tagged the way seed 001 puts it on the wire: `{"type": ..., "data": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    ChannelMessage(Message),
    MessageReply(Message),
    MessageUpdated(MessageUpdated),
    MessageDeleted(MessageRef),
    MemberJoined(Member),
    MemberLeft(Member),
    MemberRoleUpdated(MemberRoleUpdated),
    UserBanned(Moderation),
    UserUnbanned(Moderation),
    UserKicked(Moderation),
    ChannelCreated(ChannelCreated),
    ChannelUpdated(ChannelUpdated),
    ChannelDeleted(ChannelRef),
    UserTyping(Typing),
    #[serde(rename = "DIRECT_MESSAGE_CREATE")]
    DirectMessageCreate(DirectMessage),
    #[serde(rename = "VOICE_SIGNAL")]
    VoiceSignal(VoiceSignal),
    #[serde(rename = "VOICE_STATE_UPDATE")]
    VoiceStateUpdate(VoiceState),
    #[serde(rename = "PRESENCE_UPDATE")]
    PresenceUpdate(Presence),
    /// A DM thread was opened: published on each participant's `user:<id>`, so their
    /// sessions (and a Discord client's implicit subscriptions) learn of it.
    DmCreated(DmCreated),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DmCreated {
    pub dm_id: Id,
    pub participants: Vec<Id>,
}

/// `channel_message` and `message_reply`: seed 001's fields plus the `id`, `author_id` and
/// `created_at` seed 000's `MESSAGE_CREATE` needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub channel_id: Id,
    pub message_id: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_message_id: Option<Id>,
    pub user_id: Id,
    pub username: Option<String>,
    pub content: String,
    pub id: Id,
    pub author_id: Id,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageUpdated {
    pub channel_id: Id,
    pub message_id: Id,
    pub content: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageRef {
    pub channel_id: Id,
    pub message_id: Id,
}

/// `member_joined` and `member_left`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub channel_id: Id,
    pub user_id: Id,
    pub username: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberRoleUpdated {
    pub channel_id: Id,
    pub user_id: Id,
    pub username: Option<String>,
    pub new_role: String,
}

/// `user_banned`, `user_unbanned` and `user_kicked`. Published twice: on `channel:<id>` with
/// `user_id`, and on `user:<id>` without it (seed 001).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moderation {
    pub channel_id: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motive: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelCreated {
    pub channel_id: Id,
    pub channel_name: String,
    #[serde(default)]
    pub kind: ChannelKind,
    #[serde(default)]
    pub public: bool,
}

/// `channel_updated`: the channel id and whichever fields changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelUpdated {
    pub channel_id: Id,
    #[serde(flatten)]
    pub changes: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelRef {
    pub channel_id: Id,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Typing {
    pub channel_id: Id,
    pub user_id: Id,
    pub username: Option<String>,
    pub is_typing: bool,
}

/// Seed 000's `DIRECT_MESSAGE_CREATE`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectMessage {
    pub id: Id,
    pub direct_thread_id: Id,
    pub author_id: Id,
    pub content: String,
    pub created_at: String,
}

/// Seed 000's `VOICE_SIGNAL`; `to_user_id` narrows delivery to one member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoiceSignal {
    pub from_user_id: Id,
    pub signal: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_user_id: Option<Id>,
}

/// Seed 000's `VOICE_STATE_UPDATE`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoiceState {
    pub channel_id: Id,
    pub joined: bool,
    pub member_user_ids: Vec<Id>,
    pub member_states: Vec<VoiceMemberState>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoiceMemberState {
    pub user_id: Id,
    pub muted: bool,
    pub deafened: bool,
}

/// A user's presence as published on `presence:<user_id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Presence {
    pub user_id: Id,
    pub status: String,
    pub game: Option<Value>,
    pub idle_since: Option<u64>,
    /// The kinds of client the user's visible sessions run on (empty when offline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_on: Vec<crate::presence::Platform>,
    /// The user's name as their latest named session gave it (its token's `name` claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    #[default]
    Text,
    Voice,
}

/// What goes on a Redis channel: the event plus its `timestamp`, `id` and `offset`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(flatten)]
    pub event: Event,
    pub timestamp: String,
    pub id: uuid::Uuid,
    /// The event's number in its room's history (1, 2, 3, ...); set by the broker when it
    /// appends to history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The room history's epoch the offset belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

impl Envelope {
    /// Wraps `event` with a fresh id and the current time.
    pub fn new(event: Event) -> Self {
        Envelope {
            event,
            timestamp: now_rfc3339(),
            id: uuid::Uuid::now_v7(),
            offset: None,
            epoch: None,
        }
    }

    /// The JSON the broker publishes.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an envelope always serializes")
    }
}

impl Event {
    /// The seed name of this event, as it appears in `type`.
    pub fn name(&self) -> &'static str {
        match self {
            Event::ChannelMessage(_) => "channel_message",
            Event::MessageReply(_) => "message_reply",
            Event::MessageUpdated(_) => "message_updated",
            Event::MessageDeleted(_) => "message_deleted",
            Event::MemberJoined(_) => "member_joined",
            Event::MemberLeft(_) => "member_left",
            Event::MemberRoleUpdated(_) => "member_role_updated",
            Event::UserBanned(_) => "user_banned",
            Event::UserUnbanned(_) => "user_unbanned",
            Event::UserKicked(_) => "user_kicked",
            Event::ChannelCreated(_) => "channel_created",
            Event::ChannelUpdated(_) => "channel_updated",
            Event::ChannelDeleted(_) => "channel_deleted",
            Event::UserTyping(_) => "user_typing",
            Event::DirectMessageCreate(_) => "DIRECT_MESSAGE_CREATE",
            Event::VoiceSignal(_) => "VOICE_SIGNAL",
            Event::VoiceStateUpdate(_) => "VOICE_STATE_UPDATE",
            Event::PresenceUpdate(_) => "PRESENCE_UPDATE",
            Event::DmCreated(_) => "dm_created",
        }
    }
}

/// The current UTC time as RFC 3339 with milliseconds, e.g. `2025-01-15T10:30:00.000Z`.
pub fn now_rfc3339() -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(FORMAT)
        .expect("UTC time always formats")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_has_the_seed_001_shape() {
        let env = Envelope::new(Event::ChannelDeleted(ChannelRef {
            channel_id: Id::parse("42").unwrap(),
        }));
        let v: Value = serde_json::from_str(&env.to_json()).unwrap();
        assert_eq!(v["type"], "channel_deleted");
        assert_eq!(v["data"], json!({"channel_id": "42"}));
        assert_eq!(
            v["timestamp"].as_str().unwrap().len(),
            "2025-01-15T10:30:00.000Z".len()
        );
        assert!(v["id"].is_string());
        assert!(v.get("offset").is_none());
    }

    #[test]
    fn envelope_round_trips() {
        let mut changes = Map::new();
        changes.insert("name".into(), json!("general"));
        let mut env = Envelope::new(Event::ChannelUpdated(ChannelUpdated {
            channel_id: Id::parse("c1").unwrap(),
            changes,
        }));
        env.offset = Some(1);
        env.epoch = Some("e1".into());
        let back: Envelope = serde_json::from_str(&env.to_json()).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn upper_case_names_are_kept() {
        let event = Event::VoiceSignal(VoiceSignal {
            from_user_id: Id::parse("2").unwrap(),
            signal: json!({"type": "answer"}),
            to_user_id: None,
        });
        let v = serde_json::to_value(&event).unwrap();
        assert_eq!(v["type"], "VOICE_SIGNAL");
        assert_eq!(event.name(), "VOICE_SIGNAL");
    }
}
