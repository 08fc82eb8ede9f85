//! In-process tests of the router over the in-memory broker: status codes, rules and the
//! events published. (The multi-process tests over real Redis live in `tests/`.)

use super::router;
use crate::{config::Config, state::AppState};
use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use clap::Parser;
use serde_json::{Value, json};
use shared::{
    auth::mint_hs256,
    broker::{Broker, MessageStream},
};
use std::time::Duration;
use tower::ServiceExt;

const SECRET: &str = "test-secret";
const SERVICE: &str = "service-token";

struct App {
    router: Router,
    broker: Broker,
}

fn app() -> App {
    app_with(&[])
}

/// The test configuration plus `extra` flags.
fn app_with(extra: &[&str]) -> App {
    let mut args = vec![
        "dispatcher",
        "--jwt-secret",
        SECRET,
        "--service-tokens",
        SERVICE,
        "--max-content-len",
        "10",
        "--redis-url",
        "memory://",
    ];
    args.extend_from_slice(extra);
    let config = Config::try_parse_from(args).unwrap();
    let broker = Broker::memory();
    let state = AppState::new(config, broker.clone()).unwrap();
    App {
        router: router(state),
        broker,
    }
}

fn token(user: &str) -> String {
    mint_hs256(SECRET.as_bytes(), user, Some(&format!("{user}-name")), 60)
}

impl App {
    async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_with(method, path, auth, body, &[]).await
    }

    /// `call` with extra request headers.
    async fn call_with(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, format!("Bearer {auth}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    async fn as_user(
        &self,
        user: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, Some(&token(user)), body).await
    }

    /// `GET /metrics`, as text.
    async fn metrics(&self) -> String {
        let request = Request::builder()
            .uri("/metrics")
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let text = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(text.to_vec()).unwrap()
    }

    async fn listen(&self, rooms: &[&str]) -> MessageStream {
        let subscriber = self.broker.subscriber().await.unwrap();
        let rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
        subscriber.subscribe(&rooms).await.unwrap();
        subscriber.messages()
    }
}

async fn next_event(stream: &mut MessageStream) -> (String, Value) {
    let message = tokio::time::timeout(Duration::from_secs(2), stream.recv())
        .await
        .expect("an event in time")
        .unwrap();
    let channel = String::from_utf8(message.channel.to_vec()).unwrap();
    (channel, serde_json::from_slice(&message.payload).unwrap())
}

