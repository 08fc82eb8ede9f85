//! Moderation takes sockets out of rooms on every node (docs/protocol.md "Access is
//! re-checked after the join"): a ban, a kick, a member leaving or the channel's deletion,
//! published through the dispatcher, cuts the room on nodes the dispatcher never talks to.
//!
//! Cast: channel 42 owned by moderator 1, with members 7 (the user moderated) and 8 (a
//! bystander). Two gateway nodes, A and B, share one Redis.

use integration_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

const CHANNEL: &str = "42";
const ROOM: &str = "channel:42";
const MODERATOR: &str = "1";
const USER: &str = "7";
const BYSTANDER: &str = "8";

/// Everyone connected and subscribed to channel 42: the moderated user on both nodes, the
/// bystander on B (the user's node), the moderator on A.
struct Scene {
    stack: Stack,
    _a: Gateway,
    _b: Gateway,
    user_on_a: NativeClient,
    user_on_b: NativeClient,
    bystander_on_b: NativeClient,
    moderator_on_a: NativeClient,
}

async fn scene() -> Scene {
    let stack = Stack::start();
    let a = stack.gateway("gw-a", &[]);
    let b = stack.gateway("gw-b", &[]);
    stack
        .chat
        .channel(CHANNEL, MODERATOR, &[USER, BYSTANDER])
        .await;
    let mut user_on_a = NativeClient::connect(&a, USER).await;
    let mut user_on_b = NativeClient::connect(&b, USER).await;
    let mut bystander_on_b = NativeClient::connect(&b, BYSTANDER).await;
    let mut moderator_on_a = NativeClient::connect(&a, MODERATOR).await;
    for client in [
        &mut user_on_a,
        &mut user_on_b,
        &mut bystander_on_b,
        &mut moderator_on_a,
    ] {
        client.subscribe(ROOM).await;
    }
    Scene {
        stack,
        _a: a,
        _b: b,
        user_on_a,
        user_on_b,
        bystander_on_b,
        moderator_on_a,
    }
}

impl Scene {
    /// The moderator posts in the channel; the bystander and the moderator (one on each node)
    /// receive it.
    async fn post_and_see_it_delivered(&mut self, content: &str) {
        self.stack.chat.post(CHANNEL, MODERATOR, content).await;
        for client in [&mut self.bystander_on_b, &mut self.moderator_on_a] {
            let frame = client.recv_type("MESSAGE_CREATE").await;
            assert_eq!(frame["data"]["content"], content);
        }
    }

    /// What each of the moderated user's sockets received, up to a marker published on
    /// `user:7` after everything else.
    async fn user_frames(&mut self) -> [Vec<Value>; 2] {
        let marker = self.stack.publish_marker("user:7", "end");
        [
            self.user_on_a.recv_until(&marker).await,
            self.user_on_b.recv_until(&marker).await,
        ]
    }
}

fn unsubscribed() -> Value {
    json!({"type": "UNSUBSCRIBED", "room": ROOM})
}

fn has(frames: &[Value], kind: &str, room: &str) -> bool {
    frames
        .iter()
        .any(|f| f["type"] == kind && f["room"] == room)
}

/// The moderated user's socket was told it left the room, got `event` on its user room, and
/// got nothing from the room afterwards (in particular not `content`).
fn assert_cut(frames: &[Value], event: &str, content: &str) {
    assert!(
        frames.contains(&unsubscribed()),
        "no UNSUBSCRIBED: {frames:?}"
    );
    assert!(
        has(frames, event, "user:7"),
        "no {event} on user:7: {frames:?}"
    );
    assert!(
        !frames.iter().any(|f| f["data"]["content"] == content),
        "a message reached the user after the room was cut: {frames:?}"
    );
    let unsubscribed_at = frames.iter().position(|f| *f == unsubscribed()).unwrap();
    assert!(
        !frames[unsubscribed_at + 1..]
            .iter()
            .any(|f| f["room"] == ROOM),
        "an event of {ROOM} after UNSUBSCRIBED: {frames:?}"
    );
}

fn forbidden() -> Value {
    json!({"type": "ERROR", "room": ROOM, "data": "forbidden room"})
}

#[tokio::test]
async fn a_ban_takes_the_user_out_of_the_room_on_every_node() {
    let mut scene = scene().await;
    scene.stack.chat.ban(CHANNEL, MODERATOR, USER).await;

    // The others see the ban on the channel, with the banned user's id.
    for client in [&mut scene.bystander_on_b, &mut scene.moderator_on_a] {
        let frame = client.recv_json().await;
        assert_eq!(frame["type"], "user_banned", "{frame}");
        assert_eq!(frame["room"], ROOM);
        assert_eq!(frame["data"]["user_id"], USER);
    }
    scene.post_and_see_it_delivered("after the ban").await;
    for frames in scene.user_frames().await {
        assert_cut(&frames, "user_banned", "after the ban");
    }
}

