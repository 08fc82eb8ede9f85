//! The dispatcher: the HTTP API (DESIGN §5) that checks access rules, keeps the
//! access-control state in the broker and publishes chat events to Redis.
//!
//! [`run`] serves the API on a bound listener until the shutdown token fires; `main.rs` only
//! parses the configuration, connects the broker and binds.

mod access;
mod auth;
pub mod config;
mod cors;
mod error;
mod idempotency;
mod json;
mod metrics;
pub mod openapi;
mod path;
mod publish;
mod query;
mod quiet;
mod rate;
mod routes;
mod state;
mod tokens;
mod validate;

pub use config::Config;
pub use routes::router;
pub use state::AppState;

use shared::broker::Broker;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long in-flight requests may run after shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves the API on `listener` until `shutdown` is cancelled, then lets in-flight requests
/// finish for up to [`SHUTDOWN_GRACE`].
pub async fn run(
    listener: TcpListener,
    config: Config,
    broker: Broker,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config_idle_secs = config.idle_timeout_secs;
    let state = AppState::new(config, broker)?;
    tokio::spawn(rate::tidy_forever(state.rate_limits.clone()));
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "dispatcher listening");
    let idle = Duration::from_secs(config_idle_secs.max(1));
    let listener = quiet::QuietListener {
        inner: listener,
        idle,
    };
    let server = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    let grace_expired = async {
        shutdown.cancelled().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = server => result?,
        () = grace_expired => {
            tracing::warn!("shutdown grace period over; dropping open connections");
        }
    }
    tracing::info!("dispatcher stopped");
    Ok(())
}
