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
    let url = format!("{}/api/ws?format=bogus", gateway.http_url());
    let response = upgrade_request(&url, &[]).await;
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("a JSON body");
    assert!(body["error"].is_string(), "{body}");
}

/// Opens `/api/ws` with `origin` (None: no Origin header); the HTTP status of the answer
/// (101 when the upgrade went through).
async fn upgrade_from(gateway: &Gateway, origin: Option<&str>) -> (u16, Value) {
    let url = format!("{}/api/ws?token={}", gateway.http_url(), token("42"));
    let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
    let response = upgrade_request(&url, &headers).await;
    let status = response.status().as_u16();
    let body = if status == 101 {
        Value::Null
    } else {
        response.json().await.unwrap_or(Value::Null)
    };
    (status, body)
}

#[tokio::test]
async fn origins_off_the_allow_list_are_refused_with_403() {
    let redis = RedisServer::start();
    let allowed = "https://chat.example.com,https://app.example.com";
    let gateway = gateway_on(&redis, "gw-origin", &["--allowed-origins", allowed]);
    let (status, body) = upgrade_from(&gateway, Some("https://evil.example.net")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "origin_not_allowed", "{body}");
    assert_eq!(
        upgrade_from(&gateway, Some("https://app.example.com"))
            .await
            .0,
        101
    );
    assert_eq!(
        upgrade_from(&gateway, None).await.0,
        101,
        "non-browser clients"
    );
    let refused = metric(&gateway.http_url(), "gateway_upgrades_refused_total").await;
    assert_eq!(refused, Some(1.0));
}

#[tokio::test]
async fn without_an_allow_list_every_origin_is_accepted() {
    let (_redis, gateway) = node();
    assert_eq!(
        upgrade_from(&gateway, Some("https://anywhere.example"))
            .await
            .0,
        101
    );
}
