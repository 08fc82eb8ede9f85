//! The dispatcher's per-token rate limit (docs/api.md): past it a token gets 429 with
//! `Retry-After` and the JSON error; other users and service tokens are not held back.

use integration_tests::*;
use serde_json::json;

#[tokio::test]
async fn a_user_token_over_its_rate_gets_429_with_retry_after() {
    let redis = RedisServer::start();
    let mut opts = DispatcherOpts::new(redis.url());
    opts.user_rate_per_second = 5; // burst 10
    let dispatcher = Dispatcher::start(opts);
    let chat = Chat::new(&dispatcher.base_url());
    chat.channel("42", "1", &["7"]).await;

    let path = "/api/v1/channels/42/messages";
    let one = chat.as_user("1");
    let mut statuses = Vec::new();
    let started = std::time::Instant::now();
    for i in 0..30 {
        let body = json!({"content": format!("m{i}")});
        let (status, headers, answer) = one.with_headers(Method::POST, path, Some(body), &[]).await;
        if status == 429 {
            assert_eq!(answer["code"], "rate_limited", "{answer}");
            let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=2).contains(&retry), "Retry-After {retry}");
        }
        statuses.push(status);
    }
    let accepted = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(accepted + refused, 30, "{statuses:?}");
    // The burst of 10, plus what 5 per second refilled while the posts went out.
    let refilled = (started.elapsed().as_secs_f64() * 5.0).ceil() as usize;
    assert!(
        (10..=10 + refilled + 1).contains(&accepted),
        "accepted {accepted} with {refilled} refilled: {statuses:?}"
    );
    assert!(refused > 0, "{statuses:?}");
    // Another user, and the trusted backend, are not held back.
    let (status, _) = chat
        .as_user("7")
        .post(path, Some(json!({"content": "hi"})))
        .await;
    assert_eq!(status, 201);
    let (status, _) = chat
        .service()
        .post(path, Some(json!({"content": "hi", "author_id": "1"})))
        .await;
    assert_eq!(status, 201);
    let limited = metric(&dispatcher.base_url(), "dispatcher_rate_limited_total").await;
    assert_eq!(limited, Some(refused as f64));
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_request_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = Stack::start_with_dispatcher_args(&["--idle-timeout-secs", "1"]);
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", stack.dispatcher.port()))
        .await
        .expect("connect");
    // A request head that never ends (a slowloris client).
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("the dispatcher closes a quiet connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // A whole request still gets its answer.
    let (status, _) = Api::new(&stack.dispatcher.base_url())
        .get("/healthz", None)
        .await;
    assert_eq!(status, 200);
}
