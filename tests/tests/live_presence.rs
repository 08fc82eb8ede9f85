//! Presence across nodes (issue 4): every session is `online` from READY; a user's presence is
//! the aggregate of all their sessions on all nodes (online while any session is, dnd before
//! idle, idle only when all are, offline after the last one, `invisible` looks offline), set by
//! `PRESENCE_UPDATE` and published on `presence:<id>` only when it changes.
//! `PRESENCE_SUBSCRIBE {user_ids | user_id | all}` answers `INIT_STATE` in three shapes; the
//! `PRESENCE_UPDATE` events of the followed users follow. A node killed with SIGKILL turns its
//! users offline once their leases lapse.
//!
//! Cast: user 7 is watched (often with one session on each node), 8 watches, others as each
//! test says. Two gateway nodes, A and B, share one Redis. Presence ops have no reply of their
//! own: a heartbeat after them (`NativeClient::sync`) proves they were stored and published,
//! and a marker on the watcher's `user:` room then proves nothing reached it.

use integration_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

const USER: &str = "7";
const WATCHER: &str = "8";

/// Redis, a dispatcher and two gateway nodes started with `args`.
fn two_nodes(args: &[&str]) -> (Stack, Gateway, Gateway) {
    let stack = Stack::start();
    let a = stack.gateway("gw-a", args);
    let b = stack.gateway("gw-b", args);
    (stack, a, b)
}

/// Connects `user` to `gateway` and waits until the session's `online` presence is stored
/// (the node reads no frame before, so the heartbeat's answer proves it).
async fn connect(gateway: &Gateway, user: &str) -> NativeClient {
    let mut client = NativeClient::connect(gateway, user).await;
    client.heartbeat().await;
    client
}

/// A presence as published; every session in these tests is native, so a visible user is
/// `active_on` the web.
fn presence(user: &str, status: &str, game: Value, idle_since: Value) -> Value {
    let mut presence =
        json!({"user_id": user, "status": status, "game": game, "idle_since": idle_since});
    if status != "offline" {
        presence["active_on"] = json!(["web"]);
    }
    presence
}

/// A presence with no activity and no idle time.
fn plain(user: &str, status: &str) -> Value {
    presence(user, status, Value::Null, Value::Null)
}

/// The PRESENCE_UPDATE frame carrying `data`, without its timestamp.
fn update(data: Value) -> Value {
    let room = format!("presence:{}", data["user_id"].as_str().expect("user_id"));
    json!({"type": "PRESENCE_UPDATE", "room": room, "data": data})
}

fn error(text: &str) -> Value {
    json!({"type": "ERROR", "data": text})
}

/// `frame` without `timestamp` (set when the event is published).
fn untimed(mut frame: Value) -> Value {
    if let Some(object) = frame.as_object_mut() {
        let stamp = object.remove("timestamp");
        if object.get("type").is_some_and(|t| t == "PRESENCE_UPDATE") {
            assert!(
                stamp.is_some_and(|s| s.is_string()),
                "no timestamp: {frame}"
            );
        }
    }
    frame
}

/// `{"op": op, ...fields}`
fn op(op: &str, fields: Value) -> Value {
    let mut frame = json!({"op": op});
    for (key, value) in fields.as_object().expect("fields are an object") {
        frame[key] = value.clone();
    }
    frame
}

/// Sends `PRESENCE_SUBSCRIBE` with `target` and returns the answer.
async fn presence_subscribe(client: &mut NativeClient, target: Value) -> Value {
    client.send_json(op("PRESENCE_SUBSCRIBE", target)).await;
    client.recv_json().await
}

/// Follows `user` and returns the presence of the `INIT_STATE` answer.
async fn follow(client: &mut NativeClient, user: &str) -> Value {
    let reply = presence_subscribe(client, json!({"user_id": user})).await;
    assert_eq!(
        reply["type"], "INIT_STATE",
        "PRESENCE_SUBSCRIBE {user}: {reply}"
    );
    assert!(reply.get("room").is_none(), "{reply}");
    reply["data"].clone()
}

