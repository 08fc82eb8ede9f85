//! The node's HTTP surface: the WebSocket endpoints and `/healthz`, `/readyz`, `/metrics`.

use crate::{
    dialect::{discord, lanyard, native},
    node::Node,
    origin, source,
};
use axum::{Router, extract::State, http::StatusCode, middleware, routing::get};
use std::sync::Arc;

pub fn router(node: Arc<Node>) -> Router {
    // The WebSocket endpoints, behind the Origin allow-list, then the limits per address.
    let sockets = Router::new()
        .route("/api/ws", get(native::upgrade))
        .route("/", get(discord::upgrade))
        .route("/socket", get(lanyard::upgrade))
        .route_layer(middleware::from_fn_with_state(node.clone(), source::guard))
        .route_layer(middleware::from_fn_with_state(node.clone(), origin::guard));
    Router::new()
        .merge(sockets)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(node)
}

/// Ready while the node is not draining and the broker answers.
async fn ready(State(node): State<Arc<Node>>) -> (StatusCode, &'static str) {
    if node.draining.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining");
    }
    match node.broker.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "broker unavailable"),
    }
}

async fn metrics(
    State(node): State<Arc<Node>>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        node.metrics.render(),
    )
}
