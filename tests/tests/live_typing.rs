//! Typing indicators across nodes (issue 4): `TYPING {room[, is_typing]}` from a member becomes
//! seed 001's `user_typing` `{channel_id, user_id, username, is_typing}` on the channel's room,
//! delivered to the other subscribers on every node and never to the typist's own sockets;
//! the dispatcher's `POST /api/v1/channels/{id}/typing` does the same for backends. Typing is
//! rate-limited per user and room (a burst of 3, then one every 2 s); other rooms, non-members
//! and bad arguments are answered `ERROR`.
//!
//! Cast: channels 3 (members 4, 7, 8) and 13 (members 7, 8), owned by 1; DM 20 between 7 and
//! 8; user 9 is in none. User 7 is "alice" and types, with a socket on each node. Two gateway
//! nodes, A and B, share one Redis. `TYPING` has no reply of its own: a heartbeat after it
//! (`NativeClient::sync`) proves it was handled, and a marker on the room then proves what
//! did not arrive.

use integration_tests::native::{self, untimed};
use integration_tests::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ROOM: &str = "channel:3";
const OTHER_ROOM: &str = "channel:13";
const TYPIST: &str = "7";
const NAME: &str = "alice";

/// Everyone in channel 3's room: the typist on both nodes, 8 on B, 4 on A.
struct Scene {
    stack: Stack,
    a: Gateway,
    _b: Gateway,
    typist_on_a: NativeClient,
    typist_on_b: NativeClient,
    eight_on_b: NativeClient,
    four_on_a: NativeClient,
}

async fn scene() -> Scene {
    let stack = Stack::start();
    let a = stack.gateway("gw-a", &[]);
    let b = stack.gateway("gw-b", &[]);
    stack.chat.channel("3", "1", &["4", TYPIST, "8"]).await;
    stack.chat.channel("13", "1", &[TYPIST, "8"]).await;
    stack.chat.dm("20", &[TYPIST, "8"]).await;
    let mut typist_on_a = NativeClient::connect_named(&a, TYPIST, NAME).await;
    let mut typist_on_b = NativeClient::connect_named(&b, TYPIST, NAME).await;
    let mut eight_on_b = NativeClient::connect(&b, "8").await;
    let mut four_on_a = NativeClient::connect(&a, "4").await;
    for client in [
        &mut typist_on_a,
        &mut typist_on_b,
        &mut eight_on_b,
        &mut four_on_a,
    ] {
        client.subscribe(ROOM).await;
    }
    Scene {
        stack,
        a,
        _b: b,
        typist_on_a,
        typist_on_b,
        eight_on_b,
        four_on_a,
    }
}

impl Scene {
    /// Proves no socket got anything more (in particular from channel 3).
    async fn assert_nothing_more(&mut self, why: &str) {
        let marker = self.stack.publish_marker(ROOM, why);
        for client in [
            &mut self.typist_on_a,
            &mut self.typist_on_b,
            &mut self.eight_on_b,
            &mut self.four_on_a,
        ] {
            let frames = client.recv_until(&marker).await;
            assert!(frames.is_empty(), "{why}: expected nothing, got {frames:?}");
        }
    }

    /// Both other members received `frame`.
    async fn others_receive(&mut self, frame: &Value) {
        for client in [&mut self.eight_on_b, &mut self.four_on_a] {
            assert_eq!(&untimed(client.recv_json().await), frame);
        }
    }
}

/// The `user_typing` frame of channel `channel` for the typist (timestamp aside).
fn typing_in(channel: &str, username: Value, is_typing: bool) -> Value {
    json!({"type": "user_typing", "room": format!("channel:{channel}"), "data": {
        "channel_id": channel,
        "user_id": TYPIST,
        "username": username,
        "is_typing": is_typing,
    }})
}

fn typing(is_typing: bool) -> Value {
    typing_in("3", json!(NAME), is_typing)
}

fn error(room: Option<&str>, text: &str) -> Value {
    native::error_frame(room, text)
}

/// Sends `frame` and returns what came back before the answer to a heartbeat sent after it.
async fn send(client: &mut NativeClient, frame: Value) -> Vec<Value> {
    client.send_json(frame).await;
    client.sync().await
}

fn typing_op(room: &str) -> Value {
    json!({"op": "TYPING", "room": room})
}

#[tokio::test]
async fn typing_reaches_the_other_subscribers_on_both_nodes_and_not_the_typist() {
    let mut s = scene().await;
    let answer = send(&mut s.typist_on_a, typing_op(ROOM)).await;
    assert!(answer.is_empty(), "the typist got {answer:?}");
    s.others_receive(&typing(true)).await;
    s.assert_nothing_more("no echo to the typist's sockets")
        .await;

    // Stopping, from the other node, with the arguments inside `data`.
    let stop = json!({"op": "TYPING", "data": {"room": ROOM, "is_typing": false}});
    let answer = send(&mut s.typist_on_b, stop).await;
    assert!(answer.is_empty(), "the typist got {answer:?}");
    s.others_receive(&typing(false)).await;
    s.assert_nothing_more("no echo of the stop").await;
}

#[tokio::test]
async fn a_user_without_a_name_types_with_a_null_username() {
    let mut s = scene().await;
    let answer = send(&mut s.four_on_a, typing_op(ROOM)).await;
    assert!(answer.is_empty(), "{answer:?}");
    let expected = json!({"type": "user_typing", "room": ROOM, "data": {
        "channel_id": "3", "user_id": "4", "username": null, "is_typing": true,
    }});
    for client in [&mut s.typist_on_a, &mut s.typist_on_b, &mut s.eight_on_b] {
        assert_eq!(untimed(client.recv_json().await), expected);
    }
    s.assert_nothing_more("no echo to user 4").await;
}

