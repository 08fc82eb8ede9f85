//! Query strings: an extractor that answers a malformed one (a parameter given twice, a
//! number that is not one) with the API's JSON error, 400 `invalid_field`, instead of axum's
//! plain text.

use crate::error::ApiError;
use axum::{extract::FromRequestParts, http::request::Parts};
use serde::de::DeserializeOwned;

/// Query parameters, deserialized as `T`.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::try_from_uri(&parts.uri) {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => {
                tracing::debug!(error = %rejection, "bad query string");
                Err(ApiError::Invalid(
                    "malformed query string (each parameter at most once)".into(),
                ))
            }
        }
    }
}
