//! The security matrix, against real processes: every kind of bad token at every door (the
//! dispatcher, the native, Discord and Lanyard sockets), algorithm confusion against an RS256
//! deployment, service and user tokens out of their role, and the access rules of every room
//! kind. That no error answer shows internal text is checked for every answer the suite reads,
//! in the test helpers (`tests/src/leaks.rs`).

use integration_tests::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp};
use serde_json::{Value, json};

/// Every kind of token that must be refused, by name.
fn bad_tokens() -> Vec<(&'static str, String)> {
    let now = get_current_timestamp();
    let hs384 = token_with_header(
        Header::new(Algorithm::HS384),
        &json!({"sub": "1", "exp": now + 3600}),
    );
    vec![
        ("alg none", UNSIGNED_TOKEN.to_owned()),
        (
            "signed with another key",
            token_signed_with("another-key", "1"),
        ),
        ("expired", expired_token("1")),
        (
            "not valid for another hour",
            token_with_claims(&json!({"sub": "1", "exp": now + 7200, "nbf": now + 3600})),
        ),
        ("no sub", token_with_claims(&json!({"exp": now + 3600}))),
        ("no exp", token_with_claims(&json!({"sub": "1"}))),
        ("a sub that is not an id", token("not an id")),
        ("another algorithm (HS384)", hs384),
        ("not a JWT", "not-a-jwt".to_owned()),
        (
            "oversized (16 KiB)",
            format!("eyJhbGciOiJIUzI1NiJ9.{}.x", "A".repeat(16 * 1024)),
        ),
        ("a service token", SERVICE_TOKEN.to_owned()),
    ]
}

/// The answers of each door to `bad`: the dispatcher's status and code, the native socket's
/// close code, the Discord socket's close code, the Lanyard upgrade's status and code.
async fn doors(stack: &Stack, gateway: &Gateway, bad: &str) -> Value {
    let (status, body) = Api::new(&stack.dispatcher.base_url())
        .bearer(bad)
        .get("/api/gateway", None)
        .await;
    let mut native = WsClient::connect(&gateway.ws_url(&format!("/api/ws?token={bad}"))).await;
    let native = native.expect_close().await;
    let mut discord = WsClient::connect(&gateway.ws_url("/?v=3&encoding=json")).await;
    discord
        .send_json(json!({"op": 2, "d": {"token": bad, "v": 3, "properties": {}}}))
        .await;
    let discord = discord.expect_close().await;
    let lanyard = upgrade_request(&format!("{}/socket?token={bad}", gateway.http_url()), &[]).await;
    let lanyard_status = lanyard.status().as_u16();
    let lanyard_body: Value = lanyard.json().await.unwrap_or(Value::Null);
    json!({
        "dispatcher": [status, body["code"]],
        "native": native,
        "discord": discord,
        "lanyard": [lanyard_status, lanyard_body["code"]],
    })
}

#[tokio::test]
async fn every_bad_token_is_refused_at_every_door() {
    let stack = Stack::start();
    let gateway = stack.gateway("gw-matrix", &["--lanyard-require-token"]);
    let refused = json!({
        "dispatcher": [401, "unauthorized"],
        "native": 4004,
        "discord": 4004,
        "lanyard": [401, "invalid_token"],
    });
    for (what, bad) in bad_tokens() {
        let mut expected = refused.clone();
        if what.starts_with("oversized") {
            // The identify frame itself is over GATEWAY_MAX_FRAME_BYTES: a decode error.
            expected["discord"] = json!(4002);
        }
        assert_eq!(doors(&stack, &gateway, &bad).await, expected, "{what}");
    }
    // The same doors open for a good token (so the matrix above can fail).
    let good = token("1");
    let (status, _) = Api::new(&stack.dispatcher.base_url())
        .bearer(&good)
        .get("/api/gateway", None)
        .await;
    assert_eq!(status, 200);
    NativeClient::connect(&gateway, "1").await;
}

