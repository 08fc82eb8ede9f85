//! Who is calling: `Authorization: Bearer <token>` is either a configured service token (a
//! trusted backend) or a user JWT. Missing or invalid credentials answer 401.

use crate::{error::ApiError, state::AppState};
use axum::{
    extract::{FromRequestParts, Query},
    http::{HeaderMap, header, request::Parts},
};
use serde::Deserialize;
use shared::{auth::User, id::Id};

/// The authenticated caller of an API request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A trusted backend: skips role checks and names the acting user in the body.
    Service,
    /// A user, acting as the token's `sub`.
    User(User),
}

impl Actor {
    /// The user this actor is, if it is one.
    pub fn user(&self) -> Option<&User> {
        match self {
            Actor::Service => None,
            Actor::User(user) => Some(user),
        }
    }

    /// True when this actor is the user `id`.
    pub fn is_user(&self, id: &Id) -> bool {
        self.user().is_some_and(|u| &u.id == id)
    }
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token =
            bearer_token(&parts.headers).ok_or(ApiError::Unauthorized("missing bearer token"))?;
        if is_service_token(state, token) {
            return Ok(Actor::Service);
        }
        verify_user(state, token).map(Actor::User)
    }
}

/// A user authenticated by a JWT given as a bearer token or as `?token=` (`GET /api/gateway`,
/// which browsers may call without setting headers). Service tokens are not users.
pub struct TokenUser(pub User);

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

impl FromRequestParts<AppState> for TokenUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let query = Query::<TokenQuery>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|Query(q)| q.token);
        let token = bearer_token(&parts.headers)
            .or_else(|| raw_token(&parts.headers))
            .or(query.as_deref())
            .ok_or(ApiError::Unauthorized("missing token"))?;
        verify_user(state, token).map(TokenUser)
    }
}

fn verify_user(state: &AppState, token: &str) -> Result<User, ApiError> {
    state.tokens.verify(token).map_err(|error| {
        tracing::debug!(error = %error, "rejected a token");
        ApiError::Unauthorized("invalid or expired token")
    })
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The token of an `Authorization: <token>` header with no scheme, as Discord's clients sent
/// it to `GET /api/gateway` (a JWT has no space in it).
pub(crate) fn raw_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    (!value.is_empty() && !value.contains(' ')).then_some(value)
}

/// Whether `token` is one of the configured service tokens.
pub(crate) fn is_service_token(state: &AppState, token: &str) -> bool {
    state
        .service_tokens
        .iter()
        .any(|known| constant_time_eq(known.as_bytes(), token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn reads_bearer_tokens() {
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(raw_token(&headers("abc.def.ghi")), Some("abc.def.ghi"));
        assert_eq!(raw_token(&headers("Bearer abc")), None);
        assert_eq!(bearer_token(&headers("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&headers("Basic abc")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&headers("Bearer")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn compares_secrets() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
