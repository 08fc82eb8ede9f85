//! The `Origin` allow-list for browser clients (`GATEWAY_ALLOWED_ORIGINS`). A page on another
//! site can open a socket to the gateway with the user's token; browsers always say where the
//! page comes from in `Origin`, so an upgrade from an origin not on the list is refused with
//! HTTP 403 and a JSON body. Unset, every origin is accepted (the dev default). Requests
//! without `Origin` come from non-browser clients and are not affected.

use crate::node::Node;
use axum::{
    Json,
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use std::sync::Arc;

pub async fn guard(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    let allowed = &node.config.allowed_origins;
    if allowed.is_empty() {
        return next.run(request).await;
    }
    let origin = request.headers().get(header::ORIGIN);
    let admitted = match origin.map(|o| o.to_str()) {
        None => true,
        Some(Ok(origin)) => allowed
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin)),
        Some(Err(_)) => false,
    };
    if admitted {
        return next.run(request).await;
    }
    node.metrics
        .upgrades_refused
        .with_label_values(&["origin"])
        .inc();
    let body = serde_json::json!({
        "error": "this origin may not open sockets here (see GATEWAY_ALLOWED_ORIGINS)",
        "code": "origin_not_allowed",
    });
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}
