//! Voice channels across nodes (issue 4): `VOICE_STATE {room, joined, muted, deafened}` from a
//! member updates the channel's voice state and broadcasts `VOICE_STATE_UPDATE` to the room on
//! every change (join, flags, leave, socket closed, node killed), each user counted once;
//! `VOICE_SIGNAL {room, data[, to_user_id]}` from a user in voice reaches the other members
//! (or only `to_user_id`) on any node, never the sender. Bad input is answered `ERROR`.
//!
//! Cast: voice channels 5 (members 4, 7, 8) and 15 (members 7, 8), text channel 6 (member 7),
//! all owned by 1; user 9 is in none. All-digit ids are JSON numbers in these seed-000
//! frames. Two gateway nodes, A and B, share one Redis. Voice ops have no reply of their own:
//! a heartbeat after them (`NativeClient::sync`) proves they were handled, and a marker on the
//! channel's room then proves what did not arrive.

use integration_tests::native::{self, untimed};
use integration_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

const VOICE: &str = "channel:5";
const OTHER_VOICE: &str = "channel:15";
const TEXT: &str = "channel:6";

/// Redis, a dispatcher, two gateway nodes started with `args`, and the channels.
async fn setup(args: &[&str]) -> (Stack, Gateway, Gateway) {
    let stack = Stack::start();
    let a = stack.gateway("gw-a", args);
    let b = stack.gateway("gw-b", args);
    stack.chat.voice_channel("5", "1", &["4", "7", "8"]).await;
    stack.chat.voice_channel("15", "1", &["7", "8"]).await;
    stack.chat.channel("6", "1", &["7"]).await;
    (stack, a, b)
}

/// `user` connected to `gateway` and subscribed to `rooms`.
async fn member(gateway: &Gateway, user: &str, rooms: &[&str]) -> NativeClient {
    let mut client = NativeClient::connect(gateway, user).await;
    for room in rooms {
        client.subscribe(room).await;
    }
    client
}

/// The VOICE_STATE_UPDATE frame of channel `channel` (timestamp aside), with `members` as
/// (user, muted, deafened) in id order.
fn voice_update(channel: u64, joined: bool, members: &[(u64, bool, bool)]) -> Value {
    let ids: Vec<u64> = members.iter().map(|m| m.0).collect();
    let states: Vec<Value> = members
        .iter()
        .map(|(user, muted, deafened)| json!({"user_id": user, "muted": muted, "deafened": deafened}))
        .collect();
    json!({"type": "VOICE_STATE_UPDATE", "room": format!("channel:{channel}"), "data": {
        "channel_id": channel,
        "joined": joined,
        "member_user_ids": ids,
        "member_states": states,
    }})
}

/// The VOICE_SIGNAL frame of channel 5 from `from` (timestamp aside).
fn signal_frame(from: u64, signal: Value) -> Value {
    json!({"type": "VOICE_SIGNAL", "room": VOICE, "data": {"from_user_id": from, "signal": signal}})
}

fn error(room: Option<&str>, text: &str) -> Value {
    native::error_frame(room, text)
}

async fn next(client: &mut NativeClient) -> Value {
    untimed(client.recv_json().await)
}

/// Sends `frame` and returns what came back before the answer to a heartbeat sent after it.
async fn send(client: &mut NativeClient, frame: Value) -> Vec<Value> {
    client.send_json(frame).await;
    client.sync().await
}

/// Sends VOICE_STATE; `client` is not in the room, so nothing is answered when it succeeds.
async fn voice_state(
    client: &mut NativeClient,
    room: &str,
    joined: bool,
    muted: bool,
    deafened: bool,
) {
    let frame = json!({"op": "VOICE_STATE", "room": room, "joined": joined, "muted": muted, "deafened": deafened});
    let answer = send(client, frame.clone()).await;
    assert!(answer.is_empty(), "{frame} was answered {answer:?}");
}

/// Every frame `client` got before the marker just published on `room`, timestamps aside.
async fn frames_until(client: &mut NativeClient, marker: &Value) -> Vec<Value> {
    client
        .recv_until(marker)
        .await
        .into_iter()
        .map(untimed)
        .collect()
}

/// Proves none of `clients` got anything more from channel 5 (or anything at all).
async fn assert_nothing_more(stack: &Stack, clients: &mut [&mut NativeClient], why: &str) {
    let marker = stack.publish_marker(VOICE, why);
    for client in clients.iter_mut() {
        let frames = frames_until(client, &marker).await;
        assert!(frames.is_empty(), "{why}: expected nothing, got {frames:?}");
    }
}

