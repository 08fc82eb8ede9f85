//! What every handler is handed: the broker, the token verifier, the service tokens, the
//! configuration and the metrics. One pointer: axum clones the state for every extractor of
//! every request, and a clone of the parts themselves (a kilobyte, dozens of reference counts
//! and the verifier's key and sets) was a measured share of a post's CPU.

use crate::tokens::VerifiedTokens;
use crate::{config::Config, metrics::Metrics};
use anyhow::Context;
use shared::{auth::JwtVerifier, broker::Broker};
use std::{ops::Deref, sync::Arc};

#[derive(Clone)]
pub struct AppState(Arc<Parts>);

pub struct Parts {
    pub broker: Broker,
    pub tokens: VerifiedTokens,
    pub service_tokens: Arc<[String]>,
    pub config: Arc<Config>,
    pub metrics: Metrics,
    pub rate_limits: Arc<crate::rate::Limits>,
    /// Browser access from the configured origins (None: no CORS headers).
    pub cors: Option<tower_http::cors::CorsLayer>,
}

impl AppState {
    /// Builds the state from the configuration (at start-up: fails on a bad JWT key).
    pub fn new(config: Config, broker: Broker) -> anyhow::Result<Self> {
        let verifier =
            JwtVerifier::from_options(&config.jwt).context("configuring JWT validation")?;
        let metrics = Metrics::new().context("registering metrics")?;
        let rate_limits =
            crate::rate::Limits::new(config.user_rate_per_second, config.service_rate_per_second);
        let cors = crate::cors::layer(&config.cors_origins)?;
        Ok(AppState(Arc::new(Parts {
            rate_limits,
            cors,
            broker,
            tokens: VerifiedTokens::new(verifier),
            service_tokens: config.effective_service_tokens().into(),
            config: Arc::new(config),
            metrics,
        })))
    }
}

impl Deref for AppState {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}
