//! The native dialect's client ops (docs/protocol.md "Client ops", "Bad input"): SUBSCRIBE
//! and who may read which room, UNSUBSCRIBE, HEARTBEAT, the `type` alias, and every kind of
//! bad frame answered with an ERROR while the socket stays open.

use integration_tests::*;
use serde_json::{Value, json};

/// Channel 42: owner 1, member 7. User 8 is in no channel.
const CHANNEL: &str = "42";
const ROOM: &str = "channel:42";
const OWNER: &str = "1";
const MEMBER: &str = "7";
const OUTSIDER: &str = "8";

/// Redis, a dispatcher and one gateway node, with channel 42 (owner 1, member 7).
async fn setup() -> (Stack, Gateway) {
    let stack = Stack::start();
    let gateway = stack.gateway("gw-ops", &[]);
    stack.chat.channel(CHANNEL, OWNER, &[MEMBER]).await;
    (stack, gateway)
}

fn forbidden(room: &str) -> Value {
    json!({"type": "ERROR", "room": room, "data": "forbidden room"})
}

fn error(text: &str) -> Value {
    json!({"type": "ERROR", "data": text})
}

#[tokio::test]
async fn a_member_subscribes_to_the_channel_and_receives_its_messages() {
    let (stack, gateway) = setup().await;
    let mut member = NativeClient::connect(&gateway, MEMBER).await;
    member.subscribe(ROOM).await;

    stack.chat.post(CHANNEL, OWNER, "hello").await;
    let event = member.recv_json().await;
    assert_eq!(event["type"], "MESSAGE_CREATE", "{event}");
    assert_eq!(event["room"], ROOM);
    assert_eq!(event["data"]["content"], "hello");
}

#[tokio::test]
async fn subscribing_to_a_channel_twice_is_answered_subscribed_and_delivers_once() {
    let (stack, gateway) = setup().await;
    let mut member = NativeClient::connect(&gateway, MEMBER).await;
    member.subscribe(ROOM).await;
    member.subscribe(ROOM).await;

    stack.chat.post(CHANNEL, OWNER, "once").await;
    assert_eq!(member.recv_json().await["data"]["content"], "once");
    let marker = stack.publish_marker("user:7", "after the message");
    assert_eq!(member.recv_json().await, marker, "the message came twice");
}

#[tokio::test]
async fn an_event_published_right_after_subscribed_arrives() {
    // SUBSCRIBED is sent once the node's Redis subscription is live. Each channel here is the
    // node's first subscriber of the room, so an early SUBSCRIBED would lose the marker.
    let (stack, gateway) = setup().await;
    let channels: Vec<String> = (100..150).map(|n| n.to_string()).collect();
    for channel in &channels {
        stack.chat.channel(channel, MEMBER, &[]).await;
    }
    let mut member = NativeClient::connect(&gateway, MEMBER).await;
    let mut redis = Publisher::connect(&stack.redis);
    for channel in &channels {
        let room = format!("channel:{channel}");
        member.subscribe(&room).await;
        let label = json!({"label": "right after SUBSCRIBED"});
        let receivers = redis.publish(&room, &json!({"type": "MARKER", "data": label}));
        assert_eq!(receivers, 1, "the node is not subscribed to {room} yet");
        let marker = member.recv_json().await;
        assert_eq!(
            marker,
            json!({"type": "MARKER", "room": room, "data": label})
        );
    }
}

#[tokio::test]
async fn a_non_member_is_refused_the_channel() {
    let (_stack, gateway) = setup().await;
    let mut outsider = NativeClient::connect(&gateway, OUTSIDER).await;
    assert_eq!(outsider.try_subscribe(ROOM).await, forbidden(ROOM));
}