/// Sends `PRESENCE_UPDATE` with `fields` and waits until the node has handled it (stored it
/// and, if the user's presence changed, published it). `client` follows no presence.
async fn set_presence(client: &mut NativeClient, fields: Value) {
    client.send_json(op("PRESENCE_UPDATE", fields)).await;
    let before_ack = client.sync().await;
    assert!(
        before_ack.is_empty(),
        "PRESENCE_UPDATE was answered: {before_ack:?}"
    );
}

/// The watcher's next frame, without its timestamp.
async fn next(client: &mut NativeClient) -> Value {
    untimed(client.recv_json().await)
}

/// Proves `client` (a socket of `user`) received nothing more: a marker published on
/// `user:<user>` now is its next frame.
async fn assert_nothing_more(stack: &Stack, client: &mut NativeClient, user: &str, why: &str) {
    let marker = stack.publish_marker(&format!("user:{user}"), why);
    let frames = client.recv_until(&marker).await;
    assert!(frames.is_empty(), "{why}: expected nothing, got {frames:?}");
}

/// Waits until `user`'s live presence map holds `n` sessions: a closed socket's entry is
/// taken back in the background after the close.
async fn sessions_become(stack: &Stack, user: &str, n: usize) {
    let key = format!("live:{{presence:{user}}}");
    let (redis, key, want) = (&stack.redis, key.as_str(), n.to_string());
    let want = want.as_str();
    eventually(
        &format!("{n} presence sessions of user {user}"),
        Duration::from_secs(5),
        || async move { redis.cli(&["HLEN", key]) == want },
    )
    .await;
}

/// Waits until `user`'s stored presence is offline (nothing stored), as after the last
/// session's entry was taken back.
async fn stored_offline(stack: &Stack, user: &str) {
    let key = format!("live:{{presence:{user}}}:cur");
    let (redis, key) = (&stack.redis, key.as_str());
    eventually(
        &format!("user {user} stored as offline"),
        Duration::from_secs(5),
        || async move { redis.cli(&["EXISTS", key]) == "0" },
    )
    .await;
}

#[tokio::test]
async fn a_session_is_online_as_soon_as_it_is_ready() {
    let (stack, a, b) = two_nodes(&[]);
    let mut watcher = connect(&b, WATCHER).await;
    let mut sessions = Vec::new();
    // Several users on both nodes, so that a READY sent before the presence is stored shows.
    for i in 0..20 {
        let user = format!("{}", 100 + i);
        // Already followed (offline), so that asking again is one read, racing the session.
        assert_eq!(follow(&mut watcher, &user).await, plain(&user, "offline"));
        let node = if i % 2 == 0 { &a } else { &b };
        sessions.push(NativeClient::connect(node, &user).await);
        watcher
            .send_json(json!({"op": "PRESENCE_SUBSCRIBE", "user_id": user}))
            .await;
        // The `online` update may come before or after the answer.
        let init = watcher.recv_type("INIT_STATE").await;
        assert_eq!(
            init["data"],
            plain(&user, "online"),
            "INIT_STATE asked right after user {user}'s READY"
        );
        let marker = stack.publish_marker(&format!("user:{WATCHER}"), &user);
        let frames = watcher.recv_until(&marker).await;
        assert!(
            frames.len() <= 1
                && frames
                    .iter()
                    .all(|f| untimed(f.clone()) == update(plain(&user, "online"))),
            "user {user}: {frames:?}"
        );
    }
}

#[tokio::test]
async fn a_watcher_sees_a_user_come_online_and_go_offline() {
    let (_stack, a, b) = two_nodes(&[]);
    let mut watcher = connect(&b, WATCHER).await;
    assert_eq!(follow(&mut watcher, USER).await, plain(USER, "offline"));

    let user = connect(&a, USER).await;
    assert_eq!(next(&mut watcher).await, update(plain(USER, "online")));
    user.into_inner().close().await;
    assert_eq!(next(&mut watcher).await, update(plain(USER, "offline")));
}

