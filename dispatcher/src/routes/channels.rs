//! Channels: list (`GET /channels`) and their lifecycle (`POST /channels`, `PATCH` and
//! `DELETE /channels/{id}`).

use crate::{
    access::{self, ActingUser, optional_acting_user},
    auth::Actor,
    error::ApiError,
    json::Json,
    path::Path,
    state::AppState,
    validate,
};
use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shared::{
    acl::{Channel, Role},
    broker::Change,
    event::{ChannelCreated, ChannelKind, ChannelRef, ChannelUpdated, Event, Member, now_rfc3339},
    id::Id,
    room::Room,
};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The most channels one listing answers (public ones are read one by one).
pub const LIST_LIMIT: usize = 500;

/// `GET /channels`: the caller's channels and every public channel.
#[derive(Serialize, ToSchema)]
pub struct ChannelList {
    channels: Vec<ListedChannel>,
}

/// A channel in a listing, with the caller's role in it (`null`: not a member).
#[derive(Serialize, ToSchema)]
pub struct ListedChannel {
    #[serde(flatten)]
    channel: Channel,
    role: Option<Role>,
}

/// 200 with the caller's channels (a user's, with their role; banned ones left out) and the
/// public channels, in id order, at most [`LIST_LIMIT`]. A service sees the public ones.
#[utoipa::path(get, operation_id = "listChannels", path = "/api/v1/channels", tag = "channels",  responses((status = 200, body = ChannelList)))]
pub async fn list(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<ChannelList>, ApiError> {
    // By id: the order of the answer, and one entry per channel (mine win over public ones).
    let mut listed: BTreeMap<Id, ListedChannel> = BTreeMap::new();
    if let Some(user) = actor.user() {
        // The user's rooms come in name order, so the first LIST_LIMIT channels are the ones
        // with the lowest ids: no more need reading.
        let rooms = state.broker.user_rooms(&user.id).await?;
        let channels = rooms.into_iter().filter_map(|room| match room {
            Room::Channel(id) => Some(id),
            _ => None,
        });
        for id in channels.take(LIST_LIMIT) {
            let standing = state.broker.standing(&id, &user.id).await?;
            let (Some(channel), true) = (state.broker.channel(&id).await?, standing.may_read())
            else {
                continue; // a stale index entry, or banned
            };
            let role = standing.role;
            listed.insert(id, ListedChannel { channel, role });
        }
    }
    for channel in state.broker.public_channels(LIST_LIMIT).await? {
        let id = channel.id.clone();
        listed.entry(id).or_insert(ListedChannel {
            channel,
            role: None,
        });
    }
    let channels = listed.into_values().take(LIST_LIMIT).collect();
    Ok(Json(ChannelList { channels }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    name: String,
    #[serde(default)]
    kind: ChannelKind,
    #[serde(default)]
    public: bool,
    id: Option<Id>,
    /// Service tokens only: the user who becomes the owner (optional).
    user_id: Option<Id>,
}

/// 201 with the channel; a user creator (or the user a service names) becomes its owner.
#[utoipa::path(post, operation_id = "createChannel", path = "/api/v1/channels", tag = "channels", request_body = NewChannel, responses((status = 201, body = Channel)))]
pub async fn create(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<NewChannel>,
) -> Result<(StatusCode, Json<Channel>), ApiError> {
    validate::channel_name(&body.name)?;
    let owner = optional_acting_user(&actor, body.user_id)?;
    let channel = Channel {
        id: body.id.unwrap_or_else(Id::generate),
        name: body.name,
        kind: body.kind,
        public: body.public,
        created_at: now_rfc3339(),
    };
    if let Some(ActingUser {
        id,
        name: Some(name),
        ..
    }) = &owner
    {
        // A display name only: kept even if the creation below is refused.
        state.broker.set_username(id, name).await?;
    }
    let event = Event::ChannelCreated(ChannelCreated {
        channel_id: channel.id.clone(),
        channel_name: channel.name.clone(),
        kind: channel.kind,
        public: channel.public,
    });
    let mut events = vec![(Room::Global, event)];
    if let Some(owner) = &owner {
        // The owner joined: told on their own room, as any new member is.
        let joined = Event::MemberJoined(Member {
            channel_id: channel.id.clone(),
            user_id: owner.id.clone(),
            username: owner.name.clone(),
        });
        events.push((Room::User(owner.id.clone()), joined));
    }
    let change = Change::CreateChannel {
        channel: channel.clone(),
        owner: owner.map(|o| o.id),
    };
    if state.commit(Some(&change), events).await?.is_err() {
        return Err(ApiError::Conflict("a channel with this id"));
    }
    Ok((StatusCode::CREATED, Json(channel)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelChanges {
    #[schema(nullable = false, min_length = 1, max_length = 100, pattern = "\\S")]
    name: Option<String>,
    #[schema(nullable = false)]
    public: Option<bool>,
}

/// 200 with the updated channel; needs admin or owner.
#[utoipa::path(patch, operation_id = "updateChannel", path = "/api/v1/channels/{id}", tag = "channels", params(("id" = Id, Path, description = "channel id")), request_body = ChannelChanges, responses((status = 200, body = Channel)))]
pub async fn update(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<Id>,
    Json(body): Json<ChannelChanges>,
) -> Result<Json<Channel>, ApiError> {
    if body.name.is_none() && body.public.is_none() {
        return Err(ApiError::Invalid(
            "give at least one of name, public".into(),
        ));
    }
    if let Some(name) = &body.name {
        validate::channel_name(name)?;
    }
    let mut channel = access::channel(&state.broker, &id).await?;
    access::require_role(&state.broker, &id, &actor, Role::Admin).await?;
    let mut changes = Map::new();
    if let Some(name) = body.name {
        changes.insert("name".into(), Value::String(name.clone()));
        channel.name = name;
    }
    if let Some(public) = body.public {
        changes.insert("public".into(), Value::Bool(public));
        channel.public = public;
    }
    let event = Event::ChannelUpdated(ChannelUpdated {
        channel_id: id.clone(),
        changes,
    });
    let change = Change::UpdateChannel(channel.clone());
    if state
        .commit(Some(&change), vec![(Room::Channel(id), event)])
        .await?
        .is_err()
    {
        // Deleted since it was read.
        return Err(ApiError::NotFound("channel"));
    }
    Ok(Json(channel))
}

/// 204; needs admin or owner. Publishes `channel_deleted` and deletes the channel's state
/// and history in one step.
#[utoipa::path(delete, operation_id = "deleteChannel", path = "/api/v1/channels/{id}", tag = "channels", params(("id" = Id, Path, description = "channel id")), responses((status = 204, description = "deleted")))]
pub async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<Id>,
) -> Result<StatusCode, ApiError> {
    access::channel(&state.broker, &id).await?;
    access::require_role(&state.broker, &id, &actor, Role::Admin).await?;
    let event = Event::ChannelDeleted(ChannelRef {
        channel_id: id.clone(),
    });
    let change = Change::DeleteChannel(id.clone());
    state
        .commit_unconditional(Some(&change), vec![(Room::Channel(id), event)])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
