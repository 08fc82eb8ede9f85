//! Per-socket limits (docs/protocol.md "Bad input", "Heartbeats", close codes): frame size
//! (soft: ERROR, hard: 1009), invalid frames (4002), frame rate (4008), heartbeat window
//! (4009), rooms per socket, and the slow consumer (4020), each with a small limit flag.

use integration_tests::*;
use serde_json::json;
use std::time::Duration;

/// Redis and one gateway node started with `args`. Keep both alive for the whole test.
fn node(args: &[&str]) -> (RedisServer, Gateway) {
    let redis = RedisServer::start();
    let gateway = gateway_on(&redis, "gw-limits", args);
    (redis, gateway)
}

/// A HEARTBEAT frame padded with an ignored field to exactly `len` bytes.
fn heartbeat_of_len(len: usize) -> String {
    let empty = r#"{"op":"HEARTBEAT","pad":""}"#;
    let frame = format!(
        r#"{{"op":"HEARTBEAT","pad":"{}"}}"#,
        "x".repeat(len - empty.len())
    );
    assert_eq!(frame.len(), len);
    frame
}

// ---- frame size ------------------------------------------------------------------------

#[tokio::test]
async fn a_frame_over_the_size_limit_is_invalid_payload_and_the_socket_stays() {
    let (_redis, gateway) = node(&["--max-frame-bytes", "1024"]);
    let mut client = NativeClient::connect(&gateway, "7").await;
    // The same op under the limit is answered normally...
    client.send_text(&heartbeat_of_len(1000)).await;
    assert_eq!(client.recv_json().await, json!({"type": "HEARTBEAT_ACK"}));
    // ...and over it is refused without closing.
    client.send_text(&heartbeat_of_len(2000)).await;
    assert_eq!(
        client.recv_json().await,
        json!({"type": "ERROR", "data": "invalid payload"})
    );
    client.heartbeat().await;
}

#[tokio::test]
async fn a_frame_over_four_times_the_limit_closes_with_1009() {
    let (_redis, gateway) = node(&["--max-frame-bytes", "1024"]);
    let mut client = NativeClient::connect(&gateway, "7").await;
    client.send_text(&heartbeat_of_len(5000)).await;
    assert_eq!(client.expect_close().await, Some(1009));
}

#[tokio::test]
async fn a_frame_over_four_times_the_limit_before_identify_closes_with_1009() {
    let (_redis, gateway) = node(&["--max-frame-bytes", "1024"]);
    let mut client = WsClient::connect(&gateway.ws_url("/api/ws")).await;
    client.send_text(&heartbeat_of_len(5000)).await;
    assert_eq!(client.expect_close().await, Some(1009));
}

#[tokio::test]
async fn a_frame_over_the_size_limit_before_identify_is_invalid_payload() {
    let (_redis, gateway) = node(&["--max-frame-bytes", "1024"]);
    let mut client = WsClient::connect(&gateway.ws_url("/api/ws")).await;
    let pad = "x".repeat(1500);
    client
        .send_json(json!({"op": "IDENTIFY", "data": {"token": token("7")}, "pad": pad}))
        .await;
    assert_eq!(
        client.recv_json().await,
        json!({"type": "ERROR", "data": "invalid payload"})
    );
}

#[tokio::test]
async fn a_binary_frame_before_identify_is_invalid_payload() {
    let (_redis, gateway) = node(&[]);
    let mut client = WsClient::connect(&gateway.ws_url("/api/ws")).await;
    client.send_binary(b"\x00\x01".to_vec()).await;
    assert_eq!(
        client.recv_json().await,
        json!({"type": "ERROR", "data": "invalid payload"})
    );
}

// ---- invalid frames and frame rate -----------------------------------------------------

#[tokio::test]
async fn more_invalid_frames_than_allowed_per_minute_close_with_4002() {
    let (_redis, gateway) = node(&["--invalid-frames-per-minute", "3"]);
    let mut client = NativeClient::connect(&gateway, "7").await;
    let invalid = json!({"type": "ERROR", "data": "invalid payload"});
    for _ in 0..3 {
        client.send_text("nope").await;
        assert_eq!(client.recv_json().await, invalid);
    }
    // Three are tolerated: the socket still answers.
    client.heartbeat().await;
    client.send_json(json!({"op": "DANCE"})).await;
    assert_eq!(client.expect_close().await, Some(4002));
}

#[tokio::test]
async fn too_many_invalid_frames_before_identify_close_with_4002() {
    let (_redis, gateway) = node(&["--invalid-frames-per-minute", "3"]);
    let mut client = WsClient::connect(&gateway.ws_url("/api/ws")).await;
    for _ in 0..3 {
        client.send_text("nope").await;
        assert_eq!(client.recv_json().await["type"], "ERROR");
    }
    client.send_text("nope").await;
    assert_eq!(client.expect_close().await, Some(4002));
}

