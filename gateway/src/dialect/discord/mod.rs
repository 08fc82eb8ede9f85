//! The Discord gateway v3 dialect on `/` (seed 002, DESIGN §4.2).

pub mod frames;
pub mod render;

use axum::{http::StatusCode, response::IntoResponse};

/// `GET /`.
pub async fn upgrade() -> impl IntoResponse {
    (StatusCode::NOT_IMPLEMENTED, "not yet")
}