#[tokio::test]
async fn joining_muting_and_leaving_are_broadcast_to_every_subscriber_on_both_nodes() {
    let (stack, a, b) = setup(&[]).await;
    let mut joiner = member(&a, "7", &[]).await;
    let mut eight_on_b = member(&b, "8", &[VOICE]).await;
    let mut four_on_a = member(&a, "4", &[VOICE]).await;
    let mut own_other_socket = member(&b, "7", &[VOICE]).await;

    let steps = [
        (
            (true, false, false),
            voice_update(5, true, &[(7, false, false)]),
        ),
        (
            (true, true, false),
            voice_update(5, true, &[(7, true, false)]),
        ),
        (
            (true, true, true),
            voice_update(5, true, &[(7, true, true)]),
        ),
        (
            (true, false, true),
            voice_update(5, true, &[(7, false, true)]),
        ),
        ((false, false, false), voice_update(5, false, &[])),
    ];
    for ((joined, muted, deafened), expected) in steps {
        voice_state(&mut joiner, VOICE, joined, muted, deafened).await;
        for client in [&mut eight_on_b, &mut four_on_a, &mut own_other_socket] {
            assert_eq!(
                next(client).await,
                expected,
                "joined {joined} muted {muted} deafened {deafened}"
            );
        }
    }
    // Leaving again changes nothing and is not refused.
    voice_state(&mut joiner, VOICE, false, false, false).await;
    assert_nothing_more(
        &stack,
        &mut [&mut eight_on_b, &mut four_on_a, &mut own_other_socket],
        "leaving twice",
    )
    .await;
}

#[tokio::test]
async fn unchanged_flags_publish_nothing_and_arguments_may_sit_in_data() {
    let (stack, a, b) = setup(&[]).await;
    let mut joiner = member(&a, "7", &[]).await;
    let mut watcher = member(&b, "8", &[VOICE]).await;

    // muted and deafened default to false.
    let answer = send(
        &mut joiner,
        json!({"op": "VOICE_STATE", "data": {"room": VOICE, "joined": true}}),
    )
    .await;
    assert!(answer.is_empty(), "{answer:?}");
    assert_eq!(
        next(&mut watcher).await,
        voice_update(5, true, &[(7, false, false)])
    );
    voice_state(&mut joiner, VOICE, true, false, false).await;
    assert_nothing_more(&stack, &mut [&mut watcher], "the same flags again").await;
}

#[tokio::test]
async fn closing_the_socket_leaves_voice() {
    let (_stack, a, b) = setup(&[]).await;
    let mut seven = member(&a, "7", &[]).await;
    let mut eight = member(&b, "8", &[]).await;
    let mut watcher = member(&a, "4", &[VOICE]).await;

    voice_state(&mut seven, VOICE, true, false, false).await;
    assert_eq!(
        next(&mut watcher).await,
        voice_update(5, true, &[(7, false, false)])
    );
    voice_state(&mut eight, VOICE, true, true, false).await;
    assert_eq!(
        next(&mut watcher).await,
        voice_update(5, true, &[(7, false, false), (8, true, false)])
    );

    seven.into_inner().close().await;
    assert_eq!(
        next(&mut watcher).await,
        voice_update(5, false, &[(8, true, false)])
    );
    eight.into_inner().close().await;
    assert_eq!(next(&mut watcher).await, voice_update(5, false, &[]));
}

#[tokio::test]
async fn a_user_in_voice_on_two_sockets_is_counted_once() {
    let (stack, a, b) = setup(&[]).await;
    let mut first = member(&a, "7", &[]).await;
    let mut second = member(&b, "7", &[]).await;
    let mut watcher = member(&a, "8", &[VOICE]).await;

    voice_state(&mut first, VOICE, true, false, false).await;
    assert_eq!(
        next(&mut watcher).await,
        voice_update(5, true, &[(7, false, false)])
    );
    // The second socket joins with the same flags: the channel's state is the same.
    voice_state(&mut second, VOICE, true, false, false).await;
    assert_nothing_more(&stack, &mut [&mut watcher], "second socket, same flags").await;
    // Its flags are the user's latest.
    voice_state(&mut second, VOICE, true, true, false).await;
    assert_eq!(
        next(&mut watcher).await,
        voice_update(5, true, &[(7, true, false)])
    );
    // The first socket leaves: the user is still in voice through the second.
    voice_state(&mut first, VOICE, false, false, false).await;
    assert_nothing_more(&stack, &mut [&mut watcher], "one socket left, one still in").await;
    // The second closes: the user is out.
    second.into_inner().close().await;
    assert_eq!(next(&mut watcher).await, voice_update(5, false, &[]));
}