#[tokio::test]
async fn presence_is_aggregated_over_sessions_on_two_nodes() {
    let (stack, a, b) = two_nodes(&[]);
    let mut on_a = connect(&a, USER).await;
    let mut on_b = connect(&b, USER).await;
    let mut watcher = connect(&a, WATCHER).await;
    assert_eq!(follow(&mut watcher, USER).await, plain(USER, "online"));

    // B idle, A still online: the user is online, nothing is published.
    set_presence(&mut on_b, json!({"idle_since": 123})).await;
    assert_nothing_more(&stack, &mut watcher, WATCHER, "one session idle").await;

    // Both idle: idle since the earliest.
    set_presence(&mut on_a, json!({"idle_since": 456})).await;
    assert_eq!(
        next(&mut watcher).await,
        update(presence(USER, "idle", Value::Null, json!(123)))
    );

    // A closes: B is still idle since 123, nothing changes.
    on_a.into_inner().close().await;
    sessions_become(&stack, USER, 1).await;
    assert_nothing_more(&stack, &mut watcher, WATCHER, "A closed, B idle").await;
    let mut late = connect(&b, "9").await;
    assert_eq!(
        follow(&mut late, USER).await,
        presence(USER, "idle", Value::Null, json!(123)),
        "a new watcher sees the remaining session's presence"
    );

    // B, the last session, closes: offline.
    on_b.into_inner().close().await;
    assert_eq!(next(&mut watcher).await, update(plain(USER, "offline")));
    assert_eq!(next(&mut late).await, update(plain(USER, "offline")));
}

#[tokio::test]
async fn a_status_of_idle_counts_as_idle_and_online_again_is_published() {
    let (stack, a, b) = two_nodes(&[]);
    let mut on_a = connect(&a, USER).await;
    let mut watcher = connect(&b, WATCHER).await;
    follow(&mut watcher, USER).await;

    set_presence(&mut on_a, json!({"status": "idle", "idle_since": 1000})).await;
    assert_eq!(
        next(&mut watcher).await,
        update(presence(USER, "idle", Value::Null, json!(1000)))
    );
    set_presence(&mut on_a, json!({"status": "online"})).await;
    assert_eq!(next(&mut watcher).await, update(plain(USER, "online")));
    // `idle_since: null` with no status is online: unchanged, not published.
    set_presence(&mut on_a, json!({"idle_since": null})).await;
    assert_nothing_more(&stack, &mut watcher, WATCHER, "online again").await;
}

#[tokio::test]
async fn dnd_wins_over_idle_and_online_wins_over_dnd() {
    let (stack, a, b) = two_nodes(&[]);
    let mut on_a = connect(&a, USER).await;
    let mut on_b = connect(&b, USER).await;
    let mut watcher = connect(&b, WATCHER).await;
    follow(&mut watcher, USER).await;

    // A dnd, B online: online.
    set_presence(&mut on_a, json!({"status": "dnd"})).await;
    assert_nothing_more(&stack, &mut watcher, WATCHER, "A dnd, B online").await;
    // A dnd, B idle: dnd, without idle_since.
    set_presence(&mut on_b, json!({"idle_since": 5})).await;
    assert_eq!(next(&mut watcher).await, update(plain(USER, "dnd")));
    // Both dnd: still dnd.
    set_presence(&mut on_b, json!({"status": "dnd"})).await;
    assert_nothing_more(&stack, &mut watcher, WATCHER, "both dnd").await;
    // A online: online.
    set_presence(&mut on_a, json!({"status": "online"})).await;
    assert_eq!(next(&mut watcher).await, update(plain(USER, "online")));
}

