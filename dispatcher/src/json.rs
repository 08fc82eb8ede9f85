//! JSON bodies in and out: an extractor that answers bad bodies with the API's JSON errors
//! (400 malformed or wrong shape, 413 too large, 415 not JSON) instead of axum's plain text.

use crate::error::{ApiError, BodyError};
use axum::{
    extract::{FromRequest, OptionalFromRequest, Request, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};
use std::time::Duration;

/// Largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;
/// How long a request body may take to arrive: a client that trickles it (or announces a
/// length it never sends) gets 408 instead of holding the request open.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A JSON request body or response. As `Option<Json<T>>`, a request without a
/// `Content-Type` header (and so without a body) gives `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let read = <axum::Json<T> as FromRequest<S>>::from_request(request, state);
        match tokio::time::timeout(BODY_TIMEOUT, read).await {
            Ok(Ok(axum::Json(value))) => Ok(Json(value)),
            Ok(Err(rejection)) => Err(body_error(rejection)),
            Err(_) => Err(too_slow()),
        }
    }
}

impl<T, S> OptionalFromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, ApiError> {
        let read = <axum::Json<T> as OptionalFromRequest<S>>::from_request(request, state);
        match tokio::time::timeout(BODY_TIMEOUT, read).await {
            Ok(Ok(value)) => Ok(value.map(|axum::Json(value)| Json(value))),
            Ok(Err(rejection)) => Err(body_error(rejection)),
            Err(_) => Err(too_slow()),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn too_slow() -> ApiError {
    ApiError::Body {
        kind: BodyError::TooSlow,
        message: format!(
            "the body did not arrive within {} s",
            BODY_TIMEOUT.as_secs()
        ),
    }
}

fn body_error(rejection: JsonRejection) -> ApiError {
    let kind = match &rejection {
        JsonRejection::JsonSyntaxError(_) => BodyError::Syntax,
        JsonRejection::JsonDataError(_) => BodyError::Shape,
        JsonRejection::MissingJsonContentType(_) => BodyError::ContentType,
        JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            BodyError::TooLarge
        }
        JsonRejection::BytesRejection(_) => BodyError::Unreadable,
        // `JsonRejection` is non-exhaustive: a variant added by a later axum is a bad body.
        _ => BodyError::Unreadable,
    };
    ApiError::Body {
        kind,
        message: rejection.body_text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, http::header};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body1 {
        name: String,
    }

    async fn extract(content_type: Option<&str>, body: &str) -> Result<Json<Body1>, ApiError> {
        let mut request = Request::builder().method("POST").uri("/");
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        let request = request.body(Body::from(body.to_owned())).unwrap();
        <Json<Body1> as FromRequest<()>>::from_request(request, &()).await
    }

    fn kind(result: Result<Json<Body1>, ApiError>) -> BodyError {
        match result {
            Err(ApiError::Body { kind, .. }) => kind,
            other => panic!("expected a body error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn classifies_bad_bodies() {
        let json = Some("application/json");
        assert!(extract(json, r#"{"name":"a"}"#).await.is_ok());
        assert_eq!(kind(extract(json, "{").await), BodyError::Syntax);
        assert_eq!(kind(extract(json, "{}").await), BodyError::Shape);
        assert_eq!(kind(extract(json, r#"{"name":1}"#).await), BodyError::Shape);
        assert_eq!(
            kind(extract(json, r#"{"name":"a","x":1}"#).await),
            BodyError::Shape
        );
        assert_eq!(
            kind(extract(None, r#"{"name":"a"}"#).await),
            BodyError::ContentType
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_arrives_is_too_slow() {
        let never = futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>();
        let request = Request::builder()
            .method("POST")
            .uri("/")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(never))
            .unwrap();
        let result = <Json<Body1> as FromRequest<()>>::from_request(request, &()).await;
        assert_eq!(kind(result), BodyError::TooSlow);
    }
}