#[tokio::test]
async fn joining_another_voice_channel_leaves_the_first() {
    let (_stack, a, b) = setup(&[]).await;
    let mut seven = member(&a, "7", &[]).await;
    let mut watcher = member(&b, "8", &[VOICE, OTHER_VOICE]).await;

    voice_state(&mut seven, VOICE, true, false, false).await;
    assert_eq!(
        next(&mut watcher).await,
        voice_update(5, true, &[(7, false, false)])
    );
    voice_state(&mut seven, OTHER_VOICE, true, false, false).await;
    assert_eq!(next(&mut watcher).await, voice_update(5, false, &[]));
    assert_eq!(
        next(&mut watcher).await,
        voice_update(15, true, &[(7, false, false)])
    );
}

#[tokio::test]
async fn voice_state_is_refused_outside_voice_channels_for_outsiders_and_on_bad_arguments() {
    let (stack, a, b) = setup(&[]).await;
    stack.chat.dm("20", &["7", "8"]).await;
    let mut seven = member(&a, "7", &[]).await;
    let mut outsider = member(&a, "9", &[]).await;
    let mut watcher = member(&b, "8", &[VOICE]).await;

    let joined = |room: &str| json!({"op": "VOICE_STATE", "room": room, "joined": true});
    let cases = [
        (joined(TEXT), error(Some(TEXT), "not a voice channel")),
        (joined("dm:20"), error(Some("dm:20"), "not a voice channel")),
        (
            joined("global"),
            error(Some("global"), "not a voice channel"),
        ),
        (
            joined("channel:77"),
            error(Some("channel:77"), "forbidden room"),
        ),
        (joined("guild:5"), error(Some("guild:5"), "forbidden room")),
        (
            json!({"op": "VOICE_STATE", "room": VOICE}),
            error(None, "joined must be a boolean"),
        ),
        (
            json!({"op": "VOICE_STATE", "room": VOICE, "joined": "yes"}),
            error(None, "joined must be a boolean"),
        ),
        (
            json!({"op": "VOICE_STATE", "room": VOICE, "joined": true, "muted": "no"}),
            error(None, "muted must be a boolean"),
        ),
        (
            json!({"op": "VOICE_STATE", "room": VOICE, "joined": true, "deafened": 1}),
            error(None, "deafened must be a boolean"),
        ),
        (
            json!({"op": "VOICE_STATE", "joined": true}),
            error(None, "invalid payload"),
        ),
    ];
    for (frame, expected) in cases {
        assert_eq!(
            send(&mut seven, frame.clone()).await,
            vec![expected],
            "{frame}"
        );
    }
    assert_eq!(
        send(&mut outsider, joined(VOICE)).await,
        vec![error(Some(VOICE), "forbidden room")],
        "a non-member joining"
    );
    assert_nothing_more(&stack, &mut [&mut watcher], "refused joins").await;
    // Both sockets are still open, and a good join still works.
    outsider.heartbeat().await;
    voice_state(&mut seven, VOICE, true, false, false).await;
    assert_eq!(
        next(&mut watcher).await,
        voice_update(5, true, &[(7, false, false)])
    );
}

/// Users 7 (node A), 8 (node B) and 4 (node A) in channel 5's room and in voice; user 7's
/// second socket (node B) in the room but not in voice. The join updates are read.
struct Call {
    stack: Stack,
    _a: Gateway,
    _b: Gateway,
    seven: NativeClient,
    eight: NativeClient,
    four: NativeClient,
    seven_listening: NativeClient,
}