#[tokio::test]
async fn an_rs256_deployment_refuses_hs256_tokens_made_with_its_public_key() {
    let dir = std::env::temp_dir().join(format!("rs256-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    integration_tests::openssl::rsa_key_pair(&dir);
    let public = dir.join("public.pem").to_str().unwrap().to_owned();
    let redis = RedisServer::start();
    let mut opts = DispatcherOpts::new(redis.url());
    opts.jwt_public_key_file = Some(public.clone());
    let dispatcher = Dispatcher::start(opts);
    let mut opts = GatewayOpts::new(redis.url(), "gw-rs256");
    opts.jwt_public_key_file = Some(public.clone());
    let gateway = Gateway::start(opts);

    let claims = json!({"sub": "1", "exp": get_current_timestamp() + 3600});
    let private = std::fs::read(dir.join("private.pem")).unwrap();
    let rs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(&private).unwrap(),
    )
    .unwrap();
    // The classic confusion: the public key, which anyone has, as an HMAC secret.
    let confused = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&std::fs::read(&public).unwrap()),
    )
    .unwrap();
    let api = |token: &str| Api::new(&dispatcher.base_url()).bearer(token);
    for (what, bad) in [
        ("HS256 with the public key", &confused),
        ("HS256 with the test secret", &token("1")),
    ] {
        let (status, body) = api(bad).get("/api/gateway", None).await;
        assert_eq!(
            (status, &body["code"]),
            (401, &json!("unauthorized")),
            "{what}"
        );
        let mut socket = WsClient::connect(&gateway.ws_url(&format!("/api/ws?token={bad}"))).await;
        assert_eq!(socket.expect_close().await, Some(4004), "{what}");
    }
    let (status, body) = api(&rs256).get("/api/gateway", None).await;
    assert_eq!(status, 200, "a real RS256 token: {body}");
    let mut socket = WsClient::connect(&gateway.ws_url(&format!("/api/ws?token={rs256}"))).await;
    socket.recv_type("READY").await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_user_meets_the_access_rules_of_every_room_kind() {
    let stack = Stack::start();
    let gateway = stack.gateway("gw-acl", &[]);
    let chat = &stack.chat;
    // User 2 is not in 20, banned from 21, kicked from 22; 23 was deleted; 24 is theirs.
    chat.channel("20", "1", &[]).await;
    chat.channel("21", "1", &["2"]).await;
    chat.ban("21", "1", "2").await;
    chat.channel("22", "1", &["2"]).await;
    chat.kick("22", "1", "2").await;
    chat.channel("23", "1", &["2"]).await;
    chat.delete_channel("23", "1").await;
    chat.channel("24", "1", &["2"]).await;
    chat.dm("1-3", &["1", "3"]).await;

    let mut user = NativeClient::connect(&gateway, "2").await;
    for room in [
        "channel:20",
        "channel:21",
        "channel:22",
        "channel:23",
        "user:1",
        "dm:1-3",
    ] {
        let answer = user.try_subscribe(room).await;
        assert_eq!(
            answer,
            json!({"type": "ERROR", "room": room, "data": "forbidden room"}),
            "SUBSCRIBE {room}"
        );
    }
    user.subscribe("channel:24").await;

    let api = Api::new(&stack.dispatcher.base_url()).bearer(&token("2"));
    let hi = || Some(json!({"content": "hi"}));
    for (path, status, code) in [
        ("/api/v1/channels/20/messages", 403, "not_member"),
        ("/api/v1/channels/21/messages", 403, "banned"),
        ("/api/v1/channels/22/messages", 403, "not_member"),
        ("/api/v1/channels/23/messages", 404, "not_found"),
        ("/api/v1/dms/1-3/messages", 403, "not_participant"),
    ] {
        let (got, body) = api.post(path, hi()).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "POST {path}: {body}"
        );
    }
    // A user token cannot act for someone else the way a service token does.
    let (status, body) = api
        .post(
            "/api/v1/channels/24/messages",
            Some(json!({"content": "as 1?", "author_id": "1"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let marker = stack.publish_marker("channel:24", "after");
    assert_eq!(
        user.recv_json().await,
        marker,
        "nothing was posted as user 1"
    );
}
