use integration_tests::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn probe_sweep_stuck() {
    let stack = Stack::start();
    let mut old = stack.gateway("gw-old", &["--live-ttl-ms", "300"]);
    let mut clients = Vec::new();
    for i in 0..210 {
        clients.push(NativeClient::connect(&old, &format!("{}", 1000 + i)).await);
    }
    old.kill();
    drop(clients);
    let redis = &stack.redis;
    eventually("old keys expired", Duration::from_secs(10), || async move {
        redis.cli(&["KEYS", "live:*"]).is_empty()
    })
    .await;
    println!("index: {}", redis.cli(&["ZCARD", "live-index:presence"]));
    let b = stack.gateway("gw-b", &["--live-ttl-ms", "1500"]);
    let mut c = stack.gateway("gw-c", &["--live-ttl-ms", "1500"]);
    let mut w = NativeClient::connect(&b, "8").await;
    let mut x = NativeClient::connect(&c, "7").await;
    x.heartbeat().await;
    w.send_json(json!({"op":"PRESENCE_SUBSCRIBE","user_id":"7"}))
        .await;
    println!("{}", w.recv_json().await);
    c.kill();
    println!(
        "after kill: {}",
        w.recv_json_within(Duration::from_secs(10)).await
    );
}