async fn call() -> Call {
    let (stack, a, b) = setup(&[]).await;
    let mut seven = member(&a, "7", &[VOICE]).await;
    let mut eight = member(&b, "8", &[VOICE]).await;
    let mut four = member(&a, "4", &[VOICE]).await;
    let mut seven_listening = member(&b, "7", &[VOICE]).await;
    for client in [&mut seven, &mut eight, &mut four] {
        let frame = json!({"op": "VOICE_STATE", "room": VOICE, "joined": true});
        for answer in send(client, frame).await {
            assert_eq!(answer["type"], "VOICE_STATE_UPDATE", "{answer}");
        }
    }
    let marker = stack.publish_marker(VOICE, "in call");
    for client in [&mut seven, &mut eight, &mut four, &mut seven_listening] {
        for frame in client.recv_until(&marker).await {
            assert_eq!(frame["type"], "VOICE_STATE_UPDATE", "{frame}");
        }
    }
    Call {
        stack,
        _a: a,
        _b: b,
        seven,
        eight,
        four,
        seven_listening,
    }
}

#[tokio::test]
async fn a_broadcast_signal_reaches_the_others_on_both_nodes_and_not_the_sender() {
    let mut call = call().await;
    let offer = json!({"type": "offer", "sdp": "x"});
    let answer = send(
        &mut call.seven,
        json!({"op": "VOICE_SIGNAL", "room": VOICE, "data": offer}),
    )
    .await;
    assert!(answer.is_empty(), "the sender got {answer:?}");
    for client in [&mut call.eight, &mut call.four] {
        assert_eq!(next(client).await, signal_frame(7, offer.clone()));
    }
    // Not to any socket of the sender.
    let marker = call.stack.publish_marker(VOICE, "after the offer");
    for client in [
        &mut call.seven,
        &mut call.seven_listening,
        &mut call.eight,
        &mut call.four,
    ] {
        let frames = frames_until(client, &marker).await;
        assert!(frames.is_empty(), "after the offer: {frames:?}");
    }

    // And back, from the other node.
    let candidate = json!({"type": "candidate", "candidate": "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host"});
    send(
        &mut call.eight,
        json!({"op": "VOICE_SIGNAL", "room": VOICE, "data": candidate}),
    )
    .await;
    for client in [&mut call.seven, &mut call.four] {
        assert_eq!(next(client).await, signal_frame(8, candidate.clone()));
    }
}

#[tokio::test]
async fn a_targeted_signal_reaches_only_that_user() {
    let mut call = call().await;
    let answer_sdp = json!({"type": "answer", "sdp": "y"});
    let answer = send(
        &mut call.eight,
        json!({"op": "VOICE_SIGNAL", "room": VOICE, "to_user_id": "7", "data": answer_sdp}),
    )
    .await;
    assert!(answer.is_empty(), "the sender got {answer:?}");
    assert_eq!(
        next(&mut call.seven).await,
        signal_frame(8, answer_sdp.clone())
    );
    let marker = call.stack.publish_marker(VOICE, "after the answer");
    for client in [&mut call.eight, &mut call.four, &mut call.seven] {
        let frames = frames_until(client, &marker).await;
        assert!(frames.is_empty(), "after the targeted answer: {frames:?}");
    }
    // Targeting is per user: user 7's other socket in the room gets it too.
    assert_eq!(
        frames_until(&mut call.seven_listening, &marker).await,
        vec![signal_frame(8, answer_sdp)]
    );

    // A numeric id, across nodes the other way.
    let offer = json!({"type": "offer", "sdp": "z"});
    send(
        &mut call.seven,
        json!({"op": "VOICE_SIGNAL", "room": VOICE, "to_user_id": 4, "data": offer}),
    )
    .await;
    assert_eq!(next(&mut call.four).await, signal_frame(7, offer));
    let marker = call.stack.publish_marker(VOICE, "after the offer to 4");
    for client in [&mut call.eight, &mut call.seven, &mut call.seven_listening] {
        let frames = frames_until(client, &marker).await;
        assert!(frames.is_empty(), "after the offer to 4: {frames:?}");
    }
}

