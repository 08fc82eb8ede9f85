//! Typing indicators: `POST /channels/{id}/typing`.

use crate::{
    access::{self, acting_user},
    auth::Actor,
    error::ApiError,
    json::Json,
    path::Path,
    state::AppState,
};
use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use shared::{
    event::{Event, Typing},
    id::Id,
    room::Room,
};
use utoipa::ToSchema;

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypingBody {
    /// Defaults to true.
    is_typing: Option<bool>,
    /// Service tokens only: the typing user.
    user_id: Option<Id>,
}

/// 204; the user must be an unbanned member. The body is optional. Publishes `user_typing`
/// without keeping it in history (a typing indicator is worthless a moment later, and must
/// not be replayed to a client recovering the room).
#[utoipa::path(post, operation_id = "typing", path = "/api/v1/channels/{id}/typing", tag = "channels", params(("id" = Id, Path, description = "channel id")), request_body(content = Option<TypingBody>, description = "optional: no body or `null` means `{\"is_typing\": true}`"), responses((status = 204, description = "published")))]
pub async fn typing(
    State(state): State<AppState>,
    actor: Actor,
    Path(channel_id): Path<Id>,
    body: Option<Json<Option<TypingBody>>>,
) -> Result<StatusCode, ApiError> {
    let body = body.and_then(|Json(body)| body).unwrap_or_default();
    let user = acting_user(&actor, body.user_id, "user_id")?;
    access::channel(&state.broker, &channel_id).await?;
    access::require_member(&state.broker, &channel_id, &user).await?;
    let event = Event::UserTyping(Typing {
        channel_id: channel_id.clone(),
        username: user.display_name(&state.broker).await?,
        user_id: user.id,
        is_typing: body.is_typing.unwrap_or(true),
    });
    state
        .publish_transient(Room::Channel(channel_id), event)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
