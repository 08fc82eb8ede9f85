//! What a Discord client is told about the rooms it belongs to: one guild per channel (the
//! guild and its one channel share the channel's id) and one private channel per DM, read
//! from the directory with the room's history position, so that subscribing from that
//! position afterwards loses nothing in between.

use super::frames::user;
use crate::{live::presence, session::Session};
use serde_json::{Value, json};
use shared::{Id, Room, acl::Role, history::Position};

/// The most members a guild lists when the client gave no `large_threshold` (Discord's
/// default), and the most it may ask for.
pub const DEFAULT_LARGE_THRESHOLD: u64 = 50;
pub const MAX_LARGE_THRESHOLD: u64 = 250;

/// A room as READY (or GUILD_CREATE) describes it, and where its history stood then.
pub struct Described {
    pub room: Room,
    pub position: Position,
    pub object: Value,
    /// The users it lists (members, or the DM's recipient), whose presence the client sees.
    pub users: Vec<Id>,
}

/// Describes `room` for `session`'s user; None when it is gone or no longer theirs.
pub async fn describe(session: &Session, room: &Room, large_threshold: u64) -> Option<Described> {
    let broker = &session.node().broker;
    if !broker.may_read(room, session.user_id()).await.ok()? {
        return None;
    }
    let position = broker
        .history_after(&room.to_string(), u64::MAX, 0)
        .await
        .ok()?
        .top;
    let (object, users) = match room {
        Room::Channel(id) => guild(session, id, large_threshold).await?,
        Room::Dm(id) => private_channel(session, id).await?,
        _ => return None,
    };
    Some(Described {
        room: room.clone(),
        position,
        object,
        users,
    })
}

async fn guild(session: &Session, id: &Id, large_threshold: u64) -> Option<(Value, Vec<Id>)> {
    let broker = &session.node().broker;
    let channel = broker.channel(id).await.ok()??;
    let all = broker.members(id, usize::MAX).await.ok()?;
    let owner = all
        .iter()
        .find(|(_, role)| *role == Role::Owner)
        .map(|(u, _)| u);
    let listed = &all[..all.len().min(large_threshold as usize)];
    let users: Vec<Id> = listed.iter().map(|(u, _)| u.clone()).collect();
    let members = member_objects(session, id, listed).await?;
    let presences: Vec<Value> = presence::current(session.node(), &users)
        .await
        .ok()?
        .iter()
        .filter(|p| p.status != "offline")
        .map(super::render::presence)
        .collect();
    let kind = match channel.kind {
        shared::event::ChannelKind::Text => "text",
        shared::event::ChannelKind::Voice => "voice",
    };
    let guild = json!({
        "id": id,
        "name": channel.name,
        "owner_id": owner,
        "icon": null,
        "region": "local",
        "afk_channel_id": null,
        "afk_timeout": 300,
        "joined_at": super::frames::timestamp(&channel.created_at),
        "large": all.len() as u64 > large_threshold,
        "member_count": all.len(),
        "unavailable": false,
        "roles": roles(id),
        "members": members,
        "presences": presences,
        "voice_states": [],
        "channels": [{
            "id": id,
            "guild_id": id,
            "name": channel.name,
            "type": kind,
            "position": 0,
            "is_private": false,
            "topic": null,
            "last_message_id": null,
            "permission_overwrites": [],
        }],
    });
    Some((guild, users))
}

/// The GUILD_MEMBERS_CHUNK data of guild `id` (op 8), with every member; None when the
/// channel is gone or not the session user's.
pub async fn members_chunk(session: &Session, id: &Id) -> Option<Value> {
    let broker = &session.node().broker;
    if !broker
        .may_read(&Room::Channel(id.clone()), session.user_id())
        .await
        .ok()?
    {
        return None;
    }
    let all = broker.members(id, usize::MAX).await.ok()?;
    let members = member_objects(session, id, &all).await?;
    Some(json!({"guild_id": id, "members": members}))
}

/// Guild member objects of `listed` in guild `id`. The session's own user carries the name
/// its token gave, as in READY's `user`.
async fn member_objects(session: &Session, id: &Id, listed: &[(Id, Role)]) -> Option<Vec<Value>> {
    let users: Vec<Id> = listed.iter().map(|(u, _)| u.clone()).collect();
    let names = session.node().broker.usernames(&users).await.ok()?;
    let members = listed
        .iter()
        .zip(&names)
        .map(|((user_id, role), name)| {
            let name = match name {
                None if user_id == session.user_id() => session.username(),
                name => name.as_deref(),
            };
            json!({
                "user": user(user_id, name),
                "roles": member_roles(id, *role),
                "deaf": false,
                "mute": false,
            })
        })
        .collect();
    Some(members)
}

async fn private_channel(session: &Session, id: &Id) -> Option<(Value, Vec<Id>)> {
    let broker = &session.node().broker;
    let participants = broker.dm_participants(id).await.ok()??;
    let me = session.user_id();
    let recipient = participants.iter().find(|p| *p != me).unwrap_or(me).clone();
    let name = broker
        .usernames(std::slice::from_ref(&recipient))
        .await
        .ok()?
        .pop()
        .flatten();
    let object = json!({
        "id": id,
        "is_private": true,
        "recipient": user(&recipient, name.as_deref()),
        "last_message_id": null,
    });
    Some((object, vec![recipient]))
}

/// A guild's roles: `@everyone` (the guild's id, as Discord did) and one per role of this
/// system above member.
fn roles(guild: &Id) -> Vec<Value> {
    let role = |id: String, name: &str, position: u8| json!({"id": id, "name": name, "position": position, "permissions": 0, "color": 0, "hoist": false, "managed": false});
    let mut all = vec![role(guild.to_string(), "@everyone", 0)];
    for (n, r) in [Role::Moderator, Role::Admin, Role::Owner]
        .into_iter()
        .enumerate()
    {
        all.push(role(role_id(guild, r), r.as_str(), n as u8 + 1));
    }
    all
}

/// A member's roles besides `@everyone`.
fn member_roles(guild: &Id, role: Role) -> Vec<String> {
    match role {
        Role::Member => Vec::new(),
        other => vec![role_id(guild, other)],
    }
}

fn role_id(guild: &Id, role: Role) -> String {
    format!("{guild}:{}", role.as_str())
}
