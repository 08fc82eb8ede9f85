//! Authentication on the native dialect (`/api/ws`, docs/protocol.md "Connecting and
//! authenticating"): `?token=` and IDENTIFY, what READY says, the identify timeout (4003) and
//! every kind of rejected token (4004).

use integration_tests::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// Redis and one gateway node started with `args`. Keep both alive for the whole test.
fn node(args: &[&str]) -> (RedisServer, Gateway) {
    let redis = RedisServer::start();
    let gateway = gateway_on(&redis, "gw-auth", args);
    (redis, gateway)
}

/// A socket without a token: it still has to IDENTIFY.
async fn anonymous(gateway: &Gateway) -> WsClient {
    WsClient::connect(&gateway.ws_url("/api/ws")).await
}

fn rooms_of(ready: &Value) -> BTreeSet<String> {
    let rooms = ready["data"]["rooms"]
        .as_array()
        .expect("READY data.rooms is an array");
    rooms
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

fn set(rooms: &[&str]) -> BTreeSet<String> {
    rooms.iter().map(|r| r.to_string()).collect()
}

/// The token is refused both on the upgrade and in an IDENTIFY frame: close 4004.
async fn assert_token_rejected(gateway: &Gateway, bad: &str) {
    let mut by_query = WsClient::connect(&gateway.ws_url(&format!("/api/ws?token={bad}"))).await;
    assert_eq!(by_query.expect_close().await, Some(4004), "?token={bad}");

    let mut by_identify = anonymous(gateway).await;
    by_identify
        .send_json(json!({"op": "IDENTIFY", "data": {"token": bad}}))
        .await;
    assert_eq!(
        by_identify.expect_close().await,
        Some(4004),
        "IDENTIFY {bad}"
    );
}

#[tokio::test]
async fn a_token_in_the_query_is_answered_ready() {
    let (_redis, gateway) = node(&[]);
    let client = NativeClient::connect(&gateway, "42").await;
    let ready = client.ready();
    assert!(
        ready["data"]["session_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "session_id: {ready}"
    );
    assert_eq!(
        ready["data"]["user_id"],
        json!(42),
        "an all-digit id is a number"
    );
    assert_eq!(ready["data"]["heartbeat_interval"], json!(30000));
    assert_eq!(rooms_of(ready), set(&["user:42", "global"]));
}

#[tokio::test]
async fn ready_shows_a_non_numeric_user_id_as_a_string() {
    let (_redis, gateway) = node(&[]);
    let client = NativeClient::connect(&gateway, "ann-7").await;
    assert_eq!(client.ready()["data"]["user_id"], json!("ann-7"));
    assert_eq!(rooms_of(client.ready()), set(&["user:ann-7", "global"]));
}

#[tokio::test]
async fn each_socket_gets_its_own_session_id() {
    let (_redis, gateway) = node(&[]);
    let first = NativeClient::connect(&gateway, "42").await;
    let second = NativeClient::connect(&gateway, "42").await;
    assert_ne!(
        first.ready()["data"]["session_id"],
        second.ready()["data"]["session_id"]
    );
}

#[tokio::test]
async fn ready_announces_the_configured_heartbeat_interval() {
    let (_redis, gateway) = node(&["--heartbeat-interval-ms", "12345"]);
    let client = NativeClient::connect(&gateway, "42").await;
    assert_eq!(client.ready()["data"]["heartbeat_interval"], json!(12345));
}

#[tokio::test]
async fn identify_with_the_token_inside_data_is_answered_ready() {
    let (_redis, gateway) = node(&[]);
    let mut client = anonymous(&gateway).await;
    client
        .send_json(json!({"op": "IDENTIFY", "data": {"token": token("42")}}))
        .await;
    let ready = client.recv_json().await;
    assert_eq!(ready["type"], "READY", "{ready}");
    assert_eq!(ready["data"]["user_id"], json!(42));
    assert_eq!(rooms_of(&ready), set(&["user:42", "global"]));
}

#[tokio::test]
async fn identify_with_a_top_level_token_is_answered_ready() {
    let (_redis, gateway) = node(&[]);
    let mut client = anonymous(&gateway).await;
    client
        .send_json(json!({"op": "IDENTIFY", "token": token("u-1")}))
        .await;
    let ready = client.recv_json().await;
    assert_eq!(ready["type"], "READY", "{ready}");
    assert_eq!(ready["data"]["user_id"], json!("u-1"));
}

#[tokio::test]
async fn identify_sent_as_type_is_answered_ready() {
    let (_redis, gateway) = node(&[]);
    let mut client = anonymous(&gateway).await;
    client
        .send_json(json!({"type": "IDENTIFY", "data": {"token": token("42")}}))
        .await;
    assert_eq!(client.recv_json().await["type"], "READY");
}

#[tokio::test]
async fn ops_before_identify_are_answered_not_authenticated() {
    let (_redis, gateway) = node(&[]);
    let mut client = anonymous(&gateway).await;
    let not_authenticated = json!({"type": "ERROR", "data": "not authenticated"});
    for op in [
        json!({"op": "HEARTBEAT"}),
        json!({"op": "SUBSCRIBE", "room": "global"}),
        json!({"op": "UNSUBSCRIBE", "room": "global"}),
    ] {
        client.send_json(op.clone()).await;
        assert_eq!(client.recv_json().await, not_authenticated, "{op}");
    }
    // The socket is still waiting for its IDENTIFY.
    client
        .send_json(json!({"op": "IDENTIFY", "data": {"token": token("42")}}))
        .await;
    assert_eq!(client.recv_json().await["type"], "READY");
}

#[tokio::test]
async fn identify_after_authentication_is_an_error_and_the_socket_stays() {
    let (_redis, gateway) = node(&[]);
    let mut client = NativeClient::connect(&gateway, "42").await;
    client
        .send_json(json!({"op": "IDENTIFY", "data": {"token": token("43")}}))
        .await;
    assert_eq!(
        client.recv_json().await,
        json!({"type": "ERROR", "data": "already authenticated"})
    );
    client.heartbeat().await;
}

#[tokio::test]
async fn a_socket_that_never_identifies_is_closed_with_4003() {
    let (_redis, gateway) = node(&["--identify-timeout-ms", "300"]);
    let mut client = anonymous(&gateway).await;
    assert_eq!(client.expect_close().await, Some(4003));
}

#[tokio::test]
async fn a_socket_authenticated_by_query_is_not_held_to_the_identify_timeout() {
    let (_redis, gateway) = node(&["--identify-timeout-ms", "300"]);
    let mut client = NativeClient::connect(&gateway, "42").await;
    client.expect_no_message(Duration::from_millis(900)).await;
    client.heartbeat().await;
}

#[tokio::test]
async fn a_socket_that_identified_is_not_closed_by_the_identify_timeout() {
    let (_redis, gateway) = node(&["--identify-timeout-ms", "300"]);
    let mut client = anonymous(&gateway).await;
    client
        .send_json(json!({"op": "IDENTIFY", "data": {"token": token("42")}}))
        .await;
    assert_eq!(client.recv_json().await["type"], "READY");
    client.expect_no_message(Duration::from_millis(900)).await;
    client.send_json(json!({"op": "HEARTBEAT"})).await;
    assert_eq!(client.recv_json().await, json!({"type": "HEARTBEAT_ACK"}));
}

#[tokio::test]
async fn a_token_signed_with_another_key_closes_with_4004() {
    let (_redis, gateway) = node(&[]);
    assert_token_rejected(&gateway, &token_signed_with("not-the-gateway-secret", "42")).await;
}

#[tokio::test]
async fn an_expired_token_closes_with_4004() {
    let (_redis, gateway) = node(&[]);
    assert_token_rejected(&gateway, &expired_token("42")).await;
}

#[tokio::test]
async fn a_token_not_valid_before_an_hour_from_now_closes_with_4004() {
    let (_redis, gateway) = node(&[]);
    let now = jsonwebtoken::get_current_timestamp();
    let token =
        token_with_claims(&serde_json::json!({"sub": "42", "exp": now + 7200, "nbf": now + 3600}));
    assert_token_rejected(&gateway, &token).await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_closes_with_4004() {
    let (_redis, gateway) = node(&[]);
    assert_token_rejected(&gateway, UNSIGNED_TOKEN).await;
}

#[tokio::test]
async fn a_token_of_another_algorithm_closes_with_4004() {
    let (_redis, gateway) = node(&[]);
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384);
    let exp = jsonwebtoken::get_current_timestamp() + 3600;
    let hs384 = token_with_header(header, &json!({"sub": "42", "exp": exp}));
    assert_token_rejected(&gateway, &hs384).await;
}

#[tokio::test]
async fn a_token_without_exp_closes_with_4004() {
    let (_redis, gateway) = node(&[]);
    assert_token_rejected(&gateway, &token_with_claims(&json!({"sub": "42"}))).await;
}

#[tokio::test]
async fn a_token_whose_sub_is_not_an_id_closes_with_4004() {
    let (_redis, gateway) = node(&[]);
    assert_token_rejected(&gateway, &token("not an id")).await;
}

#[tokio::test]
async fn a_token_that_is_not_a_jwt_closes_with_4004() {
    let (_redis, gateway) = node(&[]);
    assert_token_rejected(&gateway, "not-a-jwt").await;
}

#[tokio::test]
async fn the_events_format_authenticates_the_same_way() {
    let (_redis, gateway) = node(&[]);
    let client = NativeClient::connect_events(&gateway, "42").await;
    assert_eq!(client.ready()["data"]["user_id"], json!(42));
    assert_eq!(rooms_of(client.ready()), set(&["user:42", "global"]));

    let bad = expired_token("42");
    let url = gateway.ws_url(&format!("/api/ws?format=events&token={bad}"));
    let mut rejected = WsClient::connect(&url).await;
    assert_eq!(rejected.expect_close().await, Some(4004));
}

#[tokio::test]
async fn an_authorization_header_authenticates_the_upgrade() {
    let (_redis, gateway) = node(&[]);
    let bearer = |t: &str| format!("Bearer {t}");
    let url = gateway.ws_url("/api/ws");
    let good = bearer(&token("42"));
    let mut client = WsClient::try_connect_from(&url, None, &[("authorization", &good)])
        .await
        .expect("upgraded");
    let ready = client.recv_type("READY").await;
    assert_eq!(ready["data"]["user_id"], json!(42));
    let bad = bearer(&expired_token("42"));
    let mut refused = WsClient::try_connect_from(&url, None, &[("authorization", &bad)])
        .await
        .expect("upgraded");
    assert_eq!(refused.expect_close().await, Some(4004));
}

#[tokio::test]
async fn with_query_tokens_off_a_token_in_the_url_is_refused_but_not_the_header() {
    let (_redis, gateway) = node(&["--query-tokens", "false"]);
    for path in ["/api/ws", "/socket"] {
        let url = format!("{}{path}?token={}", gateway.http_url(), token("42"));
        let response = upgrade_request(&url, &[]).await;
        assert_eq!(response.status().as_u16(), 400, "{path}");
        let body: Value = response.json().await.expect("a JSON body");
        assert_eq!(body["code"], "query_token_not_allowed", "{path}: {body}");
    }
    let header = format!("Bearer {}", token("42"));
    let url = gateway.ws_url("/api/ws");
    let mut client = WsClient::try_connect_from(&url, None, &[("authorization", &header)])
        .await
        .expect("upgraded");
    client.recv_type("READY").await;
    // IDENTIFY is unaffected.
    let mut identified = anonymous(&gateway).await;
    identified
        .send_json(json!({"op": "IDENTIFY", "data": {"token": token("42")}}))
        .await;
    identified.recv_type("READY").await;
}
