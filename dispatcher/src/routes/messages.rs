//! Channel messages: post (or reply), edit and delete.

use crate::{
    access::{self, Authority, acting_user},
    auth::Actor,
    error::ApiError,
    json::Json,
    path::Path,
    state::AppState,
    validate,
};
use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use shared::{
    broker::{Change, Refusal},
    event::{Event, Message, MessageRef, MessageUpdated, now_rfc3339},
    id::Id,
    room::Room,
};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// At most `DISPATCHER_MAX_CONTENT_LEN` (default 4000) characters.
    #[schema(min_length = 1, pattern = "\\S")]
    content: String,
    parent_message_id: Option<Id>,
    id: Option<Id>,
    /// Service tokens only: the author.
    author_id: Option<Id>,
}

#[derive(Serialize, ToSchema)]
pub struct PostedMessage {
    id: Id,
    channel_id: Id,
    author_id: Id,
    content: String,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_message_id: Option<Id>,
}

/// 201; publishes `channel_message`, or `message_reply` when there is a parent.
#[utoipa::path(post, operation_id = "postMessage", path = "/api/v1/channels/{id}/messages", tag = "messages", params(("id" = Id, Path, description = "channel id")), request_body = NewMessage, responses((status = 201, body = PostedMessage)))]
pub async fn create(
    State(state): State<AppState>,
    actor: Actor,
    Path(channel_id): Path<Id>,
    Json(body): Json<NewMessage>,
) -> Result<(StatusCode, Json<PostedMessage>), ApiError> {
    let author = acting_user(&actor, body.author_id, "author_id")?;
    validate::content(&body.content, state.config.max_content_len)?;
    // That the channel exists, that the author is an unbanned member, that the parent exists
    // and that the id is free are all conditions of the commit below, not reads before it:
    // a post whose token names its author costs one Redis call, and a deletion, a ban or a
    // kick is never overtaken by a post that read the state before it.
    let username = author.display_name(&state.broker).await?;
    let id = body.id.unwrap_or_else(Id::generate);
    let change = Change::RecordMessage {
        channel: channel_id.clone(),
        message: id.clone(),
        author: author.id.clone(),
        parent: body.parent_message_id.clone(),
        as_member: !author.trusted,
    };
    let message = Message {
        channel_id: channel_id.clone(),
        message_id: id.clone(),
        parent_message_id: body.parent_message_id,
        user_id: author.id.clone(),
        username,
        content: body.content,
        id: id.clone(),
        author_id: author.id,
        created_at: now_rfc3339(),
    };
    let answer = PostedMessage {
        id: message.id.clone(),
        channel_id: channel_id.clone(),
        author_id: message.author_id.clone(),
        content: message.content.clone(),
        created_at: message.created_at.clone(),
        parent_message_id: message.parent_message_id.clone(),
    };
    let event = match message.parent_message_id {
        Some(_) => Event::MessageReply(message),
        None => Event::ChannelMessage(message),
    };
    let room = Room::Channel(channel_id.clone());
    if let Err(refusal) = state.commit(Some(&change), vec![(room, event)]).await? {
        return Err(match refusal {
            Refusal::NoChannel => ApiError::NotFound("channel"),
            Refusal::Banned => ApiError::Banned,
            Refusal::NotMember => ApiError::NotMember,
            Refusal::NoMessage => ApiError::NotFound("parent message"),
            // (Not banned, already a member and not the author are not conditions of a post.)
            Refusal::Taken | Refusal::NotBanned | Refusal::AlreadyMember | Refusal::NotAuthor => {
                ApiError::Conflict("a message with this id")
            }
        });
    }
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    /// At most `DISPATCHER_MAX_CONTENT_LEN` (default 4000) characters.
    #[schema(min_length = 1, pattern = "\\S")]
    content: String,
}

#[derive(Serialize, ToSchema)]
pub struct EditedMessage {
    id: Id,
    channel_id: Id,
    content: String,
}

/// 200; only the author (or a service) edits. Publishes `message_updated`.
#[utoipa::path(patch, operation_id = "editMessage", path = "/api/v1/channels/{id}/messages/{mid}", tag = "messages", params(("id" = Id, Path, description = "channel id"), ("mid" = Id, Path, description = "message id")), request_body = Edit, responses((status = 200, body = EditedMessage)))]
pub async fn edit(
    State(state): State<AppState>,
    actor: Actor,
    Path((channel_id, message_id)): Path<(Id, Id)>,
    Json(body): Json<Edit>,
) -> Result<Json<EditedMessage>, ApiError> {
    validate::content(&body.content, state.config.max_content_len)?;
    // Who may edit is checked in the step that publishes (one Redis call), so an edit is never
    // published after the message's or the channel's deletion, or the editor's ban or kick.
    let change = Change::EditMessage {
        channel: channel_id.clone(),
        message: message_id.clone(),
        editor: actor.user().map(|user| user.id.clone()),
    };
    let event = Event::MessageUpdated(MessageUpdated {
        channel_id: channel_id.clone(),
        message_id: message_id.clone(),
        content: body.content.clone(),
    });
    let room = Room::Channel(channel_id.clone());
    if let Err(refusal) = state.commit(Some(&change), vec![(room, event)]).await? {
        return Err(refused(refusal, "only the author may edit a message"));
    }
    Ok(Json(EditedMessage {
        id: message_id,
        channel_id,
        content: body.content,
    }))
}

/// 204; the author or a moderator (or a service) deletes. Publishes `message_deleted`.
#[utoipa::path(delete, operation_id = "deleteMessage", path = "/api/v1/channels/{id}/messages/{mid}", tag = "messages", params(("id" = Id, Path, description = "channel id"), ("mid" = Id, Path, description = "message id")), responses((status = 204, description = "deleted")))]
pub async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Path((channel_id, message_id)): Path<(Id, Id)>,
) -> Result<StatusCode, ApiError> {
    access::channel(&state.broker, &channel_id).await?;
    let authority = access::authority(&state.broker, &channel_id, &actor).await?;
    // A moderator (or a service) deletes any message; anyone else only their own, which the
    // step that deletes checks, with their standing: a deletion is never made after the
    // author's ban or kick.
    let author = match &authority {
        Authority::User { id, .. } if !authority.can_moderate() => Some(id.clone()),
        Authority::User { .. } | Authority::Service => None,
    };
    let event = Event::MessageDeleted(MessageRef {
        channel_id: channel_id.clone(),
        message_id: message_id.clone(),
    });
    let change = Change::ForgetMessage {
        channel: channel_id.clone(),
        message: message_id.clone(),
        author,
    };
    let room = Room::Channel(channel_id.clone());
    if let Err(refusal) = state.commit(Some(&change), vec![(room, event)]).await? {
        return Err(refused(
            refusal,
            "only the author or a moderator may delete a message",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The answer to an edit or a deletion the commit refused; `not_author` says who may.
fn refused(refusal: Refusal, not_author: &'static str) -> ApiError {
    match refusal {
        Refusal::NoChannel => ApiError::NotFound("channel"),
        Refusal::Banned => ApiError::Banned,
        Refusal::NotMember => ApiError::NotMember,
        Refusal::NoMessage => ApiError::NotFound("message"),
        Refusal::NotAuthor => ApiError::Forbidden(not_author),
        // Not conditions of an edit or a deletion: the broker's fault.
        Refusal::Taken | Refusal::NotBanned | Refusal::AlreadyMember => {
            ApiError::Unavailable(shared::broker::BrokerError::Corrupt {
                key: "commit".into(),
                detail: format!("a message's edit or deletion refused as {refusal:?}"),
            })
        }
    }
}
