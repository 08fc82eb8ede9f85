//! Events published through the dispatcher reach clients on two gateway nodes sharing one
//! Redis, rendered in both formats (docs/protocol.md "Events", "Pass-through format"):
//! messages, DMs, `channel_created` on `global`, and moderation events on `user:<id>`.

use integration_tests::*;
use serde_json::{Value, json};

/// Redis, a dispatcher and two gateway nodes, A and B.
fn two_nodes() -> (Stack, Gateway, Gateway) {
    let stack = Stack::start();
    let a = stack.gateway("gw-a", &[]);
    let b = stack.gateway("gw-b", &[]);
    (stack, a, b)
}

/// The fields of a seed-001 envelope as the events format passes it on.
fn assert_envelope(frame: &Value, kind: &str, room: &str) {
    assert_eq!(frame["type"], kind, "{frame}");
    assert_eq!(frame["room"], room, "{frame}");
    assert!(frame["id"].is_string(), "event id: {frame}");
    assert!(frame["timestamp"].is_string(), "timestamp: {frame}");
}

#[tokio::test]
async fn a_channel_message_reaches_native_clients_on_both_nodes_as_message_create() {
    let (stack, a, b) = two_nodes();
    stack.chat.channel("42", "7", &["8"]).await;
    let mut on_a = NativeClient::connect(&a, "7").await;
    let mut on_b = NativeClient::connect(&b, "8").await;
    on_a.subscribe("channel:42").await;
    on_b.subscribe("channel:42").await;

    let posted = stack
        .chat
        .post_with_id("42", "7", "hello", Some("1001"))
        .await;
    for client in [&mut on_a, &mut on_b] {
        let frame = client.recv_json().await;
        assert_eq!(frame["type"], "MESSAGE_CREATE", "{frame}");
        assert_eq!(frame["room"], "channel:42");
        let data = &frame["data"];
        assert_eq!(data["id"], json!(1001), "{frame}");
        assert_eq!(data["channel_id"], json!(42), "{frame}");
        assert_eq!(data["author_id"], json!(7), "{frame}");
        assert_eq!(data["content"], "hello");
        assert_eq!(data["created_at"], posted["created_at"]);
        assert!(data["created_at"].is_string(), "{frame}");
        assert!(frame["timestamp"].is_string(), "{frame}");
    }
}

#[tokio::test]
async fn message_create_keeps_non_numeric_ids_as_strings() {
    let (stack, a, _b) = two_nodes();
    stack.chat.channel("general", "ann", &[]).await;
    let mut client = NativeClient::connect(&a, "ann").await;
    client.subscribe("channel:general").await;

    let posted = stack.chat.post("general", "ann", "hi").await;
    let data = client.recv_json().await["data"].clone();
    assert_eq!(data["channel_id"], "general");
    assert_eq!(data["author_id"], "ann");
    assert_eq!(
        data["id"], posted["id"],
        "a generated (UUID) id stays a string"
    );
    assert!(data["id"].is_string());
}

#[tokio::test]
async fn a_reply_is_a_message_create_with_its_parent() {
    let (stack, a, _b) = two_nodes();
    stack.chat.channel("42", "7", &[]).await;
    let mut client = NativeClient::connect(&a, "7").await;
    client.subscribe("channel:42").await;
    stack
        .chat
        .post_with_id("42", "7", "question", Some("1"))
        .await;
    client.recv_json().await;

    let path = "/api/v1/channels/42/messages";
    let body = json!({"content": "answer", "id": "2", "parent_message_id": "1"});
    let (status, _) = stack.chat.as_user("7").post(path, Some(body)).await;
    assert_eq!(status, 201);
    let frame = client.recv_json().await;
    assert_eq!(frame["type"], "MESSAGE_CREATE", "{frame}");
    assert_eq!(frame["data"]["id"], json!(2));
    assert_eq!(frame["data"]["parent_message_id"], json!(1));
}

#[tokio::test]
async fn a_channel_message_reaches_events_clients_on_both_nodes_as_published() {
    let (stack, a, b) = two_nodes();
    stack.chat.channel("42", "7", &["8"]).await;
    let mut on_a = NativeClient::connect_events(&a, "7").await;
    let mut on_b = NativeClient::connect_events(&b, "8").await;
    on_a.subscribe("channel:42").await;
    on_b.subscribe("channel:42").await;

    stack
        .chat
        .post_with_id("42", "7", "hello", Some("1001"))
        .await;
    let from_a = on_a.recv_json().await;
    let from_b = on_b.recv_json().await;
    assert_envelope(&from_a, "channel_message", "channel:42");
    assert!(from_a["offset"].is_u64(), "the history offset: {from_a}");
    assert!(from_a["epoch"].is_string(), "the history epoch: {from_a}");
    let data = &from_a["data"];
    assert_eq!(
        data["channel_id"], "42",
        "ids stay strings as published: {from_a}"
    );
    assert_eq!(data["message_id"], "1001");
    assert_eq!(data["user_id"], "7");
    assert_eq!(data["content"], "hello");
    assert_eq!(from_a, from_b, "both nodes pass on the same publication");
}