#[tokio::test]
async fn typing_is_refused_outside_channels_for_non_members_and_on_bad_arguments() {
    let mut s = scene().await;
    let mut outsider = NativeClient::connect(&s.a, "9").await;
    assert_eq!(
        send(&mut outsider, typing_op(ROOM)).await,
        vec![error(Some(ROOM), "forbidden room")],
        "a non-member typing"
    );
    let cases = [
        (
            typing_op("dm:20"),
            error(Some("dm:20"), "typing is for channel rooms"),
        ),
        (
            typing_op("global"),
            error(Some("global"), "typing is for channel rooms"),
        ),
        (
            typing_op("user:7"),
            error(Some("user:7"), "typing is for channel rooms"),
        ),
        (
            typing_op("channel:77"),
            error(Some("channel:77"), "forbidden room"),
        ),
        (
            typing_op("guild:3"),
            error(Some("guild:3"), "forbidden room"),
        ),
        (
            json!({"op": "TYPING", "room": ROOM, "is_typing": "yes"}),
            error(None, "is_typing must be a boolean"),
        ),
        (json!({"op": "TYPING"}), error(None, "invalid payload")),
        (
            json!({"op": "TYPING", "room": 3}),
            error(None, "invalid payload"),
        ),
    ];
    for (frame, expected) in cases {
        assert_eq!(
            send(&mut s.typist_on_a, frame.clone()).await,
            vec![expected],
            "{frame}"
        );
    }
    s.assert_nothing_more("refused typing").await;
    outsider.heartbeat().await;
    // The refusals used up none of the typist's allowance in channel 3.
    for _ in 0..3 {
        assert_eq!(
            send(&mut s.typist_on_a, typing_op(ROOM)).await,
            Vec::<Value>::new()
        );
        s.others_receive(&typing(true)).await;
    }
}

#[tokio::test]
async fn typing_is_rate_limited_per_user_and_room() {
    let mut s = scene().await;
    s.eight_on_b.subscribe(OTHER_ROOM).await;

    // A burst of 3 passes, the 4th is refused.
    for _ in 0..3 {
        assert_eq!(
            send(&mut s.typist_on_a, typing_op(ROOM)).await,
            Vec::<Value>::new()
        );
        s.others_receive(&typing(true)).await;
    }
    assert_eq!(
        send(&mut s.typist_on_a, typing_op(ROOM)).await,
        vec![error(Some(ROOM), "typing rate limited")]
    );
    s.assert_nothing_more("the refused 4th").await;

    // Another room has its own allowance, and so has another user in the same room.
    assert_eq!(
        send(&mut s.typist_on_a, typing_op(OTHER_ROOM)).await,
        Vec::<Value>::new()
    );
    assert_eq!(
        untimed(s.eight_on_b.recv_json().await),
        typing_in("13", json!(NAME), true)
    );
    assert_eq!(
        send(&mut s.four_on_a, typing_op(ROOM)).await,
        Vec::<Value>::new()
    );
    assert_eq!(
        untimed(s.eight_on_b.recv_json().await)["data"]["user_id"],
        "4"
    );
    let marker = s.stack.publish_marker(ROOM, "others");
    for client in [&mut s.typist_on_a, &mut s.typist_on_b] {
        let frames: Vec<Value> = client.recv_until(&marker).await;
        assert!(
            frames.len() == 1 && frames[0]["data"]["user_id"] == "4",
            "{frames:?}"
        );
    }
    for client in [&mut s.eight_on_b, &mut s.four_on_a] {
        let frames = client.recv_until(&marker).await;
        assert!(frames.is_empty(), "{frames:?}");
    }

    // The allowance comes back (one every 2 s): retried until accepted, within 5 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = send(&mut s.typist_on_a, typing_op(ROOM)).await;
        if answer.is_empty() {
            break;
        }
        assert_eq!(answer, vec![error(Some(ROOM), "typing rate limited")]);
        assert!(Instant::now() < deadline, "typing still refused after 5 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(untimed(s.four_on_a.recv_json().await), typing(true));
}

#[tokio::test]
async fn the_dispatcher_typing_endpoint_reaches_subscribers_and_not_the_typist() {
    let mut s = scene().await;
    let path = "/api/v1/channels/3/typing";
    let as_alice = Api::new(&s.stack.dispatcher.base_url()).bearer(&token_named(TYPIST, NAME));

    let (status, body) = as_alice.post(path, None).await;
    assert_eq!(status, 204, "{body}");
    s.others_receive(&typing(true)).await;
    s.assert_nothing_more("no echo of the endpoint's event")
        .await;

    let (status, body) = as_alice.post(path, Some(json!({"is_typing": false}))).await;
    assert_eq!(status, 204, "{body}");
    s.others_receive(&typing(false)).await;

    // A backend, naming the user.
    let (status, body) = s
        .stack
        .chat
        .service()
        .post(path, Some(json!({"user_id": TYPIST})))
        .await;
    assert_eq!(status, 204, "{body}");
    for client in [&mut s.eight_on_b, &mut s.four_on_a] {
        let frame = untimed(client.recv_json().await);
        assert_eq!(frame["type"], "user_typing", "{frame}");
        assert_eq!(frame["room"], ROOM, "{frame}");
        assert_eq!(frame["data"]["user_id"], TYPIST, "{frame}");
        assert_eq!(frame["data"]["channel_id"], "3", "{frame}");
        assert_eq!(frame["data"]["is_typing"], true, "{frame}");
    }
    s.assert_nothing_more("no echo of the backend's event")
        .await;

    // A non-member is refused and nothing is published.
    let (status, body) = s.stack.chat.as_user("9").post(path, None).await;
    assert_eq!(status, 403, "{body}");
    s.assert_nothing_more("the refused endpoint call").await;
}
