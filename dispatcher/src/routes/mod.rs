//! The HTTP surface: DESIGN §5's API under `/api/v1`, `GET /api/gateway`, health and metrics.

mod channels;
mod dms;
mod gateway;
mod health;
mod history;
mod members;
mod messages;
mod moderation;
mod typing;

use crate::{
    error::{method_not_allowed, no_route},
    json::BODY_LIMIT,
    metrics,
    state::AppState,
};
use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{get, patch, post, put},
};

/// Every route, with JSON fallbacks, the body limit, request metrics and (outermost) CORS.
pub fn router(state: AppState) -> Router {
    let cors = state.cors.clone();
    let router = Router::new()
        .route(
            "/api/v1/channels",
            get(channels::list).post(channels::create),
        )
        .route(
            "/api/v1/channels/{id}",
            patch(channels::update).delete(channels::delete),
        )
        .route(
            "/api/v1/channels/{id}/messages",
            post(messages::create).get(history::channel),
        )
        .route(
            "/api/v1/channels/{id}/messages/{mid}",
            patch(messages::edit).delete(messages::delete),
        )
        .route("/api/v1/channels/{id}/members", get(members::list))
        .route(
            "/api/v1/channels/{id}/members/{uid}",
            put(members::add)
                .patch(members::set_role)
                .delete(members::remove),
        )
        .route(
            "/api/v1/channels/{id}/bans/{uid}",
            put(moderation::ban).delete(moderation::unban),
        )
        .route("/api/v1/channels/{id}/kicks", post(moderation::kick))
        .route("/api/v1/channels/{id}/typing", post(typing::typing))
        .route("/api/v1/dms", post(dms::create))
        .route(
            "/api/v1/dms/{id}/messages",
            post(dms::message).get(history::dm),
        )
        .route("/api/gateway", get(gateway::url))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(metrics::serve))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::idempotency::guard,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::rate::guard,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

#[cfg(test)]
mod tests;