#[tokio::test]
async fn an_invisible_session_makes_the_user_look_offline() {
    let (stack, a, b) = two_nodes(&[]);
    let mut on_a = connect(&a, USER).await;
    let mut on_b = connect(&b, USER).await;
    let mut watcher = connect(&a, WATCHER).await;
    follow(&mut watcher, USER).await;

    set_presence(&mut on_a, json!({"status": "invisible"})).await;
    assert_eq!(next(&mut watcher).await, update(plain(USER, "offline")));
    let mut other = connect(&b, "9").await;
    assert_eq!(
        follow(&mut other, USER).await,
        plain(USER, "offline"),
        "an invisible user looks offline to a new watcher too"
    );
    let reply = presence_subscribe(&mut other, json!({"user_ids": [USER]})).await;
    assert_eq!(reply["data"], json!({USER: plain(USER, "offline")}));

    // B's changes stay hidden while A is invisible.
    set_presence(
        &mut on_b,
        json!({"status": "dnd", "game": {"name": "chess"}}),
    )
    .await;
    assert_nothing_more(&stack, &mut watcher, WATCHER, "B dnd while A invisible").await;

    // A visible again: the aggregate of both sessions (A online wins), with B's game.
    set_presence(&mut on_a, json!({"status": "online"})).await;
    assert_eq!(
        next(&mut watcher).await,
        update(presence(
            USER,
            "online",
            json!({"name": "chess"}),
            Value::Null
        ))
    );
}

#[tokio::test]
async fn the_game_is_published_and_an_unchanged_presence_is_published_once() {
    let (stack, a, b) = two_nodes(&[]);
    let mut on_a = connect(&a, USER).await;
    let mut watcher = connect(&b, WATCHER).await;
    follow(&mut watcher, USER).await;

    let chess = json!({"name": "chess"});
    set_presence(&mut on_a, json!({"status": "online", "game": chess})).await;
    assert_eq!(
        next(&mut watcher).await,
        update(presence(USER, "online", chess.clone(), Value::Null))
    );
    // The same presence again, spelled out and implied: nothing new.
    set_presence(&mut on_a, json!({"status": "online", "game": chess})).await;
    set_presence(&mut on_a, json!({"data": {"game": chess}})).await;
    assert_nothing_more(&stack, &mut watcher, WATCHER, "same presence twice").await;

    set_presence(&mut on_a, json!({"status": "dnd", "game": chess})).await;
    assert_eq!(
        next(&mut watcher).await,
        update(presence(USER, "dnd", chess.clone(), Value::Null))
    );
    // A second session, online: online wins, A's game stays.
    let mut on_b = connect(&b, USER).await;
    assert_eq!(
        next(&mut watcher).await,
        update(presence(USER, "online", chess.clone(), Value::Null))
    );
    // B plays another game: the latest activity wins.
    set_presence(&mut on_b, json!({"status": "dnd", "game": {"name": "go"}})).await;
    assert_eq!(
        next(&mut watcher).await,
        update(presence(USER, "dnd", json!({"name": "go"}), Value::Null))
    );
    // B's session stops playing: A's game shows again.
    set_presence(&mut on_b, json!({"status": "dnd"})).await;
    assert_eq!(
        next(&mut watcher).await,
        update(presence(USER, "dnd", chess, Value::Null))
    );
}

#[tokio::test]
async fn init_state_for_user_ids_maps_every_id_and_updates_follow() {
    let (stack, a, b) = two_nodes(&[]);
    let _seven = connect(&a, USER).await;
    let mut nine = connect(&b, "9").await;
    set_presence(&mut nine, json!({"status": "dnd"})).await;
    let mut watcher = connect(&a, WATCHER).await;

    // Ids as strings or numbers; 99 never connected.
    let reply = presence_subscribe(&mut watcher, json!({"user_ids": [USER, 9, "99"]})).await;
    assert_eq!(
        reply,
        json!({"type": "INIT_STATE", "data": {
            USER: plain(USER, "online"),
            "9": plain("9", "dnd"),
            "99": plain("99", "offline"),
        }})
    );

    // Updates follow for the users followed, from either node.
    let ninety_nine = connect(&b, "99").await;
    assert_eq!(next(&mut watcher).await, update(plain("99", "online")));
    set_presence(&mut nine, json!({"status": "online"})).await;
    assert_eq!(next(&mut watcher).await, update(plain("9", "online")));
    ninety_nine.into_inner().close().await;
    assert_eq!(next(&mut watcher).await, update(plain("99", "offline")));

    // Not for the others.
    let _ten = connect(&b, "10").await;
    assert_nothing_more(&stack, &mut watcher, WATCHER, "user 10 is not followed").await;
}

