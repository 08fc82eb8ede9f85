//! What every handler is handed: the broker, the token verifier, the service tokens, the
//! configuration and the metrics. Cheap to clone.

use crate::{config::Config, metrics::Metrics};
use anyhow::Context;
use shared::{auth::JwtVerifier, broker::Broker};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub broker: Broker,
    pub verifier: JwtVerifier,
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
        Ok(AppState {
            rate_limits,
            cors,
            broker,
            verifier,
            service_tokens: config.effective_service_tokens().into(),
            config: Arc::new(config),
            metrics,
        })
    }
}
