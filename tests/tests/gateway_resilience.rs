//! Faults injected for real: Redis killed and started again under a running node, a node
//! killed or stopped while clients are connected.

use integration_tests::*;
use serde_json::json;
use std::time::Duration;

/// How long a node may take to notice Redis is back and re-subscribe its rooms.
const RECOVERY: Duration = Duration::from_secs(15);

/// Publishes numbered markers on `room` straight into Redis until one reaches a subscriber
/// (a gateway node), and returns the native frame of that marker.
async fn publish_until_a_node_listens(stack: &Stack, room: &str) -> serde_json::Value {
    let mut attempt = 0;
    eventually_some(
        &format!("a gateway subscribed to {room} again"),
        RECOVERY,
        || {
            attempt += 1;
            let payload = json!({"type": "MARKER", "data": {"label": attempt}});
            let receivers = stack.publish(room, &payload);
            let frame = json!({"type": "MARKER", "room": room, "data": {"label": attempt}});
            async move { (receivers > 0).then_some(frame) }
        },
    )
    .await
}

#[tokio::test]
async fn after_a_redis_restart_the_rooms_come_back_without_client_action() {
    let mut stack = Stack::start();
    let gateway = stack.gateway("gw-r", &[]);
    stack.chat.channel("42", "1", &["7"]).await;
    let mut client = NativeClient::connect(&gateway, "7").await;
    client.subscribe("channel:42").await;
    stack.chat.post("42", "1", "before").await;
    assert_eq!(client.recv_json().await["data"]["content"], "before");

    stack.redis.stop();
    stack.redis.start_again();

    // The node re-subscribes the rooms it had: the channel and the automatic ones. The
    // restarted Redis lost the channel's history (no persistence here), so the client is also
    // told its copy of the channel may have missed events: SUBSCRIBED, recovered false, in the
    // new epoch (once, before or between the markers).
    let mut told_stale = 0;
    for room in ["channel:42", "user:7", "global"] {
        let marker = publish_until_a_node_listens(&stack, room).await;
        for frame in client.recv_until(&marker).await {
            assert_eq!(frame["type"], "SUBSCRIBED", "{frame}");
            assert_eq!(frame["room"], "channel:42", "{frame}");
            assert_eq!(frame["data"]["recovered"], false, "{frame}");
            told_stale += 1;
        }
    }
    if told_stale == 0 {
        let frame = client.recv_type("SUBSCRIBED").await;
        assert_eq!(frame["data"]["recovered"], false, "{frame}");
        told_stale += 1;
    }
    assert_eq!(told_stale, 1, "one stale notice for the channel");
}

#[tokio::test]
async fn after_a_redis_restart_messages_posted_through_the_dispatcher_arrive_again() {
    let mut stack = Stack::start();
    let gateway = stack.gateway("gw-r", &[]);
    stack.chat.channel("42", "1", &["7"]).await;
    let mut client = NativeClient::connect(&gateway, "7").await;
    client.subscribe("channel:42").await;

    stack.redis.stop();
    stack.redis.start_again();
    publish_until_a_node_listens(&stack, "channel:42").await;

    // The restarted Redis is empty: set the channel up again (the dispatcher may answer 503
    // until it has reconnected), then post.
    let service = stack.chat.service().clone();
    eventually("the dispatcher creates channel 42 again", RECOVERY, || {
        let service = service.clone();
        async move {
            let body = json!({"id": "42", "name": "again", "user_id": "1"});
            let (status, _) = service.post("/api/v1/channels", Some(body)).await;
            assert!(
                status == 201 || status == 503,
                "create channel answered {status}"
            );
            status == 201
        }
    })
    .await;
    stack.chat.post("42", "1", "after").await;
    let frame = client.recv_type("MESSAGE_CREATE").await;
    assert_eq!(frame["data"]["content"], "after");
}

