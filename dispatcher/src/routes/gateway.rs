//! `GET /api/gateway`: where a user's client should connect. The user's node is chosen by
//! rendezvous hashing over the live, non-draining nodes of the registry (the same function
//! the gateway uses to redirect), unless a fixed URL is configured.

use crate::{
    auth::{TokenUser, raw_token},
    error::ApiError,
    json::Json,
    query::Query,
    state::AppState,
};
use axum::{extract::State, http::HeaderMap};
use serde::{Deserialize, Serialize};
use shared::fleet;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct GatewayUrl {
    url: String,
}

/// 200 `{"url": ...}` for a user authenticated by a JWT (`Authorization: Bearer <jwt>`, a bare
/// `Authorization: <jwt>` as Discord's clients sent it, or `?token=`); 503 when no node
/// is live.
///
/// A Discord client (its bare `Authorization: <jwt>`, or `?v=3`) gets the node's Discord v3
/// endpoint (`/`); every other caller the native one.
#[utoipa::path(get, operation_id = "gatewayUrl", path = "/api/gateway", tag = "gateway", params(("token" = Option<String>, Query, description = "the user JWT, when not in `Authorization`"), ("v" = Option<String>, Query, description = "a Discord gateway version: answers the node's Discord endpoint")), responses((status = 200, body = GatewayUrl)))]
pub async fn url(
    State(state): State<AppState>,
    TokenUser(user): TokenUser,
    headers: HeaderMap,
    Query(query): Query<DialectQuery>,
) -> Result<Json<GatewayUrl>, ApiError> {
    let discord = query.v.is_some() || raw_token(&headers).is_some();
    let url = match &state.config.gateway_url {
        Some(url) => url.clone(),
        None => {
            let nodes = state.broker.live_nodes().await?;
            let node = fleet::assign(user.id.as_str(), &nodes).ok_or(ApiError::NoGatewayNode)?;
            tracing::debug!(user.id = %user.id, node.id = %node.id, "gateway assigned");
            node.url.clone()
        }
    };
    let url = if discord {
        fleet::discord_url(&url)
    } else {
        url
    };
    Ok(Json(GatewayUrl { url }))
}

/// `?v=` names the Discord gateway version the caller speaks.
#[derive(Deserialize)]
pub struct DialectQuery {
    v: Option<String>,
}