#[tokio::test]
async fn init_state_for_user_id_is_one_presence_object() {
    let (stack, a, b) = two_nodes(&[]);
    let mut seven = connect(&a, USER).await;
    set_presence(
        &mut seven,
        json!({"idle_since": 77, "game": {"name": "chess"}}),
    )
    .await;
    let mut watcher = connect(&b, WATCHER).await;

    let reply = presence_subscribe(&mut watcher, json!({"data": {"user_id": USER}})).await;
    assert_eq!(
        reply,
        json!({"type": "INIT_STATE", "data": presence(USER, "idle", json!({"name": "chess"}), json!(77))})
    );
    let reply = presence_subscribe(&mut watcher, json!({"user_id": 55})).await;
    assert_eq!(
        reply,
        json!({"type": "INIT_STATE", "data": plain("55", "offline")})
    );

    set_presence(&mut seven, json!({})).await;
    assert_eq!(
        next(&mut watcher).await,
        update(plain(USER, "online")),
        "a session that sets no game has none"
    );
    assert_nothing_more(&stack, &mut watcher, WATCHER, "one update").await;
}

#[tokio::test]
async fn all_is_refused_unless_the_node_allows_it() {
    let (_stack, a, _b) = two_nodes(&[]);
    let _seven = connect(&a, USER).await;
    let mut watcher = connect(&a, WATCHER).await;
    let reply = presence_subscribe(&mut watcher, json!({"all": true})).await;
    assert_eq!(
        reply,
        error("presence for all users is not enabled on this deployment")
    );
    watcher.heartbeat().await;
}

#[tokio::test]
async fn all_maps_every_online_user_and_then_follows_everyone() {
    let (stack, a, b) = two_nodes(&["--presence-allow-all"]);
    let _seven = connect(&a, USER).await;
    let mut nine = connect(&b, "9").await;
    let mut hidden = connect(&a, "10").await;
    set_presence(&mut hidden, json!({"status": "invisible"})).await;
    let gone = connect(&b, "11").await;
    gone.into_inner().close().await;
    stored_offline(&stack, "11").await;
    let mut watcher = connect(&b, WATCHER).await;

    let reply = presence_subscribe(&mut watcher, json!({"all": true})).await;
    assert_eq!(
        reply,
        json!({"type": "INIT_STATE", "data": {
            USER: plain(USER, "online"),
            "9": plain("9", "online"),
            WATCHER: plain(WATCHER, "online"),
        }}),
        "online users only: not the invisible 10, not 11 who left"
    );

    // Then every user's changes, from both nodes.
    let newcomer = connect(&a, "12").await;
    assert_eq!(next(&mut watcher).await, update(plain("12", "online")));
    set_presence(&mut nine, json!({"status": "dnd"})).await;
    assert_eq!(next(&mut watcher).await, update(plain("9", "dnd")));
    newcomer.into_inner().close().await;
    assert_eq!(next(&mut watcher).await, update(plain("12", "offline")));
    set_presence(&mut hidden, json!({"status": "online"})).await;
    assert_eq!(next(&mut watcher).await, update(plain("10", "online")));
    assert_nothing_more(&stack, &mut watcher, WATCHER, "each change once").await;
}

#[tokio::test]
async fn more_ids_than_the_limit_are_refused() {
    let (stack, a, b) = two_nodes(&["--presence-max-ids", "3"]);
    let mut watcher = connect(&a, WATCHER).await;

    let reply = presence_subscribe(&mut watcher, json!({"user_ids": ["1", "2", "3", "4"]})).await;
    assert_eq!(
        reply,
        error("too many user ids (see GATEWAY_PRESENCE_MAX_IDS)")
    );
    // Nothing of the refused request is followed.
    let _four = connect(&b, "4").await;
    assert_nothing_more(
        &stack,
        &mut watcher,
        WATCHER,
        "refused ids are not followed",
    )
    .await;

    let reply = presence_subscribe(&mut watcher, json!({"user_ids": ["1", "2", "4"]})).await;
    assert_eq!(
        reply,
        json!({"type": "INIT_STATE", "data": {
            "1": plain("1", "offline"),
            "2": plain("2", "offline"),
            "4": plain("4", "online"),
        }})
    );
    watcher.heartbeat().await;
}

