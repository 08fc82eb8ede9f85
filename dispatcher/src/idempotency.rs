//! `Idempotency-Key` on the API's writes (after the IETF httpapi idempotency-key draft): the
//! first request with a key runs and its answer is kept for `IDEMPOTENCY_TTL_SECS`; a retry
//! with the same key and the same body gets that answer again (same status, same body, so the
//! same message id) without running, and so without publishing, twice.
//!
//! Keys are scoped by caller (user id, or the service) and by method and path. While the first
//! request runs, a retry is answered 409 `idempotency_in_progress`; the same key with another
//! body is refused 422 `idempotency_key_reused`. A 5xx answer is not kept (the request did not
//! take effect, or may not have: a retry runs it again).

use crate::{auth::Actor, error::ApiError, json::BODY_LIMIT, state::AppState};
use axum::{
    body::Body,
    extract::{FromRequestParts, Request},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const HEADER: &str = "idempotency-key";
/// Set on an answer replayed from a kept record.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a claimed key blocks retries while its request runs (or after a crash).
const IN_FLIGHT: Duration = Duration::from_secs(10);
const PENDING: &str = r#"{"state":"pending"}"#;
/// Longest key accepted.
const MAX_KEY_LEN: usize = 255;

/// What a key holds once its request finished.
#[derive(Serialize, Deserialize)]
struct Record {
    state: String,
    /// Hash of the request body, to refuse the key's reuse for another request.
    fingerprint: String,
    status: u16,
    body: String,
}

/// Runs a write with the header once per key (see the module docs); passes requests without
/// it (or reads) to `next` untouched.
pub async fn guard(state: &AppState, request: Request, next: Next) -> Response {
    let Some(key) = request.headers().get(HEADER).cloned() else {
        return next.run(request).await;
    };
    if !matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return next.run(request).await;
    }
    match keyed(state, key, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn keyed(
    state: &AppState,
    key: HeaderValue,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = key
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or(ApiError::Invalid(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        )))?
        .to_owned();
    let (mut parts, body) = request.into_parts();
    let actor = Actor::from_request_parts(&mut parts, state).await?;
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::Body {
            kind: crate::error::BodyError::TooLarge,
            message: format!("the body is larger than {BODY_LIMIT} bytes"),
        })?;
    let scoped = format!(
        "{}:{}:{}:{key}",
        match &actor {
            Actor::Service => "service".to_owned(),
            Actor::User(user) => format!("user:{}", user.id),
        },
        parts.method,
        parts.uri.path()
    );
    let fingerprint = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes));
    let broker = &state.broker;
    if let Some(previous) = broker
        .idempotency_claim(&scoped, PENDING, IN_FLIGHT)
        .await?
    {
        state.metrics.idempotent_replays.inc();
        return replay(&previous, &fingerprint);
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = response.status();
    if status.is_server_error() {
        // Nothing kept: a retry runs again. (If Redis is gone the claim lapses by itself.)
        if let Err(error) = broker.idempotency_release(&scoped).await {
            tracing::debug!(%error, "could not release an idempotency key");
        }
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|_| ApiError::Invalid("unreadable answer".into()))?;
    let record = Record {
        state: "done".into(),
        fingerprint,
        status: status.as_u16(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let ttl = Duration::from_secs(state.config.idempotency_ttl_secs);
    let record = serde_json::to_string(&record).expect("a record serializes");
    if let Err(error) = broker.idempotency_store(&scoped, &record, ttl).await {
        // The request took effect: answer it. A retry finds the key pending until it
        // expires, then runs again (a message with the caller's id then answers 409).
        tracing::warn!(%error, "could not keep an idempotent answer");
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}

/// The answer for a key that already has a record.
fn replay(previous: &str, fingerprint: &str) -> Result<Response, ApiError> {
    let record: Record = match serde_json::from_str(previous) {
        Ok(record) => record,
        Err(_) => return Err(ApiError::IdempotencyInProgress),
    };
    if record.state != "done" {
        return Err(ApiError::IdempotencyInProgress);
    }
    if record.fingerprint != fingerprint {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK);
    let mut response = (status, record.body).into_response();
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_TYPE) || status != StatusCode::NO_CONTENT {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    Ok(response)
}
