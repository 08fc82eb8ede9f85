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

#[tokio::test]
async fn a_connection_that_never_finishes_its_handshake_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let redis = RedisServer::start();
    let gateway = gateway_on(&redis, "gw-slow", &["--handshake-timeout-ms", "300"]);
    let started = std::time::Instant::now();
    // Silent: connects and sends nothing.
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", gateway.port()))
        .await
        .expect("connect");
    // Trickling: a request head one byte at a time, never finished in time.
    let mut trickle = tokio::net::TcpStream::connect(("127.0.0.1", gateway.port()))
        .await
        .expect("connect");
    for byte in b"GET /api/ws HTTP/1.1\r\nHost: x\r\n".iter().take(8) {
        let _ = trickle.write_all(&[*byte]).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut buffer = [0u8; 64];
    for (what, socket) in [("silent", &mut silent), ("trickling", &mut trickle)] {
        let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            Ok(Ok(n)) => {
                // hyper may answer 408 before closing; then the close follows.
                let head = String::from_utf8_lossy(&buffer[..n]).to_string();
                assert!(head.starts_with("HTTP/1.1 408"), "{what}: {head}");
            }
            Err(_) => panic!("{what} connection still open after 5 s"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // The node still serves everyone else.
    NativeClient::connect(&gateway, "42").await;
}
