//! Where an upgrade carries its user token: `Authorization: Bearer <jwt>` (non-browser
//! clients; nothing lands in URLs, so nothing in proxy logs), or `?token=<jwt>` (browsers
//! cannot set headers on a WebSocket), unless the operator turned query tokens off
//! (`GATEWAY_QUERY_TOKENS=false`): then a `?token=` gets HTTP 400 and browser clients send the
//! token in their first frame (IDENTIFY) instead. With both, the header wins.

use crate::node::Node;
use axum::{
    Json,
    extract::{FromRequestParts, Query},
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use std::sync::Arc;

/// The token an upgrade request carries, if any.
pub struct UpgradeToken(pub Option<String>);

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

impl FromRequestParts<Arc<Node>> for UpgradeToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, node: &Arc<Node>) -> Result<Self, Response> {
        let query = Query::<TokenQuery>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|Query(q)| q.token);
        if query.is_some() && !node.config.limits.query_tokens {
            let body = serde_json::json!({
                "error": "tokens in the URL are turned off here (GATEWAY_QUERY_TOKENS): send `Authorization: Bearer <token>` or IDENTIFY",
                "code": "query_token_not_allowed",
            });
            return Err((StatusCode::BAD_REQUEST, Json(body)).into_response());
        }
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned())
            .filter(|token| !token.is_empty());
        Ok(UpgradeToken(bearer.or(query)))
    }
}
