//! Liveness per node, not per socket (docs/operations.md, "Presence and voice liveness"): a
//! node renews one lease for its incarnation whatever it holds, so what an idle node asks of
//! Redis does not grow with its sockets; a node that stalls past its lease is swept by the
//! others (its users go offline) and, when it wakes, starts over under a new incarnation and
//! has its clients reconnect, after which they are online again.

use integration_tests::*;
use serde_json::json;
use std::time::Duration;

const USER: &str = "7";
const WATCHER: &str = "8";

/// Every command Redis ran so far, `INFO` and `CLIENT` ones left out (the test's own).
fn commands(redis: &RedisServer) -> u64 {
    redis
        .cli(&["INFO", "commandstats"])
        .lines()
        .filter(|l| !l.starts_with("cmdstat_info:") && !l.starts_with("cmdstat_client"))
        .filter_map(|l| {
            l.split_once(":calls=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Commands Redis runs during one second of a node doing nothing but holding its sockets.
async fn idle_commands(redis: &RedisServer) -> u64 {
    let before = commands(redis);
    tokio::time::sleep(Duration::from_secs(1)).await;
    commands(redis) - before
}

#[tokio::test]
async fn an_idle_nodes_redis_commands_do_not_grow_with_its_sockets() {
    let stack = Stack::start();
    // Renewals every 100 ms: a per-socket renewal would show at once.
    let node = stack.gateway("gw-a", &["--live-ttl-ms", "300"]);
    let mut clients = Vec::new();
    for user in 0..5 {
        let mut client = NativeClient::connect(&node, &format!("{}", 100 + user)).await;
        client.heartbeat().await;
        clients.push(client);
    }
    let with_few = idle_commands(&stack.redis).await;
    for user in 5..105 {
        let mut client = NativeClient::connect(&node, &format!("{}", 100 + user)).await;
        client.heartbeat().await;
        clients.push(client);
    }
    let with_many = idle_commands(&stack.redis).await;
    // Per-socket leases renewed 3 times a second would cost 100 × 3 × 9 ≈ 2,700 more.
    assert!(
        with_many <= with_few + 40,
        "{with_few} commands/s with 5 sockets, {with_many} with 105"
    );
}

#[tokio::test]
async fn a_node_stalled_past_its_lease_is_swept_then_starts_over() {
    let stack = Stack::start();
    let args = ["--live-ttl-ms", "600"];
    let stalled = stack.gateway("gw-stalls", &args);
    let other = stack.gateway("gw-other", &args);
    let mut user = NativeClient::connect(&stalled, USER).await;
    user.heartbeat().await;
    let mut watcher = NativeClient::connect(&other, WATCHER).await;
    watcher
        .send_json(json!({"op": "PRESENCE_SUBSCRIBE", "user_id": USER}))
        .await;
    let init = watcher.recv_type("INIT_STATE").await;
    assert_eq!(init["data"]["status"], "online", "{init}");

    // A stall (SIGSTOP) longer than the lease: the other node sweeps, the user goes offline.
    let pid = stalled.pid().to_string();
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    };
    signal("-STOP");
    let offline = watcher.recv_json_within(Duration::from_secs(10)).await;
    assert_eq!(offline["type"], "PRESENCE_UPDATE", "{offline}");
    assert_eq!(offline["data"]["status"], "offline", "{offline}");

    // Awake: the node finds its lease claimed and asks its clients to reconnect.
    signal("-CONT");
    let notice = user.recv_type("RECONNECT").await;
    assert!(notice["data"]["url"].is_string(), "{notice}");
    assert_eq!(user.expect_close().await, Some(4021));
    let mut again = NativeClient::connect(&stalled, USER).await;
    again.heartbeat().await;
    let online = watcher.recv_type("PRESENCE_UPDATE").await;
    assert_eq!(online["data"]["status"], "online", "{online}");
    // The new incarnation's entry stays: a sweep of the old one does not touch it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let key = format!("live:{{presence:{USER}}}");
    assert_eq!(stack.redis.cli(&["HLEN", &key]), "1");
    assert_eq!(
        metric(&stalled.http_url(), "gateway_live_lease_lapses_total").await,
        Some(1.0)
    );
    assert!(
        metric(&other.http_url(), "gateway_live_sweeps_total")
            .await
            .is_some_and(|n| n >= 1.0)
    );
}
