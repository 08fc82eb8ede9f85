//! Every way a request can fail, and the one HTTP answer each maps to:
//! `{"error": "<message>", "code": "<code>"}` with the matching status.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use shared::broker::BrokerError;

/// Why a JSON body was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Not JSON at all.
    Syntax,
    /// JSON, but missing fields, wrong types, unknown fields or invalid ids.
    Shape,
    /// No `Content-Type: application/json`.
    ContentType,
    /// Over the body limit.
    TooLarge,
    /// The body could not be read.
    Unreadable,
    /// The body did not arrive within [`crate::json::BODY_TIMEOUT`].
    TooSlow,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{message}")]
    Body { kind: BodyError, message: String },
    #[error("ids are 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-', or integers")]
    InvalidId,
    #[error("{0}")]
    Invalid(String),
    #[error("content is longer than {max} characters")]
    ContentTooLong { max: usize },
    #[error("a service token must name the acting user in `{0}`")]
    ActingUserRequired(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("not a member of this channel")]
    NotMember,
    #[error("banned from this channel")]
    Banned,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not a participant of this conversation")]
    NotParticipant,
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("a request with this Idempotency-Key is still in progress; retry later")]
    IdempotencyInProgress,
    #[error("this Idempotency-Key was used for a request with another body")]
    IdempotencyKeyReused,
    #[error("too many requests for this token, retry later")]
    RateLimited,
    #[error("no gateway node is available, retry later")]
    NoGatewayNode,
    /// The broker failed or timed out. The detail is logged, never sent.
    #[error("service unavailable, retry later")]
    Unavailable(#[from] BrokerError),
}

impl ApiError {
    /// The status and machine-readable code of this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Body { kind, .. } => match kind {
                BodyError::Syntax => (StatusCode::BAD_REQUEST, "invalid_json"),
                BodyError::Shape | BodyError::Unreadable => {
                    (StatusCode::BAD_REQUEST, "invalid_body")
                }
                BodyError::ContentType => {
                    (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
                }
                BodyError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
                BodyError::TooSlow => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            },
            ApiError::InvalidId => (StatusCode::BAD_REQUEST, "invalid_id"),
            ApiError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_field"),
            ApiError::ContentTooLong { .. } => (StatusCode::BAD_REQUEST, "content_too_long"),
            ApiError::ActingUserRequired(_) => (StatusCode::BAD_REQUEST, "acting_user_required"),
            ApiError::NotFound(_) | ApiError::NoRoute => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::NotMember => (StatusCode::FORBIDDEN, "not_member"),
            ApiError::Banned => (StatusCode::FORBIDDEN, "banned"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotParticipant => (StatusCode::FORBIDDEN, "not_participant"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::IdempotencyInProgress => (StatusCode::CONFLICT, "idempotency_in_progress"),
            ApiError::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::NoGatewayNode => (StatusCode::SERVICE_UNAVAILABLE, "no_gateway"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Unavailable(error) = &self {
            tracing::error!(error = %error, "broker unavailable");
        }
        let (status, code) = self.status_and_code();
        let body = serde_json::json!({ "error": self.to_string(), "code": code });
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The fallback for paths no route matches.
pub async fn no_route() -> ApiError {
    ApiError::NoRoute
}

/// The fallback for a known path with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn errors_render_as_json_with_a_code() {
        let (status, body) = body_of(ApiError::ContentTooLong { max: 10 }).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "content_too_long");
        assert_eq!(body["error"], "content is longer than 10 characters");
    }

    #[tokio::test]
    async fn broker_details_are_never_sent() {
        let error = BrokerError::Url("redis://secret-host".into());
        let (status, body) = body_of(ApiError::from(error)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], "unavailable");
        assert!(!body.to_string().contains("secret-host"));
    }

    #[tokio::test]
    async fn unauthorized_asks_for_a_bearer_token() {
        let response = ApiError::Unauthorized("missing bearer token").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
