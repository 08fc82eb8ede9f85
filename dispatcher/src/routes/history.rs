//! Recent messages over HTTP: `GET /channels/{id}/messages` and `GET /dms/{id}/messages`,
//! newest first, with edits and deletions applied, read from the room's history (so as far
//! back as the room retains: `HISTORY_MAX_LEN` events, `HISTORY_TTL_SECS`). The answer also
//! gives the room's position, from which a client subscribes with `since` and misses nothing
//! between the page and the live events.

use crate::{
    access::{self, acting_user},
    auth::Actor,
    error::ApiError,
    json::Json,
    path::Path,
    query::Query,
    state::AppState,
};
use axum::extract::State;
use serde::Serialize;
use serde_json::{Value, json};
use shared::{
    broker::Broker,
    event::{Envelope, Event},
    history::Position,
    id::Id,
    room::Room,
};
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;

/// Messages per page when `limit` is not given, and the most a page holds.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;
/// History entries read per round trip while paging back.
const READ_CHUNK: usize = 200;

/// A page of messages, newest first, and the room's position when it was read.
#[derive(Serialize, ToSchema)]
pub struct Page {
    messages: Vec<Value>,
    position: Position,
}

/// `GET /channels/{id}/messages?limit=&before=`: members only (a service may read any).
#[utoipa::path(get, operation_id = "channelHistory", path = "/api/v1/channels/{id}/messages", tag = "messages", params(("id" = Id, Path, description = "channel id"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "messages per page (default 50)"), ("before" = Option<u64>, Query, description = "only messages older than this offset")), responses((status = 200, body = Page)))]
pub async fn channel(
    State(state): State<AppState>,
    actor: Actor,
    Path(channel_id): Path<Id>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Page>, ApiError> {
    let (limit, before) = paging(&query)?;
    access::channel(&state.broker, &channel_id).await?;
    if let Some(user) = actor.user() {
        let reader = acting_user(&actor, Some(user.id.clone()), "user_id")?;
        access::require_member(&state.broker, &channel_id, &reader).await?;
    }
    page(&state.broker, &Room::Channel(channel_id), limit, before).await
}

/// `GET /dms/{id}/messages?limit=&before=`: participants only (a service may read any).
#[utoipa::path(get, operation_id = "dmHistory", path = "/api/v1/dms/{id}/messages", tag = "direct messages", params(("id" = Id, Path, description = "DM thread id"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "messages per page (default 50)"), ("before" = Option<u64>, Query, description = "only messages older than this offset")), responses((status = 200, body = Page)))]
pub async fn dm(
    State(state): State<AppState>,
    actor: Actor,
    Path(thread_id): Path<Id>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Page>, ApiError> {
    let (limit, before) = paging(&query)?;
    let participants = state
        .broker
        .dm_participants(&thread_id)
        .await?
        .ok_or(ApiError::NotFound("conversation"))?;
    if let Some(user) = actor.user()
        && !participants.contains(&user.id)
    {
        return Err(ApiError::NotParticipant);
    }
    page(&state.broker, &Room::Dm(thread_id), limit, before).await
}

/// `limit` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and `before` (an offset: only
/// messages older than it).
fn paging(query: &HashMap<String, String>) -> Result<(usize, Option<u64>), ApiError> {
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(n) => n
            .parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::Invalid(format!("limit must be an integer from 1 to {MAX_LIMIT}"))
            })?,
    };
    let before = match query.get("before") {
        None => None,
        // An offset is a non-negative int64, as the API description says.
        Some(offset) => Some(
            offset
                .parse::<i64>()
                .ok()
                .and_then(|o| u64::try_from(o).ok())
                .ok_or_else(|| {
                    ApiError::Invalid(
                        "before must be a message offset (a non-negative integer)".into(),
                    )
                })?,
        ),
    };
    Ok((limit, before))
}

async fn page(
    broker: &Broker,
    room: &Room,
    limit: usize,
    before: Option<u64>,
) -> Result<Json<Page>, ApiError> {
    let name = room.to_string();
    let position = broker.history_after(&name, u64::MAX, 0).await?.top;
    let mut fold = Fold::new(limit, before);
    let mut at_most = position.offset;
    while at_most > 0 && !fold.full() {
        let chunk = broker.history_back(&name, at_most, READ_CHUNK).await?;
        let Some(oldest) = chunk.last().map(|(offset, _)| *offset) else {
            break;
        };
        for (offset, payload) in chunk {
            if let Ok(envelope) = serde_json::from_slice::<Envelope>(&payload) {
                fold.push(offset, envelope);
            }
        }
        at_most = oldest.saturating_sub(1);
    }
    Ok(Json(Page {
        messages: fold.messages,
        position,
    }))
}

