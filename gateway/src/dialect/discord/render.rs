//! Events as Discord v3 dispatches. Each channel of this system is one guild of the same id
//! holding one channel of that id (see docs/protocol-discord.md for the whole table): message
//! events become `MESSAGE_*`, member and moderation events `GUILD_MEMBER_*`/`GUILD_BAN_*`,
//! channel lifecycle `CHANNEL_*`. Copies of events on the user's own room are not shown:
//! what they mean reaches the client as the guild it was let into or taken out of.

use super::frames::{dispatch, timestamp, user};
use crate::dialect::Inbound;
use axum::extract::ws::Message;
use serde_json::{Value, json};
use shared::event::{self, Event};

/// The dispatch for `inbound`, if Discord shows it.
pub fn event(inbound: &Inbound) -> Option<Message> {
    let Some(envelope) = &inbound.envelope else {
        // Another publisher's event: its `type` as `t`, its `data` as `d`.
        let generic = inbound.generic.as_ref()?;
        let kind = generic.get("type")?.as_str()?;
        let data = generic.get("data").cloned().unwrap_or(Value::Null);
        return Some(dispatch(kind, data));
    };
    let own_room = inbound.room.starts_with("user:");
    let at = timestamp(&envelope.timestamp);
    let (t, d) = match &envelope.event {
        Event::ChannelMessage(m) | Event::MessageReply(m) => ("MESSAGE_CREATE", message(m)),
        Event::MessageUpdated(m) => (
            "MESSAGE_UPDATE",
            json!({"id": m.message_id, "channel_id": m.channel_id, "content": m.content, "edited_timestamp": at}),
        ),
        Event::MessageDeleted(m) => (
            "MESSAGE_DELETE",
            json!({"id": m.message_id, "channel_id": m.channel_id}),
        ),
        Event::MemberJoined(_) if own_room => return None,
        Event::DmCreated(dm) => {
            let me = inbound.room.strip_prefix("user:")?;
            let recipient = dm.participants.iter().find(|p| p.as_str() != me)?;
            (
                "CHANNEL_CREATE",
                json!({"id": dm.dm_id, "is_private": true, "recipient": user(recipient, None)}),
            )
        }
        Event::MemberJoined(m) => (
            "GUILD_MEMBER_ADD",
            json!({"guild_id": m.channel_id, "user": user(&m.user_id, m.username.as_deref()), "roles": [], "joined_at": at}),
        ),
        Event::MemberLeft(m) => (
            "GUILD_MEMBER_REMOVE",
            json!({"guild_id": m.channel_id, "user": user(&m.user_id, m.username.as_deref())}),
        ),
        Event::MemberRoleUpdated(m) => (
            "GUILD_MEMBER_UPDATE",
            json!({"guild_id": m.channel_id, "user": user(&m.user_id, m.username.as_deref()), "roles": [m.new_role]}),
        ),
        // The user's own copy (no user_id): the GUILD_DELETE of their eviction says it.
        Event::UserBanned(_) | Event::UserUnbanned(_) | Event::UserKicked(_) if own_room => {
            return None;
        }
        Event::UserBanned(m) => ("GUILD_BAN_ADD", moderation(m)?),
        Event::UserUnbanned(m) => ("GUILD_BAN_REMOVE", moderation(m)?),
        Event::UserKicked(m) => ("GUILD_MEMBER_REMOVE", moderation(m)?),
        // A channel one could join exists: Discord has no such event.
        Event::ChannelCreated(_) => return None,
        Event::ChannelUpdated(m) => {
            let mut d = json!({"id": m.channel_id, "guild_id": m.channel_id, "is_private": false});
            for (field, value) in &m.changes {
                let field = if field == "kind" {
                    "type"
                } else {
                    field.as_str()
                };
                d[field] = value.clone();
            }
            ("CHANNEL_UPDATE", d)
        }
        Event::ChannelDeleted(m) => (
            "CHANNEL_DELETE",
            json!({"id": m.channel_id, "guild_id": m.channel_id, "is_private": false}),
        ),
        // Discord had no "stopped typing".
        Event::UserTyping(m) if !m.is_typing => return None,
        Event::UserTyping(m) => (
            "TYPING_START",
            json!({"channel_id": m.channel_id, "user_id": m.user_id, "timestamp": unix_seconds(&envelope.timestamp)}),
        ),
        Event::DirectMessageCreate(dm) => (
            "MESSAGE_CREATE",
            message_object(
                dm.id.as_str(),
                dm.direct_thread_id.as_str(),
                user(&dm.author_id, None),
                &dm.content,
                &dm.created_at,
            ),
        ),
        Event::VoiceStateUpdate(v) => ("VOICE_STATE_UPDATE", voice_state(v)),
        Event::VoiceSignal(signal) => (
            "VOICE_SIGNAL",
            json!({"from_user_id": signal.from_user_id, "signal": signal.signal}),
        ),
        Event::PresenceUpdate(p) => ("PRESENCE_UPDATE", presence(p)),
    };
    Some(dispatch(t, d))
}

/// A channel message (or reply) as a message object.
fn message(m: &event::Message) -> Value {
    let mut d = message_object(
        m.message_id.as_str(),
        m.channel_id.as_str(),
        user(&m.user_id, m.username.as_deref()),
        &m.content,
        &m.created_at,
    );
    if let Some(parent) = &m.parent_message_id {
        d["message_reference"] = json!({"message_id": parent, "channel_id": m.channel_id});
    }
    d
}

fn moderation(m: &event::Moderation) -> Option<Value> {
    let user_id = m.user_id.as_ref()?;
    Some(json!({"guild_id": m.channel_id, "user": user(user_id, None)}))
}

/// The user's visible presence; `game` and `idle_since` as op 3 sets them.
pub fn presence(p: &event::Presence) -> Value {
    json!({
        "user": {"id": p.user_id},
        "status": p.status,
        "game": p.game,
        "idle_since": p.idle_since,
    })
}

/// One voice channel's state after a change: Discord's per-user voice states, all of them.
fn voice_state(v: &event::VoiceState) -> Value {
    let states: Vec<Value> = v
        .member_states
        .iter()
        .map(|s| {
            json!({
                "user_id": s.user_id,
                "guild_id": v.channel_id,
                "channel_id": v.channel_id,
                "self_mute": s.muted,
                "self_deaf": s.deafened,
                "mute": false,
                "deaf": false,
                "suppress": false,
            })
        })
        .collect();
    json!({
        "guild_id": v.channel_id,
        "channel_id": v.channel_id,
        "voice_states": states,
    })
}

/// A message object of the time: what it says, who wrote it, when; none of Discord's extras.
fn message_object(
    id: &str,
    channel_id: &str,
    author: Value,
    content: &str,
    created_at: &str,
) -> Value {
    json!({
        "id": id,
        "channel_id": channel_id,
        "author": author,
        "content": content,
        "timestamp": timestamp(created_at),
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "attachments": [],
        "embeds": [],
    })
}

/// Seconds since the epoch of an RFC 3339 time (TYPING_START's `timestamp`).
fn unix_seconds(rfc3339: &str) -> Option<i64> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}