#[tokio::test]
async fn one_node_serves_both_formats_from_one_publication() {
    let (stack, a, _b) = two_nodes();
    stack.chat.channel("42", "7", &["8"]).await;
    let mut native = NativeClient::connect(&a, "7").await;
    let mut events = NativeClient::connect_events(&a, "8").await;
    native.subscribe("channel:42").await;
    events.subscribe("channel:42").await;

    stack.chat.post_with_id("42", "7", "both", Some("5")).await;
    let native_frame = native.recv_json().await;
    let events_frame = events.recv_json().await;
    assert_eq!(native_frame["type"], "MESSAGE_CREATE");
    assert_eq!(native_frame["data"]["id"], json!(5));
    assert_eq!(events_frame["type"], "channel_message");
    assert_eq!(events_frame["data"]["message_id"], "5");
    assert_eq!(native_frame["timestamp"], events_frame["timestamp"]);
}

#[tokio::test]
async fn a_direct_message_reaches_both_participants_on_their_nodes() {
    let (stack, a, b) = two_nodes();
    stack.chat.dm("5", &["7", "8"]).await;
    let mut sender = NativeClient::connect(&a, "7").await;
    let mut recipient = NativeClient::connect(&b, "8").await;
    sender.subscribe("dm:5").await;
    recipient.subscribe("dm:5").await;

    let posted = stack.chat.post_dm("5", "7", "psst", "900").await;
    for client in [&mut sender, &mut recipient] {
        let frame = client.recv_json().await;
        assert_eq!(frame["type"], "DIRECT_MESSAGE_CREATE", "{frame}");
        assert_eq!(frame["room"], "dm:5");
        assert_eq!(
            frame["data"],
            json!({"id": 900, "direct_thread_id": 5, "author_id": 7, "content": "psst",
                   "created_at": posted["created_at"]})
        );
    }
}

#[tokio::test]
async fn a_direct_message_in_the_events_format_is_the_published_envelope() {
    let (stack, a, _b) = two_nodes();
    stack.chat.dm("5", &["7", "8"]).await;
    let mut client = NativeClient::connect_events(&a, "8").await;
    client.subscribe("dm:5").await;

    stack.chat.post_dm("5", "7", "psst", "900").await;
    let frame = client.recv_json().await;
    assert_eq!(frame["type"], "DIRECT_MESSAGE_CREATE", "{frame}");
    assert_eq!(frame["room"], "dm:5");
    assert_eq!(frame["data"]["direct_thread_id"], "5");
    assert_eq!(frame["data"]["id"], "900");
    assert_eq!(frame["data"]["content"], "psst");
}

#[tokio::test]
async fn channel_created_reaches_everyone_on_global() {
    let (stack, a, b) = two_nodes();
    let mut on_a = NativeClient::connect(&a, "7").await;
    let mut on_b = NativeClient::connect_events(&b, "8").await;

    stack.chat.channel("42", "1", &[]).await;
    let native = on_a.recv_json().await;
    assert_eq!(native["type"], "channel_created", "{native}");
    assert_eq!(native["room"], "global");
    assert_eq!(
        native["data"]["channel_id"], "42",
        "seed-001 events keep string ids"
    );
    assert_eq!(native["data"]["channel_name"], "channel 42");

    let events = on_b.recv_json().await;
    assert_envelope(&events, "channel_created", "global");
    assert_eq!(events["data"]["channel_id"], "42");
}

#[tokio::test]
async fn a_ban_reaches_the_banned_user_on_their_user_room_without_user_id() {
    let (stack, _a, b) = two_nodes();
    stack.chat.channel("42", "1", &["7"]).await;
    let mut banned = NativeClient::connect(&b, "7").await;

    stack.chat.ban("42", "1", "7").await;
    let frame = banned.recv_json().await;
    assert_eq!(frame["type"], "user_banned", "{frame}");
    assert_eq!(frame["room"], "user:7");
    assert_eq!(frame["data"]["channel_id"], "42");
    assert_eq!(frame["data"]["motive"], "spam");
    assert!(frame["data"].get("user_id").is_none(), "{frame}");
}

#[tokio::test]
async fn a_kick_reaches_the_kicked_user_on_their_user_room_without_user_id() {
    let (stack, a, _b) = two_nodes();
    stack.chat.channel("42", "1", &["7"]).await;
    let mut kicked = NativeClient::connect_events(&a, "7").await;

    stack.chat.kick("42", "1", "7").await;
    let frame = kicked.recv_json().await;
    assert_eq!(frame["type"], "user_kicked", "{frame}");
    assert_eq!(frame["room"], "user:7");
    assert_eq!(frame["data"]["channel_id"], "42");
    assert!(frame["data"].get("user_id").is_none(), "{frame}");
}

