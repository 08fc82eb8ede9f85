//! Direct-message threads: create one, post to one.

use crate::{
    access::acting_user, auth::Actor, error::ApiError, json::Json, path::Path, state::AppState,
    validate,
};
use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use shared::{
    event::{DirectMessage, DmCreated, Event, now_rfc3339},
    id::Id,
    room::Room,
};
use std::collections::BTreeSet;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewThread {
    /// 2 to 10 distinct users, counting a user caller (who is added).
    #[schema(min_items = 1, max_items = 10)]
    participants: Vec<Id>,
    id: Option<Id>,
}

#[derive(Serialize, ToSchema)]
pub struct Thread {
    id: Id,
    participants: Vec<Id>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDirectMessage {
    /// At most `DISPATCHER_MAX_CONTENT_LEN` (default 4000) characters.
    #[schema(min_length = 1, pattern = "\\S")]
    content: String,
    id: Option<Id>,
    /// Service tokens only: the author.
    author_id: Option<Id>,
}

/// `GET /dms`: the caller's conversations.
#[derive(Serialize, ToSchema)]
pub struct ThreadList {
    dms: Vec<Thread>,
}

/// The most conversations one listing answers.
pub const LIST_LIMIT: usize = 500;

/// 200 with the calling user's conversations and their participants, in id order (at most
/// [`LIST_LIMIT`]). A service token has no conversations of its own: 403 `forbidden`.
#[utoipa::path(get, operation_id = "listDms", path = "/api/v1/dms", tag = "direct messages", responses((status = 200, body = ThreadList)))]
pub async fn list(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<ThreadList>, ApiError> {
    let user = actor.user().ok_or(ApiError::Forbidden(
        "only a user token lists its own conversations",
    ))?;
    let mut dms = Vec::new();
    for room in state.broker.user_rooms(&user.id).await? {
        let Room::Dm(id) = room else { continue };
        // The index is a superset: keep the conversations the user is really in.
        if let Some(participants) = state.broker.dm_participants(&id).await?
            && participants.contains(&user.id)
        {
            dms.push(Thread { id, participants });
        }
        if dms.len() == LIST_LIMIT {
            break;
        }
    }
    Ok(Json(ThreadList { dms }))
}

/// 201 `{id, participants}` (sorted, distinct); a user caller takes part. Publishes
/// `dm_created` on each participant's `user:<id>`.
#[utoipa::path(post, operation_id = "createDm", path = "/api/v1/dms", tag = "direct messages", request_body = NewThread, responses((status = 201, body = Thread)))]
pub async fn create(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<NewThread>,
) -> Result<(StatusCode, Json<Thread>), ApiError> {
    let participants = thread_participants(&actor, body.participants)?;
    let id = body.id.unwrap_or_else(Id::generate);
    if !state.broker.create_dm(&id, &participants).await? {
        return Err(ApiError::Conflict("a conversation with this id"));
    }
    let created = Event::DmCreated(DmCreated {
        dm_id: id.clone(),
        participants: participants.clone(),
    });
    let announcements = participants
        .iter()
        .map(|p| (Room::User(p.clone()), created.clone()))
        .collect();
    state.commit_unconditional(None, announcements).await?;
    Ok((StatusCode::CREATED, Json(Thread { id, participants })))
}

/// The distinct, sorted participants, the calling user included; 2 to 10 of them.
fn thread_participants(actor: &Actor, given: Vec<Id>) -> Result<Vec<Id>, ApiError> {
    let mut participants: BTreeSet<Id> = given.into_iter().collect();
    if let Some(user) = actor.user() {
        participants.insert(user.id.clone());
    }
    validate::participant_count(participants.len())?;
    Ok(participants.into_iter().collect())
}

/// 201 with the message; the author (a service's too) must take part in the thread.
/// Publishes `DIRECT_MESSAGE_CREATE` on `dm:<id>`.
#[utoipa::path(post, operation_id = "postDmMessage", path = "/api/v1/dms/{id}/messages", tag = "direct messages", params(("id" = Id, Path, description = "DM thread id")), request_body = NewDirectMessage, responses((status = 201, body = DirectMessage)))]
pub async fn message(
    State(state): State<AppState>,
    actor: Actor,
    Path(thread_id): Path<Id>,
    Json(body): Json<NewDirectMessage>,
) -> Result<(StatusCode, Json<DirectMessage>), ApiError> {
    let author = acting_user(&actor, body.author_id, "author_id")?;
    validate::content(&body.content, state.config.max_content_len)?;
    let participants = state
        .broker
        .dm_participants(&thread_id)
        .await?
        .ok_or(ApiError::NotFound("conversation"))?;
    if !participants.contains(&author.id) {
        return Err(ApiError::NotParticipant);
    }
    let message = DirectMessage {
        id: body.id.unwrap_or_else(Id::generate),
        direct_thread_id: thread_id.clone(),
        author_id: author.id,
        content: body.content,
        created_at: now_rfc3339(),
    };
    let event = Event::DirectMessageCreate(message.clone());
    state.publish(Room::Dm(thread_id), event).await?;
    Ok((StatusCode::CREATED, Json(message)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::auth::User;

    fn ids(list: &[&str]) -> Vec<Id> {
        list.iter().map(|s| Id::parse(s).unwrap()).collect()
    }

    #[test]
    fn the_calling_user_takes_part() {
        let actor = Actor::User(User {
            id: Id::parse("b").unwrap(),
            name: None,
        });
        let got = thread_participants(&actor, ids(&["c", "a"])).unwrap();
        assert_eq!(got, ids(&["a", "b", "c"]));
    }

    #[test]
    fn participants_are_distinct_and_counted() {
        assert!(thread_participants(&Actor::Service, ids(&["a", "a"])).is_err());
        assert_eq!(
            thread_participants(&Actor::Service, ids(&["b", "a", "b"])).unwrap(),
            ids(&["a", "b"])
        );
        let eleven: Vec<String> = (0..11).map(|n| n.to_string()).collect();
        let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
        assert!(thread_participants(&Actor::Service, ids(&eleven)).is_err());
    }
}
