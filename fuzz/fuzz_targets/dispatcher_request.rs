//! The dispatcher's HTTP API over the in-memory broker: any method, route, ids, caller, query
//! and body gets an answer that is not a server error, and every error answer is the API's
//! JSON error body. The state persists between inputs, so channels, members and bans made by
//! one request shape the rules the next one meets.
#![no_main]

use arbitrary::Arbitrary;
use axum::{
    Router,
    body::Body,
    http::{Request, header},
};
use clap::Parser;
use dispatcher::{AppState, Config, router};
use libfuzzer_sys::fuzz_target;
use shared::{auth::mint_hs256, broker::Broker};
use std::sync::LazyLock;
use tokio::runtime::Runtime;
use tower::ServiceExt;

const SECRET: &str = "fuzz-secret";
const SERVICE: &str = "fuzz-service";

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];
/// Every route's shape; `{a}` and `{b}` take the input's ids.
const PATHS: [&str; 14] = [
    "/api/v1/channels",
    "/api/v1/channels/{a}",
    "/api/v1/channels/{a}/messages",
    "/api/v1/channels/{a}/messages/{b}",
    "/api/v1/channels/{a}/members/{b}",
    "/api/v1/channels/{a}/bans/{b}",
    "/api/v1/channels/{a}/kicks",
    "/api/v1/channels/{a}/typing",
    "/api/v1/dms",
    "/api/v1/dms/{a}/messages",
    "/api/gateway",
    "/healthz",
    "/readyz",
    "/{a}",
];
/// A few users, so that requests meet each other's channels and memberships.
const USERS: [&str; 3] = ["alice", "bob", "carol"];

#[derive(Arbitrary, Debug)]
enum Caller {
    Nobody,
    User(u8),
    /// A trusted backend (it names the acting user in the body).
    Service,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Call {
    method: u8,
    path: u8,
    a: String,
    b: String,
    query: String,
    caller: Caller,
    json: bool,
    idempotency_key: Option<String>,
    body: Vec<u8>,
}

struct App {
    runtime: Runtime,
    router: Router,
}

static APP: LazyLock<App> = LazyLock::new(|| {
    let config = Config::try_parse_from([
        "dispatcher",
        "--jwt-secret",
        SECRET,
        "--service-tokens",
        SERVICE,
        "--redis-url",
        "memory://",
        "--user-rate-per-second",
        "1000000",
        // A fixed node for `GET /api/gateway`: with no gateway registered it answers 503.
        "--gateway-url",
        "ws://gateway.example/api/ws",
    ])
    .expect("the fuzz configuration parses");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let state = runtime
        .block_on(async { AppState::new(config, Broker::memory()) })
        .expect("the dispatcher's state");
    App {
        runtime,
        router: router(state),
    }
});

/// The request `call` describes, or None when its parts do not make an HTTP request (the
/// HTTP library refuses those before any route sees them).
fn request(call: &Call) -> Option<Request<Body>> {
    let path = PATHS[call.path as usize % PATHS.len()]
        .replace("{a}", &call.a)
        .replace("{b}", &call.b);
    let uri = if call.query.is_empty() {
        path
    } else {
        format!("{path}?{}", call.query)
    };
    let mut builder = Request::builder()
        .method(METHODS[call.method as usize % METHODS.len()])
        .uri(uri);
    let user = |n: &u8| USERS[*n as usize % USERS.len()];
    match &call.caller {
        Caller::Nobody => {}
        Caller::User(n) => {
            let token = mint_hs256(SECRET.as_bytes(), user(n), None, 3600);
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        Caller::Service => {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {SERVICE}"));
        }
        Caller::Raw(value) => builder = builder.header(header::AUTHORIZATION, value.as_str()),
    }
    if call.json {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    if let Some(key) = &call.idempotency_key {
        builder = builder.header("idempotency-key", key.as_str());
    }
    builder.body(Body::from(call.body.clone())).ok()
}

fuzz_target!(|call: Call| {
    let Some(request) = request(&call) else {
        return;
    };
    let app = &*APP;
    app.runtime.block_on(async {
        let response = app
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body in memory");
        assert!(
            !status.is_server_error(),
            "{status} for {call:?}: {bytes:?}"
        );
        if status.is_client_error() && call.method % METHODS.len() as u8 != 5 {
            let body: serde_json::Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("{status} without a JSON body for {call:?}: {bytes:?}"));
            assert!(
                body["error"].is_string(),
                "{status} without `error` for {call:?}: {body}"
            );
        }
    });
});