#[tokio::test]
async fn every_socket_of_a_user_gets_its_user_room_events() {
    let (stack, a, b) = two_nodes();
    stack.chat.channel("42", "1", &["7"]).await;
    let mut first = NativeClient::connect(&a, "7").await;
    let mut second = NativeClient::connect(&b, "7").await;

    stack.chat.kick("42", "1", "7").await;
    assert_eq!(first.recv_json().await["type"], "user_kicked");
    assert_eq!(second.recv_json().await["type"], "user_kicked");
}

/// READY is a socket's first frame even while its automatic rooms are busy: events fanned
/// out to `global` and to the user's own room while the session joins them wait until READY
/// is written (they came first whenever one landed between the join and READY).
#[tokio::test]
async fn ready_is_the_first_frame_while_the_automatic_rooms_are_busy() {
    let stack = Stack::start();
    let gateway = stack.gateway("gw-busy", &[]);
    // A first socket keeps the node subscribed to `global`.
    let _anchor = NativeClient::connect(&gateway, "anchor").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publishing = {
        let (stop, mut publisher) = (stop.clone(), Publisher::connect(&stack.redis));
        std::thread::spawn(move || {
            let mut published = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let event = json!({"type": "MARKER", "data": {"label": published}});
                publisher.publish("global", &event);
                published += 1;
                // About a thousand events a second: many land while a session joins, never
                // enough to fill its queue (1,024) while it is held for READY.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            published
        })
    };
    for i in 0..100 {
        // Asserts that the first frame is READY.
        let mut client = NativeClient::connect(&gateway, &format!("busy{i}")).await;
        let next = client.recv_json().await;
        assert_eq!(next["type"], "MARKER", "after READY: {next}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let published = publishing.join().expect("the publisher ran");
    assert!(published > 100, "global was busy: {published} events");
}

/// The fan-out writes a frame straight into a socket whose queue is empty and queues it
/// otherwise (README.md "Architecture"): a burst mixes both, and every socket still gets
/// every event once, in order.
#[tokio::test]
async fn a_burst_reaches_every_socket_whole_and_in_order() {
    let stack = Stack::start();
    let gateway = stack.gateway("gw-burst", &[]);
    let mut clients = Vec::new();
    for i in 0..20 {
        clients.push(NativeClient::connect(&gateway, &format!("burst{i}")).await);
    }
    let mut publisher = Publisher::connect(&stack.redis);
    let marker = |label: u64| json!({"type": "MARKER", "data": {"label": label}});
    // One event to idle sockets: written straight in.
    publisher.publish("global", &marker(0));
    for client in &mut clients {
        assert_eq!(client.recv_json().await["data"]["label"], 0);
    }
    let written = metric(&gateway.http_url(), "gateway_events_written_through_total").await;
    assert!(
        written.is_some_and(|n| n > 0.0),
        "idle sockets are written to directly: {written:?}"
    );
    const BURST: u64 = 1000;
    for label in 1..=BURST {
        publisher.publish("global", &marker(label));
    }
    for client in &mut clients {
        for label in 1..=BURST {
            let frame = client.recv_json().await;
            assert_eq!(frame["data"]["label"], label, "{frame}");
        }
    }
}

/// A frame the kernel takes only part of (the client is not reading) keeps its rest at the
/// node, ahead of everything else (README.md "Architecture"): once the client reads again, it
/// gets every event whole and in order, however the frames were cut, with the node's answers
/// to the pings it sent meanwhile between them.
#[tokio::test]
async fn a_client_that_pauses_reading_gets_every_large_event_whole_and_in_order() {
    let stack = Stack::start();
    let gateway = stack.gateway("gw-pause", &["--outbound-queue", "1024"]);
    let mut paused = NativeClient::connect(&gateway, "pause1").await;
    let mut publisher = Publisher::connect(&stack.redis);
    // 400 events of 60 KB: far more than the kernel buffers of both ends hold.
    const EVENTS: u64 = 400;
    let pad = "p".repeat(60_000);
    for label in 1..=EVENTS {
        let event = json!({"type": "MARKER", "data": {"label": label, "pad": pad}});
        publisher.publish("global", &event);
        if label % 100 == 0 {
            paused.send_ping(b"still here").await;
        }
    }
    // The client reads only now.
    for label in 1..=EVENTS {
        let frame = paused.recv_json().await;
        assert_eq!(frame["data"]["label"], label);
        assert_eq!(frame["data"]["pad"].as_str().map(str::len), Some(pad.len()));
    }
    let written = metric(&gateway.http_url(), "gateway_events_written_through_total").await;
    assert!(
        written.is_some_and(|n| n > 0.0),
        "the first events were written straight in: {written:?}"
    );
}
