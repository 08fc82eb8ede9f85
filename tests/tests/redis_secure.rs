//! The system on Redis as operators run it (docs/operations.md): TLS with a private CA and a
//! client certificate, an ACL user with only the commands, keys and channels it needs
//! (`deploy/redis/chat-user.acl`), its password from a file. The core flows run through it on
//! two nodes; Redis refuses nothing (its ACL log stays empty), every key lands under the
//! prefix, and the password shows up in no output.

use integration_tests::*;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

fn log_file(name: &str, run: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "redis-secure-{run}-{name}-{}.log",
        std::process::id()
    ))
}

#[tokio::test]
async fn the_core_flows_run_over_tls_as_the_documented_acl_user() {
    core_flows(SecureRedis::start(), "single").await;
}

#[tokio::test]
async fn the_core_flows_run_over_tls_on_a_redis_cluster() {
    core_flows(SecureRedis::start_cluster(), "cluster").await;
}

/// Channels, membership, messages across two nodes, history, presence, typing and a resume,
/// through `redis`; then what Redis refused, where the keys are, and what the logs say.
async fn core_flows(redis: SecureRedis, run: &str) {
    let launch = |name: &str| Launch {
        log_file: Some(log_file(name, run)),
        ..Launch::default()
    };
    let dispatcher = Dispatcher::start(
        redis
            .client_args()
            .into_iter()
            .fold(DispatcherOpts::new(redis.url()), |o, a| o.arg(a))
            .launch(launch("dispatcher")),
    );
    let gateway = |id: &str| {
        let opts = redis
            .client_args()
            .into_iter()
            .fold(GatewayOpts::new(redis.url(), id), |o, a| o.arg(a));
        // A short live TTL: lease renewals, claims and a sweep run within the test.
        let opts = opts.arg("--registry-ttl-ms").arg("1000");
        Gateway::start(opts.arg("--live-ttl-ms").arg("600").launch(launch(id)))
    };
    let (a, b) = (gateway("gw-a"), gateway("gw-b"));
    let chat = Chat::new(&dispatcher.base_url());

    // Channels, membership and messages across the two nodes, with history.
    chat.channel("10", "1", &["2"]).await;
    let mut alice = NativeClient::connect(&a, "1").await;
    let mut bob = NativeClient::connect(&b, "2").await;
    alice.subscribe("channel:10").await;
    bob.subscribe("channel:10").await;
    chat.post("10", "1", "over TLS").await;
    for client in [&mut alice, &mut bob] {
        let event = client.recv_type("MESSAGE_CREATE").await;
        assert_eq!(event["data"]["content"], "over TLS");
    }
    let (status, page) = Api::new(&dispatcher.base_url())
        .bearer(&token("2"))
        .get("/api/v1/channels/10/messages", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["messages"][0]["content"], "over TLS", "{page}");

    // Presence and typing from one node reach the other.
    alice
        .send_json(json!({"op": "PRESENCE_SUBSCRIBE", "user_id": "2"}))
        .await;
    let initial = alice.recv_type("INIT_STATE").await;
    assert_eq!(initial["data"]["status"], "online", "{initial}");
    bob.send_json(json!({"op": "PRESENCE_UPDATE", "status": "idle"}))
        .await;
    let presence = alice.recv_type("PRESENCE_UPDATE").await;
    assert_eq!(presence["data"]["status"], "idle", "{presence}");
    bob.send_json(json!({"op": "TYPING", "room": "channel:10"}))
        .await;
    let typing = alice.recv_type("user_typing").await;
    assert_eq!(typing["data"]["user_id"], "2", "{typing}");

    // A resumed session, through the resume records.
    let session = bob.ready()["data"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let seq = bob.last_seq();
    drop(bob);
    let mut again = WsClient::connect(&b.ws_url("/api/ws")).await;
    again
        .send_json(json!({"op": "RESUME", "token": token("2"), "session_id": session, "seq": seq}))
        .await;
    again.recv_type("RESUMED").await;

    // A node killed: another one sweeps its entries, and its user goes offline.
    let mut c = gateway("gw-c");
    let _carol = NativeClient::connect(&c, "3").await;
    alice
        .send_json(json!({"op": "PRESENCE_SUBSCRIBE", "user_id": "3"}))
        .await;
    let initial = alice.recv_type("INIT_STATE").await;
    assert_eq!(initial["data"]["status"], "online", "{initial}");
    c.kill();
    let offline = alice.recv_json_within(Duration::from_secs(10)).await;
    assert_eq!(offline["data"]["status"], "offline", "{offline}");

    // Redis refused nothing, and every key is under the prefix.
    assert_eq!(redis.admin(&["ACL", "LOG"]), "", "commands Redis refused");
    let keys = redis.admin(&["--scan"]);
    assert!(!keys.is_empty());
    for key in keys.lines() {
        assert!(
            key.starts_with(KEY_PREFIX),
            "a key outside the prefix: {key}"
        );
    }

    // The password is in no log.
    drop((a, b, dispatcher));
    for name in ["dispatcher", "gw-a", "gw-b"] {
        let log = std::fs::read_to_string(log_file(name, run)).unwrap_or_default();
        assert!(
            !log.contains(redis.password()),
            "{name} logged the Redis password"
        );
        let _ = std::fs::remove_file(log_file(name, run));
    }
}