#[tokio::test]
async fn a_channel_lives_and_dies() {
    let app = app();
    let mut global = app.listen(&["global", "channel:c1"]).await;
    let (status, body) = app
        .as_user(
            "u1",
            "POST",
            "/api/v1/channels",
            Some(json!({"name": "general", "id": "c1", "public": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["kind"], "text");
    let (room, event) = next_event(&mut global).await;
    assert_eq!(room, "global");
    assert_eq!(event["type"], "channel_created");
    assert_eq!(
        event["data"],
        json!({"channel_id": "c1", "channel_name": "general", "kind": "text", "public": true})
    );
    assert!(event["offset"].is_u64());

    let again = app
        .as_user(
            "u1",
            "POST",
            "/api/v1/channels",
            Some(json!({"name": "x", "id": "c1"})),
        )
        .await;
    assert_eq!(
        (again.0, again.1["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );

    let (status, body) = app
        .as_user(
            "u1",
            "PATCH",
            "/api/v1/channels/c1",
            Some(json!({"name": "main"})),
        )
        .await;
    assert_eq!((status, &body["name"]), (StatusCode::OK, &json!("main")));
    let (_, event) = next_event(&mut global).await;
    assert_eq!(event["data"], json!({"channel_id": "c1", "name": "main"}));

    let (status, _) = app
        .as_user(
            "u2",
            "PATCH",
            "/api/v1/channels/c1",
            Some(json!({"public": false})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .as_user("u1", "DELETE", "/api/v1/channels/c1", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(next_event(&mut global).await.1["type"], "channel_deleted");
    assert!(
        app.broker
            .channel(&"c1".parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

/// That the channel exists is checked inside the post's commit, not read before it; a post
/// refused for any reason still answers "channel not found" first when the channel is gone.
#[tokio::test]
async fn a_post_to_a_missing_channel_is_404_whatever_else_is_wrong() {
    let app = app();
    let missing = |(status, body): (StatusCode, Value)| {
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"], "channel not found", "{body}");
    };
    let post = |body: Value| {
        app.call(
            "POST",
            "/api/v1/channels/gone/messages",
            Some(SERVICE),
            Some(body),
        )
    };
    missing(post(json!({"content": "hi", "author_id": "u1"})).await);
    missing(post(json!({"content": "hi", "author_id": "u1", "parent_message_id": "m0"})).await);
    missing(
        app.as_user(
            "u1",
            "POST",
            "/api/v1/channels/gone/messages",
            Some(json!({"content": "hi"})),
        )
        .await,
    );

    app.as_user(
        "own",
        "POST",
        "/api/v1/channels",
        Some(json!({"name": "g", "id": "c"})),
    )
    .await;
    let post = |body: Value| {
        app.call(
            "POST",
            "/api/v1/channels/c/messages",
            Some(SERVICE),
            Some(body),
        )
    };
    let first = json!({"content": "hi", "author_id": "own", "id": "m1"});
    assert_eq!(post(first.clone()).await.0, StatusCode::CREATED);
    assert_eq!(
        post(first.clone()).await.0,
        StatusCode::CONFLICT,
        "the id is taken"
    );
    let (status, _) = app
        .as_user("own", "DELETE", "/api/v1/channels/c", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    missing(post(first).await);
    missing(
        app.as_user(
            "own",
            "PATCH",
            "/api/v1/channels/c",
            Some(json!({"name": "back"})),
        )
        .await,
    );
    assert!(
        app.broker
            .channel(&"c".parse().unwrap())
            .await
            .unwrap()
            .is_none(),
        "nothing brought the channel back"
    );
}

#[tokio::test]
async fn members_post_and_moderators_moderate() {
    let app = app();
    app.as_user(
        "own",
        "POST",
        "/api/v1/channels",
        Some(json!({"name": "g", "id": "c"})),
    )
    .await;
    let mut rooms = app.listen(&["channel:c", "user:bob"]).await;

    // A private channel: bob cannot join himself, the owner adds him.
    let (status, _) = app
        .as_user("bob", "PUT", "/api/v1/channels/c/members/bob", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .as_user(
            "own",
            "PUT",
            "/api/v1/channels/c/members/bob",
            Some(json!({"username": "Bob"})),
        )
        .await;
    assert_eq!(
        (status, &body["role"]),
        (StatusCode::CREATED, &json!("member"))
    );
    let (_, joined) = next_event(&mut rooms).await;
    assert_eq!(
        joined["data"],
        json!({"channel_id": "c", "user_id": "bob", "username": "Bob"})
    );
    // The copy on bob's own room, which the test listens to as well.
    let (room, copy) = next_event(&mut rooms).await;
    assert_eq!(
        (room.as_str(), &copy["data"]),
        ("user:bob", &joined["data"])
    );

    let (status, body) = app
        .as_user(
            "bob",
            "POST",
            "/api/v1/channels/c/messages",
            Some(json!({"content": "hi", "id": 7})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], "7");
    let (_, message) = next_event(&mut rooms).await;
    assert_eq!(message["type"], "channel_message");
    assert_eq!(message["data"]["username"], "bob-name");
    assert_eq!(message["data"]["author_id"], "bob");

    let long = app
        .as_user(
            "bob",
            "POST",
            "/api/v1/channels/c/messages",
            Some(json!({"content": "x".repeat(11)})),
        )
        .await;
    assert_eq!(long.1["code"], "content_too_long");
    let outsider = app
        .as_user(
            "eve",
            "POST",
            "/api/v1/channels/c/messages",
            Some(json!({"content": "hi"})),
        )
        .await;
    assert_eq!(outsider.1["code"], "not_member");
    // The commit checks standing before the parent: an outsider learns nothing of messages.
    let post = |user: &'static str, body: Value| {
        app.as_user(user, "POST", "/api/v1/channels/c/messages", Some(body))
    };
    let reply = json!({"content": "re", "parent_message_id": "m0"});
    assert_eq!(post("eve", reply.clone()).await.1["code"], "not_member");
    let (status, body) = post("bob", reply.clone()).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::NOT_FOUND, &json!("parent message not found"))
    );

    // A member cannot ban; the owner can, and the ban is announced on both rooms.
    let (status, _) = app
        .as_user(
            "bob",
            "PUT",
            "/api/v1/channels/c/bans/own",
            Some(json!({"motive": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .as_user(
            "own",
            "PUT",
            "/api/v1/channels/c/bans/bob",
            Some(json!({"motive": "spam"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (room, event) = next_event(&mut rooms).await;
    assert_eq!(
        (room.as_str(), &event["data"]),
        (
            "channel:c",
            &json!({"channel_id": "c", "user_id": "bob", "motive": "spam"})
        )
    );
    let (room, event) = next_event(&mut rooms).await;
    assert_eq!(
        (room.as_str(), &event["data"]),
        ("user:bob", &json!({"channel_id": "c", "motive": "spam"}))
    );
    let banned = app
        .as_user("bob", "POST", "/api/v1/channels/c/typing", None)
        .await;
    assert_eq!(banned.1["code"], "banned");
    assert_eq!(post("bob", reply).await.1["code"], "banned");
}

#[tokio::test]
async fn a_service_names_the_acting_user() {
    let app = app();
    app.call(
        "POST",
        "/api/v1/channels",
        Some(SERVICE),
        Some(json!({"name": "g", "id": "c"})),
    )
    .await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/channels/c/messages",
            Some(SERVICE),
            Some(json!({"content": "hi"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("acting_user_required"))
    );
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/channels/c/messages",
            Some(SERVICE),
            Some(json!({"content": "hi", "author_id": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let app = app();
    let cases = [
        app.call("POST", "/api/v1/channels", None, Some(json!({"name": "g"})))
            .await,
        app.call(
            "POST",
            "/api/v1/channels",
            Some("nope"),
            Some(json!({"name": "g"})),
        )
        .await,
        app.as_user(
            "u",
            "POST",
            "/api/v1/channels",
            Some(json!({"name": "g", "extra": 1})),
        )
        .await,
        app.as_user(
            "u",
            "PATCH",
            "/api/v1/channels/a%20b",
            Some(json!({"name": "g"})),
        )
        .await,
        app.as_user(
            "u",
            "PATCH",
            "/api/v1/channels/missing",
            Some(json!({"name": "g"})),
        )
        .await,
        app.as_user("u", "DELETE", "/api/v1/channels", None).await,
        app.as_user("u", "GET", "/nowhere", None).await,
        app.as_user(
            "u",
            "POST",
            "/api/v1/channels",
            Some(json!({"name": "x".repeat(70_000)})),
        )
        .await,
        // Found by the fuzzer (dispatcher_request): axum's plain-text rejection.
        app.as_user("u", "GET", "/api/gateway?v&v", None).await,
        app.as_user("u", "GET", "/api/v1/channels/c/messages?limit=x", None)
            .await,
    ];
    let got: Vec<(u16, &str)> = cases
        .iter()
        .map(|(s, b)| (s.as_u16(), b["code"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(
        got,
        [
            (401, "unauthorized"),
            (401, "unauthorized"),
            (400, "invalid_body"),
            (400, "invalid_id"),
            (404, "not_found"),
            (405, "method_not_allowed"),
            (404, "not_found"),
            (413, "payload_too_large"),
            (400, "invalid_field"),
            (400, "invalid_field"),
        ]
    );
}

#[tokio::test]
async fn a_rate_limited_request_is_counted_and_claims_no_idempotency_key() {
    // One request per second, a burst of two.
    let app = app_with(&["--user-rate-per-second", "1"]);
    let path = "/api/v1/channels";
    let create = |id: &str| Some(json!({"name": "g", "id": id}));
    let keyed = [("idempotency-key", "k1")];
    assert_eq!(
        app.as_user("u", "POST", path, create("a")).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.as_user("u", "POST", path, create("b")).await.0,
        StatusCode::CREATED
    );
    let (status, body) = app
        .call_with("POST", path, Some(&token("u")), create("c"), &keyed)
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::TOO_MANY_REQUESTS, &json!("rate_limited"))
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = app
        .call_with("POST", path, Some(&token("u")), create("c"), &keyed)
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the key was not taken by the refused request: {body}"
    );

    let text = app.metrics().await;
    assert!(
        text.contains(r#"dispatcher_requests_total{route="/api/v1/channels",status="429"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn gateway_url_and_metrics() {
    let app = app();
    let path = format!("/api/gateway?token={}", token("u"));
    let (status, body) = app.call("GET", &path, None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "no live node yet");
    assert_eq!(body["code"], "no_gateway");
    let node = |id: &str, draining| shared::fleet::NodeInfo {
        id: id.into(),
        url: format!("ws://{id}/api/ws"),
        connections: 0,
        draining,
    };
    let ttl = std::time::Duration::from_secs(60);
    app.broker
        .register_node(&node("a", false), ttl)
        .await
        .unwrap();
    app.broker
        .register_node(&node("b", true), ttl)
        .await
        .unwrap();
    let (status, body) = app.call("GET", &path, None, None).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"url": "ws://a/api/ws"})),
        "the draining node takes no one"
    );
    assert_eq!(
        app.call("GET", "/api/gateway", Some(SERVICE), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    app.as_user(
        "u",
        "PATCH",
        "/api/v1/channels/c9",
        Some(json!({"name": "g"})),
    )
    .await;

    let text = app.metrics().await;
    assert!(
        text.contains(r#"dispatcher_requests_total{route="/api/v1/channels/{id}",status="404"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"route="/api/gateway",status="200""#));
    assert!(!text.contains("c9"));
}