#[tokio::test]
async fn a_refused_subscription_delivers_nothing_from_the_room() {
    let (stack, gateway) = setup().await;
    let mut outsider = NativeClient::connect(&gateway, OUTSIDER).await;
    assert_eq!(outsider.try_subscribe(ROOM).await, forbidden(ROOM));
    // A member on the same node keeps the node subscribed to the room.
    let mut member = NativeClient::connect(&gateway, MEMBER).await;
    member.subscribe(ROOM).await;

    stack.chat.post(CHANNEL, OWNER, "members only").await;
    assert_eq!(member.recv_json().await["data"]["content"], "members only");
    let marker = stack.publish_marker("user:8", "after the message");
    assert_eq!(
        outsider.recv_json().await,
        marker,
        "the outsider got the message"
    );
}

#[tokio::test]
async fn a_channel_that_does_not_exist_is_forbidden() {
    let (_stack, gateway) = setup().await;
    let mut member = NativeClient::connect(&gateway, MEMBER).await;
    assert_eq!(
        member.try_subscribe("channel:404").await,
        forbidden("channel:404")
    );
}

#[tokio::test]
async fn a_banned_user_is_refused_the_channel() {
    let (stack, gateway) = setup().await;
    stack.chat.ban(CHANNEL, OWNER, MEMBER).await;
    let mut banned = NativeClient::connect(&gateway, MEMBER).await;
    assert_eq!(banned.try_subscribe(ROOM).await, forbidden(ROOM));
}

#[tokio::test]
async fn a_dm_participant_may_subscribe_and_others_may_not() {
    let (stack, gateway) = setup().await;
    stack.chat.dm("5", &[MEMBER, OWNER]).await;

    let mut participant = NativeClient::connect(&gateway, MEMBER).await;
    participant.subscribe("dm:5").await;
    let mut outsider = NativeClient::connect(&gateway, OUTSIDER).await;
    assert_eq!(outsider.try_subscribe("dm:5").await, forbidden("dm:5"));
}

#[tokio::test]
async fn another_users_room_is_forbidden() {
    let (_stack, gateway) = setup().await;
    let mut client = NativeClient::connect(&gateway, MEMBER).await;
    assert_eq!(client.try_subscribe("user:8").await, forbidden("user:8"));
}

#[tokio::test]
async fn the_own_user_room_and_global_may_be_subscribed() {
    let (_stack, gateway) = setup().await;
    let mut client = NativeClient::connect(&gateway, MEMBER).await;
    client.subscribe("user:7").await;
    client.subscribe("global").await;
}

#[tokio::test]
async fn invalid_room_names_are_forbidden() {
    let (_stack, gateway) = setup().await;
    let mut client = NativeClient::connect(&gateway, MEMBER).await;
    let too_long = format!("channel:{}", "a".repeat(65));
    for room in [
        "guild:1",
        "channel:a b",
        "channel:",
        "channel",
        "",
        "global:1",
        &too_long,
    ] {
        assert_eq!(
            client.try_subscribe(room).await,
            forbidden(room),
            "{room:?}"
        );
    }
    client.heartbeat().await;
}

#[tokio::test]
async fn a_presence_room_is_not_a_native_room() {
    // docs/protocol.md lists channel:, dm:, user: and global; "anything else (an unknown
    // room kind ...) is answered ERROR forbidden room".
    let (_stack, gateway) = setup().await;
    let mut client = NativeClient::connect(&gateway, MEMBER).await;
    assert_eq!(
        client.try_subscribe("presence:8").await,
        forbidden("presence:8")
    );
}

#[tokio::test]
async fn unsubscribe_is_answered_and_the_room_events_stop() {
    let (stack, gateway) = setup().await;
    let mut member = NativeClient::connect(&gateway, MEMBER).await;
    member.subscribe(ROOM).await;
    stack.chat.post(CHANNEL, OWNER, "before").await;
    assert_eq!(member.recv_json().await["data"]["content"], "before");

    member.unsubscribe(ROOM).await;
    stack.chat.post(CHANNEL, OWNER, "after").await;
    let marker = stack.publish_marker("user:7", "after the message");
    assert_eq!(
        member.recv_json().await,
        marker,
        "a message came after UNSUBSCRIBED"
    );
}