#[tokio::test]
async fn a_burst_within_the_rate_limit_is_answered() {
    let (_redis, gateway) = node(&["--frames-per-second", "5"]);
    let mut client = NativeClient::connect(&gateway, "7").await;
    // Burst: twice the rate.
    for _ in 0..8 {
        client.send_json(json!({"op": "HEARTBEAT"})).await;
    }
    for _ in 0..8 {
        assert_eq!(client.recv_json().await, json!({"type": "HEARTBEAT_ACK"}));
    }
}

#[tokio::test]
async fn a_client_over_the_frame_rate_is_closed_with_4008() {
    let (_redis, gateway) = node(&["--frames-per-second", "5"]);
    let mut client = NativeClient::connect(&gateway, "7").await;
    for _ in 0..40 {
        // The node may cut the flood short.
        if client.try_send_text(r#"{"op":"HEARTBEAT"}"#).await.is_err() {
            break;
        }
    }
    assert_eq!(client.expect_close().await, Some(4008));
}

// ---- a client closed for a limit reads its close code ----------------------------------

#[tokio::test]
async fn a_flood_written_at_once_reads_every_answer_then_4008_not_a_reset() {
    // Defaults: 60 frames/s, burst 120. The client goes on writing after the node has
    // closed: what the node has not read when it closes must not turn into a reset (which
    // fails the client's next write, and with it every read after).
    let (_redis, gateway) = node(&[]);
    let mut client = NativeClient::connect(&gateway, "7").await;
    for _ in 0..1000 {
        if client.try_send_text(r#"{"op":"HEARTBEAT"}"#).await.is_err() {
            break;
        }
    }
    let mut acks = 0;
    let code = loop {
        match client.recv_or_close().await {
            Ok(frame) => {
                assert_eq!(frame, json!({"type": "HEARTBEAT_ACK"}));
                acks += 1;
            }
            Err(code) => break code,
        }
    };
    assert_eq!(code, Some(4008), "after {acks} acks");
    assert!(
        acks >= 120,
        "every frame within the burst is answered: {acks} acks"
    );
}

#[tokio::test]
async fn a_sixteen_mib_frame_is_refused_with_1009() {
    // Default limits: frames over 64 KiB close the socket. The node stops reading at the
    // frame's header, with more of the frame on its way than the kernel buffers on loopback.
    let (_redis, gateway) = node(&[]);
    let mut client = NativeClient::connect(&gateway, "7").await;
    let _ = client.try_send_text(&heartbeat_of_len(16 << 20)).await;
    assert_eq!(client.expect_close().await, Some(1009));
}

// ---- heartbeats ------------------------------------------------------------------------