#[tokio::test]
async fn bad_presence_updates_are_refused_with_specific_errors_and_change_nothing() {
    let (stack, a, b) = two_nodes(&[]);
    let mut user = connect(&a, USER).await;
    let mut watcher = connect(&b, WATCHER).await;
    follow(&mut watcher, USER).await;

    const STATUS: &str = "unknown status: use online, idle, dnd or invisible";
    const GAME: &str =
        "game must be null or an object with a string name of at most 128 characters";
    const IDLE: &str = "idle_since must be null or a timestamp in milliseconds";
    let cases = [
        (json!({"status": "away"}), STATUS),
        (json!({"status": "ONLINE"}), STATUS),
        (json!({"status": 1}), STATUS),
        (json!({"status": "dnd", "game": "chess"}), GAME),
        (json!({"game": {"name": "x".repeat(129)}}), GAME),
        (json!({"game": {"name": ""}}), GAME),
        (json!({"game": {"title": "chess"}}), GAME),
        (json!({"game": {"name": 5}}), GAME),
        (json!({"idle_since": "yesterday"}), IDLE),
        (json!({"idle_since": -5}), IDLE),
        (json!({"idle_since": 1.5}), IDLE),
    ];
    for (fields, text) in cases {
        user.send_json(op("PRESENCE_UPDATE", fields.clone())).await;
        assert_eq!(
            user.recv_json().await,
            error(text),
            "PRESENCE_UPDATE {fields}"
        );
    }
    user.heartbeat().await;
    assert_nothing_more(&stack, &mut watcher, WATCHER, "refused updates").await;
    let mut other = connect(&b, "9").await;
    assert_eq!(follow(&mut other, USER).await, plain(USER, "online"));

    // The longest name allowed is accepted.
    let longest = json!({"name": "é".repeat(128)});
    set_presence(&mut user, json!({"game": longest})).await;
    assert_eq!(
        next(&mut watcher).await,
        update(presence(USER, "online", longest, Value::Null))
    );
}

#[tokio::test]
async fn presence_subscribe_needs_exactly_one_well_formed_target() {
    let (_stack, a, _b) = two_nodes(&[]);
    let mut watcher = connect(&a, WATCHER).await;

    const ONE: &str = "give exactly one of user_ids, user_id or all: true";
    let cases = [
        (json!({}), ONE),
        (json!({"user_id": USER, "user_ids": [USER]}), ONE),
        (json!({"user_id": USER, "all": true}), ONE),
        (json!({"all": false}), ONE),
        (
            json!({"user_ids": USER}),
            "user_ids must be a list of user ids",
        ),
        (
            json!({"user_ids": [USER, "a b"]}),
            "user_ids must be a list of user ids",
        ),
        (json!({"user_id": "a b"}), "user_id must be a user id"),
        (
            json!({"user_id": {"id": USER}}),
            "user_id must be a user id",
        ),
    ];
    for (target, text) in cases {
        let reply = presence_subscribe(&mut watcher, target.clone()).await;
        assert_eq!(reply, error(text), "PRESENCE_SUBSCRIBE {target}");
    }
    watcher.heartbeat().await;
    assert_eq!(follow(&mut watcher, USER).await, plain(USER, "offline"));
}

