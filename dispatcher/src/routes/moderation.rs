//! Moderation: ban, unban and kick. Each needs moderator or higher in the channel, and each
//! event goes to `channel:<id>` (with `user_id`) and `user:<id>` (without it).

use crate::{
    access::{self, Authority},
    auth::Actor,
    error::ApiError,
    json::Json,
    path::Path,
    state::AppState,
    validate,
};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shared::{acl::Role, broker::Change, event::Event, id::Id};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Motive {
    #[schema(max_length = 512)]
    motive: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Kick {
    user_id: Id,
    #[schema(max_length = 512)]
    motive: Option<String>,
}

/// What a moderation request answers.
#[derive(Serialize, ToSchema)]
pub struct Outcome {
    channel_id: Id,
    user_id: Id,
    #[serde(skip_serializing_if = "Option::is_none")]
    motive: Option<String>,
}

/// 200; bans a user (member or not) of lower rank, removing their membership. Banning again
/// is allowed and announces the ban again. Publishes `user_banned`.
#[utoipa::path(put, operation_id = "ban", path = "/api/v1/channels/{id}/bans/{uid}", tag = "moderation", params(("id" = Id, Path, description = "channel id"), ("uid" = Id, Path, description = "user id")), request_body = Motive, responses((status = 200, body = Outcome)))]
pub async fn ban(
    State(state): State<AppState>,
    actor: Actor,
    Path((channel_id, user_id)): Path<(Id, Id)>,
    Json(body): Json<Motive>,
) -> Result<Json<Outcome>, ApiError> {
    validate::motive(&body.motive)?;
    let authority = moderator(&state, &actor, &channel_id).await?;
    if let Some(role) = state.broker.standing(&channel_id, &user_id).await?.role {
        authority.ensure_outranks(role)?;
    }
    let change = Change::Ban {
        channel: channel_id.clone(),
        user: user_id.clone(),
    };
    let motive = Some(body.motive);
    let kind = Event::UserBanned;
    if !state
        .commit_moderation(&change, kind, &channel_id, &user_id, motive.clone())
        .await?
    {
        // Deleted since it was read.
        return Err(ApiError::NotFound("channel"));
    }
    Ok(outcome(channel_id, user_id, motive))
}

/// 200; lifts a ban, 404 when there is none. Publishes `user_unbanned`.
#[utoipa::path(delete, operation_id = "unban", path = "/api/v1/channels/{id}/bans/{uid}", tag = "moderation", params(("id" = Id, Path, description = "channel id"), ("uid" = Id, Path, description = "user id")), request_body = Motive, responses((status = 200, body = Outcome)))]
pub async fn unban(
    State(state): State<AppState>,
    actor: Actor,
    Path((channel_id, user_id)): Path<(Id, Id)>,
    Json(body): Json<Motive>,
) -> Result<Json<Outcome>, ApiError> {
    validate::motive(&body.motive)?;
    moderator(&state, &actor, &channel_id).await?;
    let change = Change::Unban {
        channel: channel_id.clone(),
        user: user_id.clone(),
    };
    let motive = Some(body.motive);
    let kind = Event::UserUnbanned;
    if !state
        .commit_moderation(&change, kind, &channel_id, &user_id, motive.clone())
        .await?
    {
        return Err(ApiError::NotFound("ban"));
    }
    Ok(outcome(channel_id, user_id, motive))
}

/// 200; removes a member of lower rank (who may join again). Publishes `user_kicked`.
#[utoipa::path(post, operation_id = "kick", path = "/api/v1/channels/{id}/kicks", tag = "moderation", params(("id" = Id, Path, description = "channel id")), request_body = Kick, responses((status = 200, body = Outcome)))]
pub async fn kick(
    State(state): State<AppState>,
    actor: Actor,
    Path(channel_id): Path<Id>,
    Json(body): Json<Kick>,
) -> Result<Json<Outcome>, ApiError> {
    if let Some(motive) = &body.motive {
        validate::motive(motive)?;
    }
    let authority = moderator(&state, &actor, &channel_id).await?;
    let user_id = body.user_id;
    let role = state
        .broker
        .standing(&channel_id, &user_id)
        .await?
        .role
        .ok_or(ApiError::NotFound("member"))?;
    authority.ensure_outranks(role)?;
    let change = Change::RemoveMember {
        channel: channel_id.clone(),
        user: user_id.clone(),
    };
    let motive = body.motive.clone();
    if !state
        .commit_moderation(&change, Event::UserKicked, &channel_id, &user_id, motive)
        .await?
    {
        return Err(ApiError::NotFound("member"));
    }
    Ok(outcome(channel_id, user_id, body.motive))
}

/// The channel must exist and the caller must be a moderator or higher in it.
async fn moderator(state: &AppState, actor: &Actor, channel: &Id) -> Result<Authority, ApiError> {
    access::channel(&state.broker, channel).await?;
    access::require_role(&state.broker, channel, actor, Role::Moderator).await
}

fn outcome(channel_id: Id, user_id: Id, motive: Option<String>) -> Json<Outcome> {
    Json(Outcome {
        channel_id,
        user_id,
        motive,
    })
}
