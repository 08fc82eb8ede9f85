//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the broker answers).

use crate::{json::Json, state::AppState};
use axum::{extract::State, http::StatusCode};
use serde_json::{Value, json};

/// 200 while the process runs.
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 when the broker answers a ping, else 503.
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
