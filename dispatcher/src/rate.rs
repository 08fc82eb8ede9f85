//! Per-token request rate limits (governor): each bearer token gets
//! `DISPATCHER_USER_RATE_PER_SECOND` requests per second (burst: twice that) on the API; a
//! service token gets `DISPATCHER_SERVICE_RATE_PER_SECOND` (0, the default: no limit, since a
//! trusted backend speaks for many users). Past it: 429 with `Retry-After` and the usual JSON
//! error. Requests without a token pass through to the 401 that awaits them.
//!
//! Tokens are keyed by a 64-bit hash; the limiter forgets idle keys every minute.

use crate::{auth, error::ApiError, state::AppState};
use axum::{
    extract::Request,
    http::HeaderValue,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::{num::NonZeroU32, sync::Arc, time::Duration};

/// The limiters of one dispatcher.
pub struct Limits {
    users: Option<DefaultKeyedRateLimiter<u64>>,
    services: Option<DefaultKeyedRateLimiter<u64>>,
}

impl Limits {
    pub fn new(user_per_second: u32, service_per_second: u32) -> Arc<Self> {
        Arc::new(Limits {
            users: limiter(user_per_second),
            services: limiter(service_per_second),
        })
    }

    /// Forgets keys that are back to a full bucket (call now and then).
    pub fn tidy(&self) {
        for limiter in [&self.users, &self.services].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// `per_second` requests per second with a burst of twice that; None for 0 (no limit).
fn limiter(per_second: u32) -> Option<DefaultKeyedRateLimiter<u64>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(per_second.saturating_mul(2)).expect("non-zero");
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

/// The 429 answer when the request's token is past its rate; None when it may go on.
pub fn refusal(state: &AppState, request: &Request) -> Option<Response> {
    let token = auth::bearer_token(request.headers())?;
    let limiter = if auth::is_service_token(state, token) {
        &state.rate_limits.services
    } else {
        &state.rate_limits.users
    };
    let limiter = limiter.as_ref()?;
    let key = xxhash_rust::xxh3::xxh3_64(token.as_bytes());
    match limiter.check_key(&key) {
        Ok(()) => None,
        Err(not_until) => {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(limiter.clock()));
            let seconds = wait.as_secs() + 1;
            state.metrics.rate_limited.inc();
            let mut response = ApiError::RateLimited.into_response();
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
            Some(response)
        }
    }
}

/// Tidies the limiters every minute, for as long as the dispatcher runs.
pub async fn tidy_forever(limits: Arc<Limits>) {
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        limits.tidy();
    }
}
