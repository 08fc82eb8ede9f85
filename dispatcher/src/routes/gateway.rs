//! `GET /api/gateway`: where a user's client should connect.

use crate::{auth::TokenUser, json::Json, state::AppState};
use axum::extract::State;
use serde::Serialize;

#[derive(Serialize)]
pub struct GatewayUrl {
    url: String,
}

/// 200 `{"url": ...}` for a user authenticated by a bearer JWT or `?token=`. For now every
/// user gets the one configured node; rendezvous hashing over live nodes comes later.
pub async fn url(State(state): State<AppState>, TokenUser(user): TokenUser) -> Json<GatewayUrl> {
    tracing::debug!(user.id = %user.id, "gateway url");
    Json(GatewayUrl {
        url: state.config.gateway_url.clone(),
    })
}
