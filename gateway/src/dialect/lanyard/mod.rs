//! The Lanyard dialect on `/socket` (seed 003, DESIGN §4.3). Not built yet.

pub mod render;

use axum::{http::StatusCode, response::IntoResponse};

/// `GET /socket`.
pub async fn upgrade() -> impl IntoResponse {
    (StatusCode::NOT_IMPLEMENTED, "not yet")
}