#[tokio::test]
async fn a_killed_node_turns_its_users_offline() {
    let (stack, mut a, b) = two_nodes(&["--live-ttl-ms", "1500"]);
    let _only_on_a = connect(&a, USER).await;
    let _nine_on_a = connect(&a, "9").await;
    let _nine_on_b = connect(&b, "9").await;
    let mut watcher = connect(&b, WATCHER).await;
    let reply = presence_subscribe(&mut watcher, json!({"user_ids": [USER, "9"]})).await;
    assert_eq!(
        reply["data"],
        json!({USER: plain(USER, "online"), "9": plain("9", "online")})
    );

    a.kill();
    // Leases of 1.5 s, renewed every 0.5 s, swept every 0.5 s: well within 10 s.
    let frame = watcher.recv_json_within(Duration::from_secs(10)).await;
    assert_eq!(untimed(frame), update(plain(USER, "offline")));

    // User 9 keeps the session on B: once A's entry is gone, still online, nothing published.
    sessions_become(&stack, "9", 1).await;
    assert_nothing_more(&stack, &mut watcher, WATCHER, "9 is still on B").await;
    let reply = presence_subscribe(&mut watcher, json!({"user_ids": [USER, "9"]})).await;
    assert_eq!(
        reply["data"],
        json!({USER: plain(USER, "offline"), "9": plain("9", "online")})
    );
}

#[tokio::test]
async fn following_everyone_and_one_user_delivers_each_update_once() {
    let (stack, a, _b) = two_nodes(&["--presence-allow-all"]);
    let mut watcher = connect(&a, WATCHER).await;
    let reply = presence_subscribe(&mut watcher, json!({"all": true})).await;
    assert_eq!(reply["type"], "INIT_STATE", "{reply}");
    assert_eq!(follow(&mut watcher, USER).await, plain(USER, "offline"));

    let _user = connect(&a, USER).await;
    let marker = stack.publish_marker(&format!("user:{WATCHER}"), "after 7 came online");
    let frames: Vec<Value> = watcher
        .recv_until(&marker)
        .await
        .into_iter()
        .map(untimed)
        .collect();
    assert_eq!(
        frames,
        vec![update(plain(USER, "online"))],
        "one PRESENCE_UPDATE per change, however the user is followed"
    );
}

/// Many users on one node (their presence rooms are what a sweep goes through).
const MANY_USERS: usize = 210;

#[tokio::test]
async fn a_fleet_that_was_down_sweeps_the_dead_nodes_users_offline() {
    let stack = Stack::start();
    // A fleet of one node with many users goes down for good (SIGKILL: nothing taken back).
    let mut old = stack.gateway("gw-old", &["--live-ttl-ms", "300"]);
    let mut users = Vec::new();
    for i in 0..MANY_USERS {
        users.push(NativeClient::connect(&old, &format!("{}", 1000 + i)).await);
    }
    users.last_mut().expect("users").heartbeat().await;
    old.kill();
    drop(users);
    let last = format!("{}", 1000 + MANY_USERS - 1);
    let key = format!("live:{{presence:{last}}}:cur");
    assert_eq!(stack.redis.cli(&["EXISTS", &key]), "1", "still online");

    // A new fleet: once up for a TTL, it sweeps the old node's incarnation, every user of it.
    let b = stack.gateway("gw-b", &["--live-ttl-ms", "1500"]);
    let mut c = stack.gateway("gw-c", &["--live-ttl-ms", "1500"]);
    for i in 0..MANY_USERS {
        stored_offline(&stack, &format!("{}", 1000 + i)).await;
    }
    // And one of its own nodes is killed: its user goes offline for a watcher elsewhere.
    let mut watcher = connect(&b, WATCHER).await;
    let _user = connect(&c, USER).await;
    assert_eq!(follow(&mut watcher, USER).await, plain(USER, "online"));
    c.kill();
    let frame = watcher.recv_json_within(Duration::from_secs(10)).await;
    assert_eq!(untimed(frame), update(plain(USER, "offline")));
}

#[tokio::test]
async fn a_node_stopped_gracefully_takes_its_users_offline_at_once() {
    // The default live TTL (15 s): an update within recv_json's 5 s is the sessions' own
    // release on close, not a lapsed lease.
    let (_stack, mut a, b) = two_nodes(&["--drain-window-ms", "0"]);
    let _user = connect(&a, USER).await;
    let mut watcher = connect(&b, WATCHER).await;
    assert_eq!(follow(&mut watcher, USER).await, plain(USER, "online"));

    a.terminate();
    assert!(
        a.wait_exit(Duration::from_secs(10)).is_some(),
        "node A did not stop"
    );
    assert_eq!(next(&mut watcher).await, update(plain(USER, "offline")));
}
