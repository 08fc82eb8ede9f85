//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the broker answers).

use crate::{json::Json, state::AppState};
use axum::{extract::State, http::StatusCode};
use serde_json::{Value, json};

/// 200 while the process runs.
#[utoipa::path(get, operation_id = "healthz", path = "/healthz", tag = "operations",  responses((status = 200, description = "the process runs", body = serde_json::Value)))]
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 when the broker answers a ping, else 503.
#[utoipa::path(get, operation_id = "readyz", path = "/readyz", tag = "operations",  responses((status = 200, description = "Redis answers", body = serde_json::Value), (status = 503, description = "Redis does not answer", body = serde_json::Value)))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.broker.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(error) => {
            tracing::warn!(error = %error, "not ready: the broker does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "code": "unavailable" })),
            )
        }
    }
}