#[tokio::test]
async fn unsubscribe_keeps_other_sockets_of_the_node_in_the_room() {
    let (stack, gateway) = setup().await;
    let mut leaving = NativeClient::connect(&gateway, MEMBER).await;
    let mut staying = NativeClient::connect(&gateway, OWNER).await;
    leaving.subscribe(ROOM).await;
    staying.subscribe(ROOM).await;

    leaving.unsubscribe(ROOM).await;
    stack.chat.post(CHANNEL, MEMBER, "still here").await;
    assert_eq!(staying.recv_json().await["data"]["content"], "still here");
}

#[tokio::test]
async fn unsubscribe_from_a_room_the_socket_is_not_in_is_answered_unsubscribed() {
    let (_stack, gateway) = setup().await;
    let mut client = NativeClient::connect(&gateway, MEMBER).await;
    client.unsubscribe(ROOM).await;
    client.unsubscribe("guild:1").await;
}

#[tokio::test]
async fn heartbeat_is_acknowledged() {
    let (_stack, gateway) = setup().await;
    let mut client = NativeClient::connect(&gateway, MEMBER).await;
    client.send_json(json!({"op": "HEARTBEAT"})).await;
    assert_eq!(client.recv_json().await, json!({"type": "HEARTBEAT_ACK"}));
}

#[tokio::test]
async fn type_is_an_alias_of_op() {
    let (_stack, gateway) = setup().await;
    let mut client = NativeClient::connect(&gateway, MEMBER).await;
    client.send_json(json!({"type": "HEARTBEAT"})).await;
    assert_eq!(client.recv_json().await, json!({"type": "HEARTBEAT_ACK"}));
    client
        .send_json(json!({"type": "SUBSCRIBE", "room": ROOM}))
        .await;
    assert_subscribed(&client.recv_json().await, ROOM);
    client
        .send_json(json!({"type": "UNSUBSCRIBE", "room": ROOM}))
        .await;
    assert_eq!(
        client.recv_json().await,
        json!({"type": "UNSUBSCRIBED", "room": ROOM})
    );
}

#[tokio::test]
async fn the_room_argument_may_sit_inside_data() {
    let (_stack, gateway) = setup().await;
    let mut client = NativeClient::connect(&gateway, MEMBER).await;
    client
        .send_json(json!({"op": "SUBSCRIBE", "data": {"room": ROOM}}))
        .await;
    assert_subscribed(&client.recv_json().await, ROOM);
}

#[tokio::test]
async fn an_unknown_op_is_an_error_and_the_socket_stays() {
    let (_stack, gateway) = setup().await;
    let mut client = NativeClient::connect(&gateway, MEMBER).await;
    client.send_json(json!({"op": "DANCE"})).await;
    assert_eq!(client.recv_json().await, error("unknown op"));
    client.send_json(json!({"type": "DANCE"})).await;
    assert_eq!(client.recv_json().await, error("unknown op"));
    client.heartbeat().await;
}

#[tokio::test]
async fn unparsable_and_malformed_frames_are_invalid_payload_and_the_socket_stays() {
    let (_stack, gateway) = setup().await;
    let mut client = NativeClient::connect(&gateway, MEMBER).await;
    for bad in [
        "nope",
        "{\"op\":",
        "[]",
        "42",
        "\"HEARTBEAT\"",
        r#"{"room":"global"}"#,
        r#"{"op":5}"#,
        r#"{"op":"SUBSCRIBE"}"#,
        r#"{"op":"SUBSCRIBE","room":7}"#,
        r#"{"op":"IDENTIFY"}"#,
    ] {
        client.send_text(bad).await;
        assert_eq!(client.recv_json().await, error("invalid payload"), "{bad}");
    }
    client.heartbeat().await;
}

#[tokio::test]
async fn a_binary_frame_is_invalid_payload_and_the_socket_stays() {
    let (_stack, gateway) = setup().await;
    let mut client = NativeClient::connect(&gateway, MEMBER).await;
    client.send_binary(br#"{"op":"HEARTBEAT"}"#.to_vec()).await;
    assert_eq!(client.recv_json().await, error("invalid payload"));
    client.heartbeat().await;
}
