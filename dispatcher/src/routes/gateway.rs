//! `GET /api/gateway`: where a user's client should connect. The user's node is chosen by
//! rendezvous hashing over the live, non-draining nodes of the registry (the same function
//! the gateway uses to redirect), unless a fixed URL is configured.

use crate::{auth::TokenUser, error::ApiError, json::Json, state::AppState};
use axum::extract::State;
use serde::Serialize;
use shared::fleet;

#[derive(Serialize)]
pub struct GatewayUrl {
    url: String,
}

/// 200 `{"url": ...}` for a user authenticated by a bearer JWT or `?token=`; 503 when no node
/// is live.
pub async fn url(
    State(state): State<AppState>,
    TokenUser(user): TokenUser,
) -> Result<Json<GatewayUrl>, ApiError> {
    if let Some(url) = &state.config.gateway_url {
        return Ok(Json(GatewayUrl { url: url.clone() }));
    }
    let nodes = state.broker.live_nodes().await?;
    let node = fleet::assign(user.id.as_str(), &nodes).ok_or(ApiError::NoGatewayNode)?;
    tracing::debug!(user.id = %user.id, node.id = %node.id, "gateway assigned");
    Ok(Json(GatewayUrl {
        url: node.url.clone(),
    }))
}