#[tokio::test]
async fn signals_are_refused_from_users_not_in_voice_and_on_bad_input() {
    let (stack, a, b) = setup(&[]).await;
    let mut seven = member(&a, "7", &[VOICE]).await;
    let mut eight = member(&b, "8", &[VOICE]).await;
    let mut outsider = member(&b, "9", &[]).await;
    let signal = |room: &str| json!({"op": "VOICE_SIGNAL", "room": room, "data": {"type": "offer", "sdp": "x"}});

    // A member who has not joined voice.
    assert_eq!(
        send(&mut eight, signal(VOICE)).await,
        vec![error(Some(VOICE), "join the voice channel first")]
    );
    // A non-member.
    let refused = send(&mut outsider, signal(VOICE)).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0] == error(Some(VOICE), "join the voice channel first")
            || refused[0] == error(Some(VOICE), "forbidden room"),
        "a non-member's signal: {refused:?}"
    );

    let answers = send(
        &mut seven,
        json!({"op": "VOICE_STATE", "room": VOICE, "joined": true}),
    )
    .await;
    assert!(
        answers.iter().all(|f| f["type"] == "VOICE_STATE_UPDATE"),
        "{answers:?}"
    );
    let marker = stack.publish_marker(VOICE, "joined");
    for client in [&mut seven, &mut eight] {
        let frames = frames_until(client, &marker).await;
        assert!(
            frames.iter().all(|f| f["type"] == "VOICE_STATE_UPDATE"),
            "{frames:?}"
        );
    }

    // Sizes: 8 KiB of serialized signal is the most.
    let sized = |n: usize| json!({"sdp": "x".repeat(n - r#"{"sdp":""}"#.len())});
    let too_large = json!({"op": "VOICE_SIGNAL", "room": VOICE, "data": sized(8 * 1024 + 1)});
    assert_eq!(
        send(&mut seven, too_large).await,
        vec![error(Some(VOICE), "signal too large")]
    );
    let largest = json!({"op": "VOICE_SIGNAL", "room": VOICE, "data": sized(8 * 1024)});
    assert_eq!(send(&mut seven, largest).await, Vec::<Value>::new());
    assert_eq!(next(&mut eight).await, signal_frame(7, sized(8 * 1024)));

    let cases = [
        (
            json!({"op": "VOICE_SIGNAL", "room": VOICE}),
            error(None, "data must carry the signal"),
        ),
        (
            json!({"op": "VOICE_SIGNAL", "room": VOICE, "data": null}),
            error(None, "data must carry the signal"),
        ),
        (
            json!({"op": "VOICE_SIGNAL", "room": VOICE, "data": {}, "to_user_id": "a b"}),
            error(None, "to_user_id must be a user id"),
        ),
        (
            json!({"op": "VOICE_SIGNAL", "data": {}}),
            error(None, "invalid payload"),
        ),
        (signal("guild:5"), error(Some("guild:5"), "forbidden room")),
    ];
    for (frame, expected) in cases {
        assert_eq!(
            send(&mut seven, frame.clone()).await,
            vec![expected],
            "{frame}"
        );
    }
    // A channel where the sender is not in voice (here a text channel).
    let refused = send(&mut seven, signal(TEXT)).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["type"], "ERROR", "{refused:?}");
    assert_eq!(refused[0]["room"], TEXT, "{refused:?}");

    // After leaving, the sender is refused again.
    send(
        &mut seven,
        json!({"op": "VOICE_STATE", "room": VOICE, "joined": false}),
    )
    .await;
    assert_eq!(next(&mut eight).await, voice_update(5, false, &[]));
    let refused: Vec<Value> = send(&mut seven, signal(VOICE))
        .await
        .into_iter()
        .map(untimed)
        .filter(|f| f["type"] != "VOICE_STATE_UPDATE")
        .collect();
    assert_eq!(
        refused,
        vec![error(Some(VOICE), "join the voice channel first")]
    );

    // No refused signal reached anyone.
    let marker = stack.publish_marker(VOICE, "end");
    for client in [&mut eight, &mut seven] {
        let frames = frames_until(client, &marker).await;
        assert!(
            frames.iter().all(|f| f["type"] != "VOICE_SIGNAL"),
            "a refused signal was delivered: {frames:?}"
        );
    }
    outsider.heartbeat().await;
}

#[tokio::test]
async fn a_killed_node_takes_its_users_out_of_voice() {
    let (_stack, mut a, b) = setup(&["--live-ttl-ms", "1500"]).await;
    let mut seven = member(&a, "7", &[]).await;
    let mut watcher = member(&b, "8", &[VOICE]).await;
    voice_state(&mut seven, VOICE, true, true, false).await;
    assert_eq!(
        next(&mut watcher).await,
        voice_update(5, true, &[(7, true, false)])
    );

    a.kill();
    // Leases of 1.5 s, renewed and swept every 0.5 s: well within 10 s.
    let frame = watcher.recv_json_within(Duration::from_secs(10)).await;
    assert_eq!(untimed(frame), voice_update(5, false, &[]));
}

#[tokio::test]
async fn a_killed_node_takes_its_users_out_of_voice_while_others_stay() {
    let (stack, mut a, b) = setup(&["--live-ttl-ms", "1500"]).await;
    let mut seven = member(&a, "7", &[]).await;
    let mut eight = member(&b, "8", &[]).await;
    let mut watcher = member(&b, "4", &[VOICE]).await;
    voice_state(&mut seven, VOICE, true, false, false).await;
    voice_state(&mut eight, VOICE, true, false, true).await;
    assert_eq!(
        next(&mut watcher).await,
        voice_update(5, true, &[(7, false, false)])
    );
    assert_eq!(
        next(&mut watcher).await,
        voice_update(5, true, &[(7, false, false), (8, false, true)])
    );

    a.kill();
    let frame = watcher.recv_json_within(Duration::from_secs(10)).await;
    assert_eq!(untimed(frame), voice_update(5, false, &[(8, false, true)]));
    // Once, and 8 is still in voice: a signal from 8 is relayed.
    assert_nothing_more(&stack, &mut [&mut watcher], "one update for the dead node").await;
    eight.subscribe(VOICE).await;
    let offer = json!({"type": "offer"});
    assert_eq!(
        send(
            &mut eight,
            json!({"op": "VOICE_SIGNAL", "room": VOICE, "data": offer})
        )
        .await,
        Vec::<Value>::new()
    );
    assert_eq!(next(&mut watcher).await, signal_frame(8, offer));
}

#[tokio::test]
async fn a_banned_user_can_no_longer_signal_the_voice_channel() {
    let (stack, a, b) = setup(&[]).await;
    let mut seven = member(&a, "7", &[]).await;
    let mut eight = member(&b, "8", &[VOICE]).await;
    voice_state(&mut seven, VOICE, true, false, false).await;
    assert_eq!(
        next(&mut eight).await,
        voice_update(5, true, &[(7, false, false)])
    );

    stack.chat.ban("5", "1", "7").await;
    assert_eq!(eight.recv_type("user_banned").await["data"]["user_id"], "7");
    // 7 is no longer a member: its signals are refused and reach nobody.
    let answer: Vec<Value> = send(
        &mut seven,
        json!({"op": "VOICE_SIGNAL", "room": VOICE, "data": {"type": "offer", "sdp": "x"}}),
    )
    .await
    .into_iter()
    .filter(|f| f["room"] != "user:7")
    .collect();
    let marker = stack.publish_marker(VOICE, "after the banned user's signal");
    let delivered: Vec<Value> = frames_until(&mut eight, &marker)
        .await
        .into_iter()
        .filter(|f| f["type"] == "VOICE_SIGNAL")
        .collect();
    assert!(
        delivered.is_empty(),
        "a banned user's signal reached a member: {delivered:?}"
    );
    assert!(
        answer == vec![error(Some(VOICE), "forbidden room")]
            || answer == vec![error(Some(VOICE), "join the voice channel first")],
        "a banned user's signal was not refused: {answer:?}"
    );
}

#[tokio::test]
async fn a_banned_user_is_taken_out_of_voice() {
    let (stack, a, b) = setup(&[]).await;
    let mut seven = member(&a, "7", &[]).await;
    let mut eight = member(&b, "8", &[]).await;
    let mut watcher = member(&b, "4", &[VOICE]).await;
    voice_state(&mut seven, VOICE, true, false, false).await;
    voice_state(&mut eight, VOICE, true, false, false).await;
    assert_eq!(
        next(&mut watcher).await,
        voice_update(5, true, &[(7, false, false)])
    );
    assert_eq!(
        next(&mut watcher).await,
        voice_update(5, true, &[(7, false, false), (8, false, false)])
    );

    stack.chat.ban("5", "1", "7").await;
    assert_eq!(
        watcher.recv_type("user_banned").await["data"]["user_id"],
        "7"
    );
    // The channel's voice state no longer lists 7 (its socket is still open).
    let update = untimed(watcher.recv_type("VOICE_STATE_UPDATE").await);
    assert_eq!(update, voice_update(5, false, &[(8, false, false)]));
    // 7 hears of the ban on its own room, and its socket stays open.
    assert_eq!(seven.recv_type("user_banned").await["room"], "user:7");
    seven.heartbeat().await;
}
