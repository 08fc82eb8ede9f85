use integration_tests::*;
use std::time::Duration;

#[tokio::test]
async fn probe_index_leak_race() {
    let stack = Stack::start();
    let a = stack.gateway("gw-a", &["--live-ttl-ms", "300"]);
    for i in 0..400 {
        let c = NativeClient::connect(&a, &format!("{}", 1000 + i)).await;
        c.into_inner().close().await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let redis = &stack.redis;
    let members = redis.cli(&["ZRANGE", "live-index:presence", "0", "-1"]);
    let mut leaked = 0;
    for room in members.lines() {
        if redis.cli(&["EXISTS", &format!("live:{{{room}}}")]) == "0" {
            leaked += 1;
        }
    }
    println!("index {} leaked {}", members.lines().count(), leaked);
}