/// Events read newest first, folded into the messages they leave: the newest edit of each
/// wins, and deleted ones are left out.
struct Fold {
    limit: usize,
    before: Option<u64>,
    edits: HashMap<Id, String>,
    deleted: HashSet<Id>,
    messages: Vec<Value>,
}

impl Fold {
    fn new(limit: usize, before: Option<u64>) -> Self {
        Fold {
            limit,
            before,
            edits: HashMap::new(),
            deleted: HashSet::new(),
            messages: Vec::new(),
        }
    }

    fn full(&self) -> bool {
        self.messages.len() >= self.limit
    }

    fn push(&mut self, offset: u64, envelope: Envelope) {
        let wanted = self.before.is_none_or(|before| offset < before) && !self.full();
        match envelope.event {
            Event::MessageUpdated(edit) => {
                self.edits.entry(edit.message_id).or_insert(edit.content);
            }
            Event::MessageDeleted(gone) => {
                self.deleted.insert(gone.message_id);
            }
            Event::ChannelMessage(m) | Event::MessageReply(m)
                if wanted && !self.deleted.contains(&m.id) =>
            {
                let edited = self.edits.get(&m.id);
                let mut message = json!({
                    "id": m.id,
                    "channel_id": m.channel_id,
                    "author_id": m.author_id,
                    "username": m.username,
                    "content": edited.unwrap_or(&m.content),
                    "created_at": m.created_at,
                    "edited": edited.is_some(),
                    "offset": offset,
                });
                if let Some(parent) = m.parent_message_id {
                    message["parent_message_id"] = json!(parent);
                }
                self.messages.push(message);
            }
            Event::DirectMessageCreate(dm) if wanted => {
                self.messages.push(json!({
                    "id": dm.id,
                    "direct_thread_id": dm.direct_thread_id,
                    "author_id": dm.author_id,
                    "content": dm.content,
                    "created_at": dm.created_at,
                    "offset": offset,
                }));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::event::{Message, MessageRef, MessageUpdated};

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    fn posted(m: &str, content: &str) -> Envelope {
        Envelope::new(Event::ChannelMessage(Message {
            channel_id: id("c"),
            message_id: id(m),
            parent_message_id: None,
            user_id: id("u"),
            username: None,
            content: content.into(),
            id: id(m),
            author_id: id("u"),
            created_at: "t".into(),
        }))
    }

    fn edited(m: &str, content: &str) -> Envelope {
        Envelope::new(Event::MessageUpdated(MessageUpdated {
            channel_id: id("c"),
            message_id: id(m),
            content: content.into(),
        }))
    }

    fn deleted(m: &str) -> Envelope {
        Envelope::new(Event::MessageDeleted(MessageRef {
            channel_id: id("c"),
            message_id: id(m),
        }))
    }

    /// Folds `events` (oldest first, offsets 1, 2, ...) the way a page reads them.
    fn fold(events: Vec<Envelope>, limit: usize, before: Option<u64>) -> Vec<(String, bool)> {
        let mut fold = Fold::new(limit, before);
        for (i, e) in events.into_iter().enumerate().rev() {
            fold.push(i as u64 + 1, e);
        }
        fold.messages
            .iter()
            .map(|m| {
                (
                    m["content"].as_str().unwrap().to_owned(),
                    m["edited"] == true,
                )
            })
            .collect()
    }

    #[test]
    fn newest_first_with_the_last_edit_and_without_deleted_ones() {
        let events = vec![
            posted("a", "A"),
            posted("b", "B"),
            edited("a", "A2"),
            posted("c", "C"),
            deleted("b"),
            edited("a", "A3"),
        ];
        assert_eq!(
            fold(events, 10, None),
            [("C".to_owned(), false), ("A3".to_owned(), true)]
        );
    }

    #[test]
    fn pages_by_offset_and_limit_keep_newer_edits() {
        let events = vec![
            posted("a", "A"),
            posted("b", "B"),
            posted("c", "C"),
            edited("a", "A2"),
        ];
        // Before offset 3 (c): b and a, with a's later edit applied.
        assert_eq!(
            fold(events.clone(), 10, Some(3)),
            [("B".to_owned(), false), ("A2".to_owned(), true)]
        );
        assert_eq!(fold(events, 1, None), [("C".to_owned(), false)]);
    }
}
