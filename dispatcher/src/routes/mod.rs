//! The HTTP surface: DESIGN §5's API under `/api/v1`, `GET /api/gateway`, health, metrics and
//! the API description.

mod channels;
mod dms;
mod gateway;
mod health;
mod history;
mod members;
mod messages;
mod moderation;
mod typing;
mod users;

use crate::{
    error::{method_not_allowed, no_route},
    idempotency,
    json::BODY_LIMIT,
    metrics,
    openapi::{self, ApiDoc},
    rate,
    state::AppState,
};
use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    middleware::{self, Next},
    response::Response,
};
use utoipa::{Modify, OpenApi};
use utoipa_axum::{router::OpenApiRouter, routes};
use utoipa_swagger_ui::SwaggerUi;

/// Every route, with JSON fallbacks, the body limit, what [`every_request`] does, the API
/// description built from the same handlers (so no route can be missing from it) and
/// (outermost) CORS.
pub fn router(state: AppState) -> Router {
    let (api, mut description) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(channels::list, channels::create))
        .routes(routes!(channels::update, channels::delete))
        .routes(routes!(messages::create, history::channel))
        .routes(routes!(messages::edit, messages::delete))
        .routes(routes!(members::list))
        .routes(routes!(members::add, members::set_role, members::remove))
        .routes(routes!(moderation::ban, moderation::unban))
        .routes(routes!(moderation::kick))
        .routes(routes!(typing::typing))
        .routes(routes!(dms::list, dms::create))
        .routes(routes!(users::names))
        .routes(routes!(dms::message, history::dm))
        .routes(routes!(gateway::url))
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(metrics::serve))
        .split_for_parts();
    openapi::Shared.modify(&mut description);
    let cors = state.cors.clone();
    let router = api
        .merge(SwaggerUi::new(openapi::DOCS_PATH).url(openapi::JSON_PATH, description))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(state.clone(), every_request))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// What every request passes before its route, in this order: metrics (which see every
/// answer, refusals included), the per-token rate limit, then `Idempotency-Key`. One layer for
/// the three: each of axum's layers boxes and moves the request's future once more, which was
/// 4 % of a post's instructions for two of them (docs/PERFORMANCE.md).
async fn every_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    metrics::track(&state, request, async |request| {
        if let Some(refusal) = rate::refusal(&state, &request) {
            return refusal;
        }
        idempotency::guard(&state, request, next).await
    })
    .await
}

#[cfg(test)]
mod tests;
