//! The gateway node's plain HTTP surface: `/healthz`, `/readyz`, `/metrics`, and the upgrade
//! refused before it happens (`?format=` unknown → HTTP 400 with a JSON body).

use integration_tests::*;
use serde_json::Value;
use std::time::Duration;

fn node() -> (RedisServer, Gateway) {
    let redis = RedisServer::start();
    let gateway = gateway_on(&redis, "gw-http", &[]);
    (redis, gateway)
}

#[tokio::test]
async fn healthz_and_readyz_answer_200() {
    let (_redis, gateway) = node();
    let api = Api::new(&gateway.http_url());
    assert_eq!(api.get("/healthz", None).await.0, 200);
    assert_eq!(api.get("/readyz", None).await.0, 200);
}

#[tokio::test]
async fn metrics_count_open_connections() {
    let (_redis, gateway) = node();
    let url = gateway.http_url();
    let (status, body) = Api::new(&url).get("/metrics", None).await;
    assert_eq!(status, 200);
    assert!(matches!(body, Value::String(_)), "/metrics is text: {body}");

    let client = NativeClient::connect(&gateway, "42").await;
    let (_, Value::String(text)) = Api::new(&url).get("/metrics", None).await else {
        panic!("/metrics is not text")
    };
    assert!(
        text.contains("gateway_connections_open"),
        "no gateway_connections_open in:\n{text}"
    );
    assert_eq!(
        stack::metric_in(&text, "gateway_connections_open"),
        Some(1.0)
    );

    client.into_inner().close().await;
    eventually(
        "gateway_connections_open back to 0",
        Duration::from_secs(5),
        || {
            let url = url.clone();
            async move { metric(&url, "gateway_connections_open").await == Some(0.0) }
        },
    )
    .await;
}

#[tokio::test]
async fn an_unknown_format_is_refused_with_http_400_before_the_upgrade() {
    let (_redis, gateway) = node();
    let url = gateway.ws_url(&format!("/api/ws?format=bogus&token={}", token("42")));
    match WsClient::try_connect(&url).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        Err(other) => panic!("expected HTTP 400, got {other}"),
        Ok(_) => panic!("the upgrade with ?format=bogus was accepted"),
    }
}

#[tokio::test]
async fn an_unknown_format_is_refused_with_a_json_body() {
    let (_redis, gateway) = node();
    let response = reqwest::Client::new()
        .get(format!("{}/api/ws?format=bogus", gateway.http_url()))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("GET /api/ws?format=bogus");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("a JSON body");
    assert!(body["error"].is_string(), "{body}");
}