#[tokio::test]
async fn readyz_follows_the_broker() {
    let mut redis = RedisServer::start();
    let gateway = gateway_on(&redis, "gw-r", &[]);
    let api = Api::new(&gateway.http_url());
    assert_eq!(api.get("/readyz", None).await.0, 200);

    redis.stop();
    eventually("/readyz answers 503 without Redis", RECOVERY, || {
        let api = api.clone();
        async move { api.get("/readyz", None).await.0 == 503 }
    })
    .await;
    // Liveness does not depend on the broker.
    assert_eq!(api.get("/healthz", None).await.0, 200);

    redis.start_again();
    eventually("/readyz answers 200 again", RECOVERY, || {
        let api = api.clone();
        async move { api.get("/readyz", None).await.0 == 200 }
    })
    .await;
}

#[tokio::test]
async fn sockets_survive_a_redis_outage() {
    let mut redis = RedisServer::start();
    let gateway = gateway_on(&redis, "gw-r", &[]);
    let mut client = NativeClient::connect(&gateway, "7").await;
    redis.stop();
    client.heartbeat().await;
    redis.start_again();
    client.heartbeat().await;
}

#[tokio::test]
async fn subscribing_while_redis_is_down_is_answered_room_unavailable() {
    let mut stack = Stack::start();
    let gateway = stack.gateway("gw-r", &[]);
    stack.chat.channel("42", "1", &["7"]).await;
    let mut client = NativeClient::connect(&gateway, "7").await;

    stack.redis.stop();
    assert_eq!(
        client.try_subscribe("channel:42").await,
        json!({"type": "ERROR", "room": "channel:42", "data": "room unavailable, try again"})
    );
    client.heartbeat().await;
}

#[tokio::test]
async fn a_killed_node_does_not_disturb_clients_on_another_node() {
    let stack = Stack::start();
    let mut a = stack.gateway("gw-a", &[]);
    let b = stack.gateway("gw-b", &[]);
    stack.chat.channel("42", "1", &["7", "8"]).await;
    let mut on_a = NativeClient::connect(&a, "7").await;
    let mut on_b = NativeClient::connect(&b, "8").await;
    on_a.subscribe("channel:42").await;
    on_b.subscribe("channel:42").await;

    a.kill();
    assert_eq!(
        on_a.expect_close().await,
        None,
        "the socket to the killed node ends"
    );

    stack.chat.post("42", "1", "still delivered").await;
    assert_eq!(on_b.recv_json().await["data"]["content"], "still delivered");
}

#[tokio::test]
async fn a_stopping_node_closes_its_sockets_and_exits_cleanly() {
    // The close code is the drain's business (docs/protocol.md: 1001 "the node is shutting
    // down"); here: every socket gets a Close frame, none is just dropped, and the process
    // exits with success.
    let redis = RedisServer::start();
    let mut gateway = gateway_on(&redis, "gw-r", &[]);
    let mut native = NativeClient::connect(&gateway, "7").await;
    let mut events = NativeClient::connect_events(&gateway, "8").await;

    gateway.terminate();
    assert!(
        native.expect_close().await.is_some(),
        "no close frame on the native socket"
    );
    assert!(
        events.expect_close().await.is_some(),
        "no close frame on the events socket"
    );
    let status = gateway.wait_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "the node did not exit cleanly after SIGTERM: {status:?}"
    );
}

#[tokio::test]
async fn sockets_the_drain_did_not_reach_are_closed_as_going_away() {
    // A grace period shorter than the drain's first batch: no RECONNECT goes out, and every
    // socket still open when the node stops gets 1001.
    let redis = RedisServer::start();
    let mut gateway = gateway_on(
        &redis,
        "gw-r",
        &["--shutdown-grace-ms", "500", "--drain-window-ms", "10000"],
    );
    let mut native = NativeClient::connect(&gateway, "7").await;
    let mut events = NativeClient::connect_events(&gateway, "8").await;

    gateway.terminate();
    assert_eq!(native.expect_close().await, Some(1001));
    assert_eq!(events.expect_close().await, Some(1001));
    let status = gateway.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");
}