#[tokio::test]
async fn a_silent_socket_is_closed_with_4009_while_a_heartbeating_one_stays() {
    let (_redis, gateway) = node(&["--heartbeat-interval-ms", "600"]);
    let mut silent = NativeClient::connect(&gateway, "7").await;
    let mut beating = NativeClient::connect(&gateway, "8").await;
    assert_eq!(beating.ready()["data"]["heartbeat_interval"], json!(600));

    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let heartbeats = tokio::spawn(async move {
        loop {
            beating.heartbeat().await;
            tokio::select! {
                _ = &mut stopped => return beating,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    });
    assert_eq!(silent.expect_close().await, Some(4009));

    let _ = stop.send(());
    let mut beating = heartbeats.await.expect("the heartbeating task");
    beating.heartbeat().await;
}

#[tokio::test]
async fn any_frame_keeps_a_socket_alive() {
    let (_redis, gateway) = node(&["--heartbeat-interval-ms", "600"]);
    let mut client = NativeClient::connect(&gateway, "7").await;
    // SUBSCRIBE frames only, no HEARTBEAT, for well over the 900 ms window.
    for _ in 0..12 {
        client.subscribe("global").await;
        client.expect_no_message(Duration::from_millis(100)).await;
    }
    client.heartbeat().await;
}

// ---- rooms per socket ------------------------------------------------------------------

#[tokio::test]
async fn joining_more_rooms_than_allowed_is_refused() {
    let stack = Stack::start();
    let gateway = stack.gateway("gw-limits", &["--max-rooms-per-socket", "3"]);
    stack.chat.channel("1", "7", &[]).await;
    stack.chat.channel("2", "7", &[]).await;
    let mut client = NativeClient::connect(&gateway, "7").await;

    // user:7 and global count: one more room fits.
    client.subscribe("channel:1").await;
    assert_eq!(
        client.try_subscribe("channel:2").await,
        json!({"type": "ERROR", "room": "channel:2", "data": "too many rooms"})
    );
    // A room the socket is already in does not count twice.
    client.subscribe("channel:1").await;
    // Leaving frees a place.
    client.unsubscribe("channel:1").await;
    client.subscribe("channel:2").await;
}

#[tokio::test]
async fn a_room_the_socket_was_taken_out_of_no_longer_counts_toward_the_limit() {
    let stack = Stack::start();
    let gateway = stack.gateway("gw-limits", &["--max-rooms-per-socket", "3"]);
    stack.chat.channel("1", "1", &["7"]).await;
    stack.chat.channel("2", "7", &[]).await;
    let mut client = NativeClient::connect(&gateway, "7").await;
    client.subscribe("channel:1").await;

    stack.chat.kick("1", "1", "7").await;
    let frames = client.recv_n(2).await;
    assert!(
        frames.contains(&json!({"type": "UNSUBSCRIBED", "room": "channel:1"})),
        "{frames:?}"
    );
    // The socket is in user:7 and global only.
    client.subscribe("channel:2").await;
}

// ---- slow consumer ---------------------------------------------------------------------

/// Message content large enough that a few hundred of them fill the kernel's socket buffers.
const BIG: usize = 60_000;

#[tokio::test]
async fn a_client_that_never_reads_is_closed_with_4020_while_a_reader_gets_everything() {
    let stack = Stack::start_with_dispatcher_args(&["--max-content-len", "64000"]);
    let gateway = stack.gateway("gw-slow", &["--outbound-queue", "8"]);
    stack.chat.channel("9", "1", &["2", "3"]).await;
    let mut reader = NativeClient::connect(&gateway, "2").await;
    let mut stalled = NativeClient::connect(&gateway, "3").await;
    reader.subscribe("channel:9").await;
    stalled.subscribe("channel:9").await;
    // From here on `stalled` is never polled until the burst is over.

    let url = gateway.http_url();
    let padding = "x".repeat(BIG);
    let mut sent = 0;
    // Batches of 4 stay under the reader's queue of 8; the reader catches up after each.
    while metric(&url, "gateway_slow_consumer_closes_total").await < Some(1.0) {
        assert!(
            sent < 2_000,
            "no slow-consumer close after {sent} messages of {BIG} bytes"
        );
        for _ in 0..4 {
            stack
                .chat
                .post("9", "1", &format!("{sent}:{padding}"))
                .await;
            sent += 1;
        }
        for expected in sent - 4..sent {
            let event = reader.recv_json().await;
            assert_eq!(event["type"], "MESSAGE_CREATE");
            let content = event["data"]["content"].as_str().unwrap();
            let (n, _) = content.split_once(':').unwrap();
            assert_eq!(
                n,
                expected.to_string(),
                "the reader's messages out of order"
            );
        }
    }
    // The reader is unaffected and still gets new messages.
    stack.chat.post("9", "1", "after the burst").await;
    let event = reader.recv_type("MESSAGE_CREATE").await;
    assert_eq!(event["data"]["content"], "after the burst");

    assert_eq!(stalled.expect_close().await, Some(4020));
    let closes = metric(&url, "gateway_slow_consumer_closes_total").await;
    assert!(
        closes >= Some(1.0),
        "gateway_slow_consumer_closes_total = {closes:?}"
    );
}

// ---- sockets per user ----------------------------------------------------------------------

#[tokio::test]
async fn a_user_past_the_socket_limit_is_refused_429_or_closed_with_4029() {
    let (_redis, gateway) = node(&["--max-sockets-per-user", "2"]);
    let first = NativeClient::connect(&gateway, "7").await;
    let _second = NativeClient::connect(&gateway, "7").await;
    // With ?token=: HTTP 429 before the upgrade, with Retry-After and a JSON body.
    let url = format!("{}/api/ws?token={}", gateway.http_url(), token("7"));
    let response = upgrade_request(&url, &[]).await;
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "10");
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    assert_eq!(body["code"], "too_many_sockets", "{body}");
    // With IDENTIFY: closed with 4029 once identified.
    let mut third = WsClient::connect(&gateway.ws_url("/api/ws")).await;
    third
        .send_json(json!({"op": "IDENTIFY", "data": {"token": token("7")}}))
        .await;
    assert_eq!(third.expect_close().await, Some(4029));
    // Another user is not affected, and a closed socket frees a place.
    NativeClient::connect(&gateway, "8").await;
    first.into_inner().close().await;
    eventually(
        "a place frees up",
        std::time::Duration::from_secs(5),
        || {
            let url = gateway.ws_url(&format!("/api/ws?token={}", token("7")));
            async move { WsClient::try_connect(&url).await.is_ok() }
        },
    )
    .await;
}
