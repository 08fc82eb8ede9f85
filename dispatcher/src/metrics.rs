//! The dispatcher's Prometheus metrics, what observes each request (a span
//! and a count by route template, never by raw ids) and the `/metrics` endpoint.

use crate::state::AppState;
use axum::{
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The route label of requests no route matched.
const UNMATCHED: &str = "unmatched";

/// Every metric the dispatcher exports, in its own registry. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    publish_seconds: Histogram,
    publish_errors: IntCounter,
    pub idempotent_replays: IntCounter,
    pub rate_limited: IntCounter,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "dispatcher_requests_total",
                "HTTP requests answered, by route template and status code.",
            ),
            &["route", "status"],
        )?;
        let publish_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "dispatcher_publish_seconds",
                "Time to append an event to history and publish it, in seconds.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )?;
        let publish_errors = IntCounter::new(
            "dispatcher_publish_errors_total",
            "Publications the broker refused or timed out.",
        )?;
        let idempotent_replays = IntCounter::new(
            "dispatcher_idempotent_replays_total",
            "Requests with an Idempotency-Key that found a kept answer (or one in progress) instead of running.",
        )?;
        registry.register(Box::new(idempotent_replays.clone()))?;
        let rate_limited = IntCounter::new(
            "dispatcher_rate_limited_total",
            "Requests refused with 429 because their token was over its rate.",
        )?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(publish_seconds.clone()))?;
        registry.register(Box::new(publish_errors.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            publish_seconds,
            publish_errors,
            idempotent_replays,
            rate_limited,
        })
    }

    /// Records one publication attempt.
    pub fn observe_publish(&self, elapsed: Duration, ok: bool) {
        self.publish_seconds.observe(elapsed.as_secs_f64());
        if !ok {
            self.publish_errors.inc();
        }
    }

    fn observe_request(&self, route: &str, status: StatusCode) {
        self.requests
            .with_label_values(&[route, status.as_str()])
            .inc();
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        prometheus::TextEncoder::new().encode_to_string(&self.registry.gather())
    }
}

/// Runs `handle` on the request in a `request` span (method, route template), counts the
/// answer under its route template and status, and logs it at debug.
pub async fn track<F, Answer>(state: &AppState, request: Request, handle: F) -> Response
where
    F: FnOnce(Request) -> Answer,
    Answer: Future<Output = Response>,
{
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    // A `debug` span: at the default `info` level it costs nothing. An enabled span takes a
    // slot in the subscriber's registry and formats its fields for every request, which was
    // a measured share of a post's CPU; a 500 names its route itself below.
    let method = request.method().clone();
    let span = tracing::debug_span!("request", %method, route);
    async move {
        let started = Instant::now();
        let response = handle(request).await;
        let status = response.status();
        state.metrics.observe_request(&route, status);
        // 503 (Redis unreachable) is logged where it is decided, once per outage cause.
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::warn!(%method, route, status = status.as_u16(), "answered with a server error");
        }
        tracing::debug!(
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "answered"
        );
        response
    }
    .instrument(span)
    .await
}

/// `GET /metrics`.
#[utoipa::path(get, operation_id = "metrics", path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
pub async fn serve(State(state): State<AppState>) -> Response {
    match state.metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "could not encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_help() {
        let metrics = Metrics::new().unwrap();
        metrics.observe_request("/api/v1/channels/{id}", StatusCode::CREATED);
        metrics.observe_publish(Duration::from_millis(2), false);
        let text = metrics.render().unwrap();
        assert!(text.contains(
            r#"dispatcher_requests_total{route="/api/v1/channels/{id}",status="201"} 1"#
        ));
        assert!(text.contains("dispatcher_publish_seconds_count 1"));
        assert!(text.contains("dispatcher_publish_errors_total 1"));
        assert!(text.contains("# HELP dispatcher_publish_errors_total"));
    }
}