#[tokio::test]
async fn a_banned_user_cannot_subscribe_again() {
    let mut scene = scene().await;
    scene.stack.chat.ban(CHANNEL, MODERATOR, USER).await;
    scene.user_frames().await;
    assert_eq!(scene.user_on_b.try_subscribe(ROOM).await, forbidden());
    assert_eq!(scene.user_on_a.try_subscribe(ROOM).await, forbidden());
}

#[tokio::test]
async fn an_unbanned_user_who_is_a_member_again_may_subscribe() {
    let mut scene = scene().await;
    scene.stack.chat.ban(CHANNEL, MODERATOR, USER).await;
    scene.user_frames().await;

    scene.stack.chat.unban(CHANNEL, MODERATOR, USER).await;
    scene.user_frames().await; // user_unbanned on user:7
    assert_eq!(
        scene.user_on_b.try_subscribe(ROOM).await,
        forbidden(),
        "a ban removes the membership: unbanned is not enough"
    );
    scene.stack.chat.add_member(CHANNEL, USER).await;
    scene.user_on_b.subscribe(ROOM).await;
    scene
        .stack
        .chat
        .post(CHANNEL, MODERATOR, "welcome back")
        .await;
    let frame = scene.user_on_b.recv_type("MESSAGE_CREATE").await;
    assert_eq!(frame["data"]["content"], "welcome back");
}

#[tokio::test]
async fn a_kick_takes_the_user_out_of_the_room_on_every_node() {
    let mut scene = scene().await;
    scene.stack.chat.kick(CHANNEL, MODERATOR, USER).await;

    for client in [&mut scene.bystander_on_b, &mut scene.moderator_on_a] {
        let frame = client.recv_json().await;
        assert_eq!(frame["type"], "user_kicked", "{frame}");
        assert_eq!(frame["data"]["user_id"], USER);
    }
    scene.post_and_see_it_delivered("after the kick").await;
    for frames in scene.user_frames().await {
        assert_cut(&frames, "user_kicked", "after the kick");
    }
    assert_eq!(scene.user_on_b.try_subscribe(ROOM).await, forbidden());
}

#[tokio::test]
async fn leaving_a_channel_takes_the_users_sockets_out_of_it() {
    let mut scene = scene().await;
    scene.stack.chat.leave(CHANNEL, USER).await;

    for client in [&mut scene.bystander_on_b, &mut scene.moderator_on_a] {
        let frame = client.recv_json().await;
        assert_eq!(frame["type"], "member_left", "{frame}");
        assert_eq!(frame["data"]["user_id"], USER);
    }
    scene.post_and_see_it_delivered("after leaving").await;
    let marker = scene.stack.publish_marker("user:7", "end");
    for client in [&mut scene.user_on_a, &mut scene.user_on_b] {
        let frames = client.recv_until(&marker).await;
        assert!(
            frames.contains(&unsubscribed()),
            "no UNSUBSCRIBED: {frames:?}"
        );
        assert!(
            !frames
                .iter()
                .any(|f| f["data"]["content"] == "after leaving"),
            "a message reached the user after leaving: {frames:?}"
        );
    }
}

#[tokio::test]
async fn deleting_a_channel_takes_every_socket_out_of_it() {
    let mut scene = scene().await;
    scene.stack.chat.delete_channel(CHANNEL, MODERATOR).await;

    for client in [
        &mut scene.user_on_a,
        &mut scene.user_on_b,
        &mut scene.bystander_on_b,
        &mut scene.moderator_on_a,
    ] {
        let deleted = client.recv_json().await;
        assert_eq!(deleted["type"], "channel_deleted", "{deleted}");
        assert_eq!(deleted["room"], ROOM);
        assert_eq!(deleted["data"]["channel_id"], CHANNEL);
        assert_eq!(client.recv_json().await, unsubscribed());
    }
    // With no local socket left in the room, both nodes drop its Redis subscription.
    let redis = &scene.stack.redis;
    eventually(
        "no node subscribed to channel:42",
        Duration::from_secs(5),
        || async move { redis.cli(&["PUBSUB", "NUMSUB", ROOM]).ends_with("\n0") },
    )
    .await;
    assert_eq!(scene.bystander_on_b.try_subscribe(ROOM).await, forbidden());
}

#[tokio::test]
async fn a_ban_leaves_the_users_other_rooms_alone() {
    let mut scene = scene().await;
    scene.stack.chat.channel("43", MODERATOR, &[USER]).await;
    scene.user_frames().await; // channel_created on global
    scene.user_on_b.subscribe("channel:43").await;

    scene.stack.chat.ban(CHANNEL, MODERATOR, USER).await;
    scene.stack.chat.post("43", MODERATOR, "still in 43").await;
    let marker = scene.stack.publish_marker("user:7", "end");
    let frames = scene.user_on_b.recv_until(&marker).await;
    assert!(
        frames
            .iter()
            .any(|f| f["room"] == "channel:43" && f["data"]["content"] == "still in 43"),
        "the message in channel 43 did not arrive: {frames:?}"
    );
}
