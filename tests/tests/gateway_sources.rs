//! Limits per client address (docs/configuration.md, DESIGN §6): open sockets per address
//! and new sockets per address per second, refused at the upgrade with HTTP 429, on every
//! dialect's endpoint; and the client address behind a trusted proxy (`X-Forwarded-For`
//! believed only from `GATEWAY_TRUSTED_PROXIES`). Other loopback addresses (127.0.0.2, …)
//! stand for other clients.

use integration_tests::*;
use serde_json::Value;
use std::net::IpAddr;
use std::time::Duration;

/// Redis and one gateway node with its limits per address on, and `args`.
fn node(args: &[&str]) -> (RedisServer, Gateway) {
    let redis = RedisServer::start();
    let opts = args.iter().fold(
        GatewayOpts::new(redis.url(), "gw-sources").per_ip_limits(),
        |opts, arg| opts.arg(*arg),
    );
    (redis, Gateway::start(opts))
}

fn from(last_octet: u8) -> Option<IpAddr> {
    Some(IpAddr::from([127, 0, 0, last_octet]))
}

/// Opens a native socket for `user` from `source` with `headers`; Err(HTTP status) when the
/// upgrade is refused.
async fn open(
    gateway: &Gateway,
    user: &str,
    source: Option<IpAddr>,
    headers: &[(&str, &str)],
) -> Result<WsClient, u16> {
    let url = gateway.ws_url(&format!("/api/ws?token={}", token(user)));
    match WsClient::try_connect_from(&url, source, headers).await {
        Ok(mut client) => {
            client.recv_type("READY").await;
            Ok(client)
        }
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("connect to {url}: {e}"),
    }
}

/// The refusal an upgrade from 127.0.0.1 to `path` gets: its status, `Retry-After` and body.
async fn refusal(gateway: &Gateway, path: &str) -> (u16, String, Value) {
    let response = upgrade_request(&format!("{}{path}", gateway.http_url()), &[]).await;
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, retry, body)
}

#[tokio::test]
async fn an_address_past_its_open_sockets_is_refused_429_on_every_endpoint() {
    let (_redis, gateway) = node(&[
        "--max-sockets-per-ip",
        "2",
        "--new-sockets-per-ip-per-second",
        "0",
    ]);
    let first = open(&gateway, "1", None, &[]).await.unwrap();
    let _second = open(&gateway, "2", None, &[]).await.unwrap();
    for path in ["/api/ws", "/", "/socket"] {
        let (status, retry, body) = refusal(&gateway, path).await;
        assert_eq!(status, 429, "{path}: {body}");
        assert_eq!(retry, "10", "{path}");
        assert_eq!(body["code"], "too_many_sockets_per_ip", "{path}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    // Another address is not affected.
    open(&gateway, "3", from(2), &[])
        .await
        .expect("127.0.0.2 has its own count");
    // A socket that closes gives its place back.
    first.close().await;
    eventually("a place frees up", Duration::from_secs(5), || async {
        open(&gateway, "4", None, &[]).await.is_ok()
    })
    .await;
    let refused = metric(&gateway.http_url(), "gateway_upgrades_refused_total").await;
    assert!(
        refused >= Some(3.0),
        "gateway_upgrades_refused_total = {refused:?}"
    );
}

#[tokio::test]
async fn an_address_opening_sockets_too_fast_is_refused_429_while_others_connect() {
    // 5 per second, burst 10.
    let (_redis, gateway) = node(&[
        "--new-sockets-per-ip-per-second",
        "5",
        "--max-sockets-per-ip",
        "0",
    ]);
    let mut refused = None;
    for n in 0..30 {
        let (status, retry, body) = refusal(&gateway, "/api/ws?format=bogus").await;
        if status == 429 {
            refused = Some((n, retry, body));
            break;
        }
        // Past the address check, the bad query is refused by the endpoint itself.
        assert_eq!(status, 400, "{body}");
    }
    let (n, retry, body) = refused.expect("a burst of 30 upgrades is cut short");
    // The burst is 10; every connection counts (the node's start-up health checks came from
    // 127.0.0.1 too), and the refusal comes before the request is read.
    assert!(
        (5..=12).contains(&n),
        "about the burst of 10 is admitted; refused after {n}"
    );
    assert_eq!(retry, "1");
    assert_eq!(body["code"], "ip_rate_limited", "{body}");
    open(&gateway, "1", from(3), &[])
        .await
        .expect("127.0.0.3 connects meanwhile");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_one_counted() {
    // 127.0.0.1 is the proxy; one socket per client address.
    let (_redis, gateway) = node(&[
        "--max-sockets-per-ip",
        "1",
        "--new-sockets-per-ip-per-second",
        "0",
        "--trusted-proxies",
        "127.0.0.1/32",
    ]);
    let alice = [("x-forwarded-for", "203.0.113.7")];
    let bob = [("x-forwarded-for", "198.51.100.9")];
    let _a = open(&gateway, "1", None, &alice).await.unwrap();
    assert_eq!(open(&gateway, "2", None, &alice).await.err(), Some(429));
    // Bob comes through the same proxy: his own count.
    let _b = open(&gateway, "3", None, &bob).await.unwrap();
    // A client that forges the header in front of its real address is counted by the
    // address the proxy appended.
    let forged = [("x-forwarded-for", "198.51.100.1, 203.0.113.7")];
    assert_eq!(open(&gateway, "4", None, &forged).await.err(), Some(429));
    // The header from an address that is not a trusted proxy is ignored: 127.0.0.2 itself
    // is counted.
    let _c = open(&gateway, "5", from(2), &alice).await.unwrap();
    assert_eq!(open(&gateway, "6", from(2), &bob).await.err(), Some(429));
}
