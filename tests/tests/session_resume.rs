//! `RESUME {session_id, seq}` (docs/protocol.md, "Resuming a session"): every session frame
//! is numbered; a closed session can be resumed on any node, getting back its rooms and every
//! event it missed after the frame it names, exactly once and in order.

use integration_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

const ROOM: &str = "channel:42";

async fn setup() -> (Stack, Gateway, Gateway) {
    let stack = Stack::start();
    let a = stack.gateway("gw-a", &["--drain-window-ms", "200"]);
    let b = stack.gateway("gw-b", &[]);
    stack.chat.channel("42", "1", &["7"]).await;
    (stack, a, b)
}

/// A client of user 7 on `gateway`, in ROOM, that read `n` posted messages; returns it with
/// its session id.
async fn member_reading(stack: &Stack, gateway: &Gateway, n: usize) -> (NativeClient, String) {
    let mut client = NativeClient::connect(gateway, "7").await;
    let id = client.ready()["data"]["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    client.subscribe(ROOM).await;
    for i in 0..n {
        stack
            .chat
            .post_with_id("42", "1", "before", Some(&format!("b{i}")))
            .await;
        let frame = client.recv_type("MESSAGE_CREATE").await;
        assert_eq!(frame["data"]["id"], format!("b{i}"));
    }
    (client, id)
}

/// Connects to `gateway` without a token and sends RESUME (with the token) first.
async fn resume_at_connect(gateway: &Gateway, session: &str, seq: u64) -> WsClient {
    let mut ws = WsClient::connect(&gateway.ws_url("/api/ws")).await;
    ws.send_json(json!({"op": "RESUME", "token": token("7"), "session_id": session, "seq": seq}))
        .await;
    ws
}

/// Frames until RESUMED (which is returned last).
async fn until_resumed(ws: &mut WsClient) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = ws.recv_json().await;
        let done = frame["type"] == "RESUMED";
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

fn message_ids(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "MESSAGE_CREATE")
        .map(|f| f["data"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_session_frame_is_numbered_from_one() {
    let (_stack, a, _b) = setup().await;
    let mut client = NativeClient::connect(&a, "7").await;
    assert_eq!(client.last_seq(), 1, "READY is frame 1");
    client.heartbeat().await;
    client.subscribe(ROOM).await;
    assert_eq!(client.last_seq(), 3);
}

#[tokio::test]
async fn a_closed_session_resumes_on_another_node_with_what_it_missed() {
    let (stack, a, b) = setup().await;
    let (client, id) = member_reading(&stack, &a, 3).await;
    let seq = client.last_seq();
    client.into_inner().close().await;
    for i in 0..4 {
        stack
            .chat
            .post_with_id("42", "1", "missed", Some(&format!("m{i}")))
            .await;
    }

    let mut ws = resume_at_connect(&b, &id, seq).await;
    let frames = until_resumed(&mut ws).await;
    assert_eq!(message_ids(&frames), ["m0", "m1", "m2", "m3"], "{frames:?}");
    let resumed = frames.last().unwrap();
    assert_eq!(resumed["data"]["resumed"], id.as_str());
    assert_ne!(resumed["data"]["session_id"], id.as_str(), "a new session");
    assert_eq!(
        resumed["data"]["rooms"][ROOM]["recovered"], true,
        "{resumed}"
    );
    assert!(resumed["data"]["heartbeat_interval"].is_u64());
    // Live again, once.
    stack
        .chat
        .post_with_id("42", "1", "live", Some("live"))
        .await;
    let frame = ws.recv_type("MESSAGE_CREATE").await;
    assert_eq!(frame["data"]["id"], "live");
    let marker = stack.publish_marker(ROOM, "end");
    assert_eq!(ws.recv_json().await, marker);
    // A session resumes once.
    let mut again = resume_at_connect(&b, &id, seq).await;
    let frame = again.recv_json().await;
    assert_eq!(
        frame,
        json!({"type": "INVALID_SESSION", "data": {"session_id": id}})
    );
    assert_eq!(
        again.recv_json().await["type"],
        "READY",
        "then a fresh session"
    );
}

#[tokio::test]
async fn a_draining_node_lets_its_clients_resume_elsewhere_with_nothing_lost() {
    let (stack, mut a, b) = setup().await;
    let (mut client, id) = member_reading(&stack, &a, 2).await;
    a.terminate();
    // Everything the draining node sent, up to RECONNECT and its close.
    loop {
        let frame = client.recv_json().await;
        if frame["type"] == "RECONNECT" {
            break;
        }
    }
    assert_eq!(client.expect_close().await, Some(4021));
    let seq = client.last_seq();
    for i in 0..3 {
        stack
            .chat
            .post_with_id("42", "1", "during", Some(&format!("d{i}")))
            .await;
    }
    let mut ws = resume_at_connect(&b, &id, seq).await;
    let frames = until_resumed(&mut ws).await;
    assert_eq!(message_ids(&frames), ["d0", "d1", "d2"], "{frames:?}");
    assert!(a.wait_exit(Duration::from_secs(30)).is_some());
}

#[tokio::test]
async fn resuming_a_session_still_open_elsewhere_takes_it_over() {
    let (stack, a, b) = setup().await;
    let (mut old, id) = member_reading(&stack, &a, 2).await;
    let seq = old.last_seq();
    // The client lost track of its socket; it resumes on another node meanwhile.
    stack.chat.post_with_id("42", "1", "gap", Some("g0")).await;
    let mut ws = resume_at_connect(&b, &id, seq).await;
    let frames = until_resumed(&mut ws).await;
    assert_eq!(message_ids(&frames), ["g0"], "{frames:?}");
    // The old socket is closed as superseded.
    assert_eq!(old.expect_close().await, Some(4022));
}

#[tokio::test]
async fn a_client_that_missed_the_last_frames_gets_them_again() {
    let (stack, a, b) = setup().await;
    let (mut client, id) = member_reading(&stack, &a, 2).await;
    let seq = client.last_seq();
    // Two more events are written to the socket, but the client "loses" them.
    for i in 0..2 {
        stack
            .chat
            .post_with_id("42", "1", "lost", Some(&format!("l{i}")))
            .await;
        client.recv_type("MESSAGE_CREATE").await;
    }
    client.into_inner().close().await;
    let mut ws = resume_at_connect(&b, &id, seq).await;
    let frames = until_resumed(&mut ws).await;
    assert_eq!(message_ids(&frames), ["l0", "l1"], "{frames:?}");
}

#[tokio::test]
async fn resume_after_ready_works_and_bad_resumes_get_clear_answers() {
    let (stack, a, b) = setup().await;
    let (client, id) = member_reading(&stack, &a, 1).await;
    let seq = client.last_seq();
    client.into_inner().close().await;
    stack.chat.post_with_id("42", "1", "x", Some("x0")).await;

    let mut fresh = NativeClient::connect(&b, "7").await;
    // Malformed: the field is named, the socket stays.
    fresh
        .send_json(json!({"op": "RESUME", "session_id": id, "seq": "1"}))
        .await;
    assert_eq!(
        fresh.recv_json().await,
        json!({"type": "ERROR", "data": "seq must be a non-negative integer"})
    );
    // Ahead of what was sent: refused, and the session stays resumable.
    fresh
        .send_json(json!({"op": "RESUME", "session_id": id, "seq": seq + 10}))
        .await;
    let error = fresh.recv_json().await;
    assert_eq!(error["type"], "ERROR", "{error}");
    assert!(
        error["data"].as_str().unwrap().starts_with("seq is ahead"),
        "{error}"
    );
    // Another user's session, or no such session: INVALID_SESSION.
    fresh
        .send_json(json!({"op": "RESUME", "session_id": "nope-1", "seq": 1}))
        .await;
    assert_eq!(fresh.recv_json().await["type"], "INVALID_SESSION");
    // The real one, into this session.
    fresh
        .send_json(json!({"op": "RESUME", "session_id": id, "seq": seq}))
        .await;
    let frames = until_resumed(&mut fresh).await;
    assert_eq!(message_ids(&frames), ["x0"], "{frames:?}");
    fresh.heartbeat().await;
}

#[tokio::test]
async fn another_users_resume_cannot_take_a_session_over() {
    // Session ids are guessable (the node's boot id, which READY shows, and a counter): a
    // RESUME naming someone else's open session must leave it alone.
    let (stack, a, b) = setup().await;
    for (intruder_node, label) in [(&a, "same-node"), (&b, "other-node")] {
        let (mut victim, id) = member_reading(&stack, &a, 0).await;
        let mut intruder = WsClient::connect(&intruder_node.ws_url("/api/ws")).await;
        intruder
            .send_json(json!({"op": "RESUME", "token": token("666"), "session_id": id, "seq": 1}))
            .await;
        assert_eq!(
            intruder.recv_type("INVALID_SESSION").await["type"],
            "INVALID_SESSION",
            "{label}"
        );
        // The victim's session is still open and still delivering.
        stack
            .chat
            .post_with_id("42", "1", "still here", Some(&format!("v-{label}")))
            .await;
        let frame = victim.recv_type("MESSAGE_CREATE").await;
        assert_eq!(frame["data"]["id"], format!("v-{label}"), "{label}");
    }
}

#[tokio::test]
async fn presence_follows_come_back_with_a_resumed_session() {
    let (stack, a, b) = setup().await;
    let (mut client, id) = member_reading(&stack, &a, 0).await;
    client
        .send_json(json!({"op": "PRESENCE_SUBSCRIBE", "user_id": "9"}))
        .await;
    assert_eq!(client.recv_json().await["type"], "INIT_STATE");
    let seq = client.last_seq();
    client.into_inner().close().await;

    let mut ws = resume_at_connect(&b, &id, seq).await;
    let resumed = until_resumed(&mut ws).await.pop().unwrap();
    let rooms = resumed["data"]["rooms"].as_object().unwrap();
    assert!(rooms.contains_key(ROOM), "{resumed}");
    assert!(
        !rooms.contains_key("presence:9"),
        "a presence follow is not a room with a position: {resumed}"
    );
    // User 9 comes online: the resumed session still follows them.
    let _nine = NativeClient::connect(&a, "9").await;
    let update = ws.recv_type("PRESENCE_UPDATE").await;
    assert_eq!(update["data"]["user_id"], "9", "{update}");
    assert_eq!(update["data"]["status"], "online", "{update}");
}
