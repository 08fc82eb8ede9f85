//! `GET /users?ids=`: display names, for a client showing people it met in an event that
//! carried only their id (a presence update, a DM).

use crate::{auth::Actor, error::ApiError, json::Json, state::AppState};
use axum::extract::{Query, State};
use serde::Serialize;
use shared::id::Id;
use std::collections::HashMap;
use utoipa::ToSchema;

/// The most ids one request may name.
pub const MAX_IDS: usize = 100;

#[derive(Serialize, ToSchema)]
pub struct UserList {
    users: Vec<UserName>,
}

/// A user's display name (`null`: never named).
#[derive(Serialize, ToSchema)]
pub struct UserName {
    id: Id,
    username: Option<String>,
}

/// 200 with the display name of each id, in the order given (duplicates kept); any caller.
#[utoipa::path(get, operation_id = "userNames", path = "/api/v1/users", tag = "users", params(("ids" = String, Query, description = "comma-separated user ids, 1 to 100")), responses((status = 200, body = UserList)))]
pub async fn names(
    State(state): State<AppState>,
    _actor: Actor,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<UserList>, ApiError> {
    let ids = query
        .get("ids")
        .ok_or_else(|| ApiError::Invalid("ids is required".into()))?
        .split(',')
        .map(|id| Id::parse(id.trim()).map_err(|_| ApiError::InvalidId))
        .collect::<Result<Vec<Id>, ApiError>>()?;
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(ApiError::Invalid(format!("ids names 1 to {MAX_IDS} users")));
    }
    let names = state.broker.usernames(&ids).await?;
    let users = ids
        .into_iter()
        .zip(names)
        .map(|(id, username)| UserName { id, username })
        .collect();
    Ok(Json(UserList { users }))
}
