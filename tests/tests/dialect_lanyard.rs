//! The Lanyard dialect on `/socket` (seed 003, docs/protocol-lanyard.md), from a Lanyard
//! client's side: op 1 Hello on connect; op 2 Initialize in its three shapes answered by
//! `INIT_STATE`; `PRESENCE_UPDATE` (with `user_id`) for presence changes made by native
//! clients on another node; op 4 Unsubscribe; every frame numbered by `seq`; bad input closed
//! with 4004, 4005 or 4006; a silent socket closed; `?compression=zlib_json` frames each a
//! complete zlib stream; the token and origin settings; invisible users shown offline; and a
//! Lanyard socket that only watches (no presence of its own, no `user:`/`global` rooms).
//!
//! Cast: node A holds the Lanyard sockets, node B the native users whose presence they watch
//! (7 "ann", 9 "bob", others unnamed). Native presence ops have no reply: a heartbeat after
//! them (`NativeClient::sync`) proves they were stored and published. Redis delivers a node's
//! channels in publication order, so an update for a user published after another user's is
//! read after it: that proves an update did not come.

use flate2::{Decompress, FlushDecompress, Status};
use integration_tests::{lanyard::LanyardClient, *};
use serde_json::{Value, json};
use std::time::Duration;

/// Redis and two gateway nodes, A (started with `a_args`) and B.
fn two_nodes(a_args: &[&str]) -> (RedisServer, Gateway, Gateway) {
    let redis = RedisServer::start();
    let a = gateway_on(&redis, "gw-a", a_args);
    let b = gateway_on(&redis, "gw-b", &[]);
    (redis, a, b)
}

/// A native session of `user` (named `name` when given) whose `online` presence is stored.
async fn native(gateway: &Gateway, user: &str, name: Option<&str>) -> NativeClient {
    let mut client = match name {
        Some(name) => NativeClient::connect_named(gateway, user, name).await,
        None => NativeClient::connect(gateway, user).await,
    };
    client.heartbeat().await;
    client
}

/// Sends the native `PRESENCE_UPDATE` with `fields` and waits until the node handled it.
async fn set_presence(client: &mut NativeClient, fields: Value) {
    let mut frame = json!({"op": "PRESENCE_UPDATE"});
    for (key, value) in fields.as_object().expect("fields are an object") {
        frame[key] = value.clone();
    }
    client.send_json(frame).await;
    let before_ack = client.sync().await;
    assert!(before_ack.is_empty(), "unexpected frames: {before_ack:?}");
}

/// The Lanyard presence object of `user` (named `name`, else known by their id) with
/// `status` and `activities`, on the web when `web` (native sessions count as web clients).
fn lanyard(user: &str, name: Option<&str>, status: &str, activities: Value, web: bool) -> Value {
    json!({
        "discord_user": {
            "id": user,
            "username": name.unwrap_or(user),
            "global_name": name,
            "display_name": name,
            "discriminator": "0",
            "avatar": null,
            "avatar_decoration_data": null,
            "bot": false,
            "public_flags": 0,
        },
        "discord_status": status,
        "activities": activities,
        "active_on_discord_desktop": false,
        "active_on_discord_mobile": false,
        "active_on_discord_web": web,
        "active_on_discord_embedded": false,
        "listening_to_spotify": false,
        "spotify": null,
        "kv": {},
    })
}

/// `presence` as a `PRESENCE_UPDATE` carries it: with `user_id`.
fn with_user_id(mut presence: Value, user: &str) -> Value {
    presence["user_id"] = json!(user);
    presence
}

/// A user nobody sees: offline, no activity, known by their id.
fn offline(user: &str) -> Value {
    lanyard(user, None, "offline", json!([]), false)
}

fn chess() -> Value {
    json!([{"name": "chess", "type": 0}])
}

#[tokio::test]
async fn hello_comes_first_with_the_heartbeat_interval_as_frame_1() {
    let redis = RedisServer::start();
    let a = gateway_on(&redis, "gw-a", &[]);
    let mut client = LanyardClient::connect(&a).await;
    assert_eq!(
        client.hello(),
        &json!({"op": 1, "d": {"heartbeat_interval": 30000}})
    );
    assert_eq!(client.last_seq(), 1, "Hello is frame 1");
    // Heartbeats are not answered; the socket stays open and serves the next op.
    client.heartbeat().await;
    assert_eq!(
        client.initialize(json!({"subscribe_to_id": "1"})).await,
        offline("1")
    );
    assert_eq!(client.last_seq(), 2, "INIT_STATE is frame 2");
}

#[tokio::test]
async fn init_state_comes_in_the_three_shapes() {
    let (_redis, a, b) = two_nodes(&["--presence-allow-all"]);
    let mut seven = native(&b, "7", Some("ann")).await;
    set_presence(
        &mut seven,
        json!({"status": "idle", "game": {"name": "chess"}, "idle_since": 1000}),
    )
    .await;
    let _nine = native(&b, "9", Some("bob")).await;
    let seven_idle = lanyard("7", Some("ann"), "idle", chess(), true);
    let nine_online = lanyard("9", Some("bob"), "online", json!([]), true);

    // subscribe_to_ids: a map of every id asked; one never seen is offline.
    let mut many = LanyardClient::connect(&a).await;
    assert_eq!(
        many.initialize(json!({"subscribe_to_ids": ["7", "9", "99"]}))
            .await,
        json!({"7": seven_idle, "9": nine_online, "99": offline("99")})
    );

    // subscribe_to_id: the presence object itself.
    let mut one = LanyardClient::connect(&a).await;
    assert_eq!(
        one.initialize(json!({"subscribe_to_id": "7"})).await,
        seven_idle
    );
    assert_eq!(
        one.initialize(json!({"subscribe_to_id": "99"})).await,
        offline("99"),
        "a user never seen is an offline presence"
    );

    // subscribe_to_all: every user with a visible presence.
    let mut all = LanyardClient::connect(&a).await;
    assert_eq!(
        all.initialize(json!({"subscribe_to_all": true})).await,
        json!({"7": seven_idle, "9": nine_online})
    );
}

#[tokio::test]
async fn presence_changes_on_another_node_arrive_as_presence_updates_with_rising_seq() {
    let (_redis, a, b) = two_nodes(&[]);
    let mut seven = native(&b, "7", Some("ann")).await;
    let mut watcher = LanyardClient::connect(&a).await;
    assert_eq!(
        watcher.initialize(json!({"subscribe_to_ids": ["7"]})).await,
        json!({"7": lanyard("7", Some("ann"), "online", json!([]), true)})
    );
    let init_seq = watcher.last_seq();

    set_presence(
        &mut seven,
        json!({"status": "idle", "game": {"name": "chess"}}),
    )
    .await;
    assert_eq!(
        watcher.recv_update().await,
        with_user_id(lanyard("7", Some("ann"), "idle", chess(), true), "7")
    );
    let update_seq = watcher.last_seq();
    assert!(update_seq > init_seq, "seq {update_seq} after {init_seq}");

    set_presence(&mut seven, json!({"status": "dnd"})).await;
    assert_eq!(
        watcher.recv_update().await,
        with_user_id(lanyard("7", Some("ann"), "dnd", json!([]), true), "7")
    );
    assert!(watcher.last_seq() > update_seq);

    seven.into_inner().close().await;
    assert_eq!(watcher.recv_update().await, with_user_id(offline("7"), "7"));
}

#[tokio::test]
async fn unsubscribing_stops_the_updates_of_those_users() {
    let (_redis, a, b) = two_nodes(&[]);
    let mut seven = native(&b, "7", None).await;
    let mut nine = native(&b, "9", None).await;
    let mut ten = native(&b, "10", None).await;
    let mut eleven = native(&b, "11", None).await;
    let mut watcher = LanyardClient::connect(&a).await;
    watcher
        .initialize(json!({"subscribe_to_ids": ["7", "9"]}))
        .await;

    // One id. (Frames are handled in order: an Initialize answered after the op 4 proves the
    // node handled it.)
    watcher
        .unsubscribe(json!({"unsubscribe_from_id": "7"}))
        .await;
    watcher.initialize(json!({"subscribe_to_id": "10"})).await;
    set_presence(&mut seven, json!({"status": "dnd"})).await;
    set_presence(&mut nine, json!({"status": "dnd"})).await;
    assert_eq!(
        watcher.recv_update().await["user_id"],
        "9",
        "7's update, published first, did not come"
    );

    // A list (12 is not followed: ignored).
    watcher
        .unsubscribe(json!({"unsubscribe_from_ids": ["9", "12"]}))
        .await;
    watcher.initialize(json!({"subscribe_to_id": "11"})).await;
    set_presence(&mut nine, json!({"status": "idle"})).await;
    set_presence(&mut ten, json!({"status": "dnd"})).await;
    assert_eq!(watcher.recv_update().await["user_id"], "10");

    // Everything followed.
    watcher
        .unsubscribe(json!({"unsubscribe_from_all": true}))
        .await;
    watcher.initialize(json!({"subscribe_to_id": "12"})).await;
    set_presence(&mut ten, json!({"status": "online"})).await;
    set_presence(&mut eleven, json!({"status": "dnd"})).await;
    let _twelve = native(&b, "12", None).await;
    assert_eq!(
        watcher.recv_update().await,
        with_user_id(lanyard("12", None, "online", json!([]), true), "12"),
        "10's and 11's updates, published first, did not come"
    );
}

#[tokio::test]
async fn bad_input_closes_the_socket_with_lanyard_s_codes() {
    let redis = RedisServer::start();
    let a = gateway_on(&redis, "gw-a", &[]);
    let cases = [
        // 4004: unknown or invalid opcode.
        (r#"{"op":7}"#, 4004),
        (r#"{"op":1,"d":{"heartbeat_interval":1}}"#, 4004),
        (r#"{"op":"2","d":{"subscribe_to_id":"7"}}"#, 4004),
        (r#"{"d":{"subscribe_to_id":"7"}}"#, 4004),
        // 4005: Initialize and Unsubscribe need a data object.
        (r#"{"op":2}"#, 4005),
        (r#"{"op":2,"d":{}}"#, 4005),
        (r#"{"op":2,"d":["7"]}"#, 4005),
        (r#"{"op":4,"d":null}"#, 4005),
        // 4006: invalid payload.
        ("hello", 4006),
        (r#"[{"op":3}]"#, 4006),
        (r#"{"op":2,"d":{"subscribe_to_ids":"7"}}"#, 4006),
        (r#"{"op":2,"d":{"subscribe_to_id":"a b"}}"#, 4006),
        (r#"{"op":2,"d":{"subscribe_to_all":false}}"#, 4006),
        (r#"{"op":4,"d":{"unsubscribe_from_everything":true}}"#, 4006),
    ];
    for (frame, code) in cases {
        let mut client = LanyardClient::connect(&a).await;
        client.send_text(frame).await;
        assert_eq!(client.expect_close().await, Some(code), "{frame}");
    }
    // Binary frames are read as JSON too, as by the original service.
    let mut client = LanyardClient::connect(&a).await;
    client.send_binary(br#"{"op":7}"#.to_vec()).await;
    assert_eq!(client.expect_close().await, Some(4004), "binary JSON");
    let mut client = LanyardClient::connect(&a).await;
    client.send_binary(vec![0xff, 0xfe, 0x7b]).await;
    assert_eq!(client.expect_close().await, Some(4006), "binary non-UTF-8");
}

#[tokio::test]
async fn a_silent_socket_is_closed_and_heartbeats_keep_one_open() {
    let redis = RedisServer::start();
    let a = gateway_on(&redis, "gw-a", &["--heartbeat-interval-ms", "1000"]);
    let mut silent = LanyardClient::connect(&a).await;
    assert_eq!(silent.hello()["d"]["heartbeat_interval"], 1000);
    let mut beating = LanyardClient::connect(&a).await;

    let beat = async {
        loop {
            beating.heartbeat().await;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    tokio::select! {
        code = silent.expect_close() => assert_eq!(code, Some(4009), "heartbeat timeout"),
        _ = beat => unreachable!("the heartbeat loop does not end"),
    }
    assert_eq!(
        beating.initialize(json!({"subscribe_to_id": "1"})).await,
        offline("1"),
        "the heartbeating socket is still served"
    );
}

/// A binary frame's payload inflated as one complete zlib stream (header, data, checksum), by
/// itself.
fn inflate(message: tungstenite::Message) -> Value {
    let tungstenite::Message::Binary(bytes) = message else {
        panic!("expected a binary frame, got {message:?}")
    };
    assert_eq!(bytes[0], 0x78, "a zlib header");
    let mut inflater = Decompress::new(true);
    let mut out = Vec::with_capacity(bytes.len() * 20 + 1024);
    let status = inflater
        .decompress_vec(&bytes, &mut out, FlushDecompress::Finish)
        .expect("valid zlib");
    assert_eq!(status, Status::StreamEnd, "a complete zlib stream");
    assert_eq!(
        inflater.total_in() as usize,
        bytes.len(),
        "nothing after it"
    );
    serde_json::from_slice(&out).expect("JSON inside")
}

#[tokio::test]
async fn zlib_json_sends_every_message_as_its_own_zlib_stream() {
    let (_redis, a, b) = two_nodes(&[]);
    let mut seven = native(&b, "7", Some("ann")).await;
    let mut client = WsClient::connect(&a.ws_url("/socket?compression=zlib_json")).await;

    assert_eq!(
        inflate(client.recv_raw().await),
        json!({"op": 1, "seq": 1, "d": {"heartbeat_interval": 30000}})
    );
    client
        .send_json(json!({"op": 2, "d": {"subscribe_to_id": "7"}}))
        .await;
    assert_eq!(
        inflate(client.recv_raw().await),
        json!({"op": 0, "seq": 2, "t": "INIT_STATE",
               "d": lanyard("7", Some("ann"), "online", json!([]), true)})
    );
    set_presence(
        &mut seven,
        json!({"status": "idle", "game": {"name": "chess"}}),
    )
    .await;
    assert_eq!(
        inflate(client.recv_raw().await),
        json!({"op": 0, "seq": 3, "t": "PRESENCE_UPDATE",
               "d": with_user_id(lanyard("7", Some("ann"), "idle", chess(), true), "7")})
    );
}

#[tokio::test]
async fn an_unknown_compression_is_refused_with_http_400() {
    let redis = RedisServer::start();
    let a = gateway_on(&redis, "gw-a", &[]);
    for bad in ["zlib-stream", "zstd_json", ""] {
        let url = format!("{}/socket?compression={bad}", a.http_url());
        let response = upgrade_request(&url, &[]).await;
        assert_eq!(response.status().as_u16(), 400, "compression={bad}");
        let body: Value = response.json().await.expect("a JSON body");
        assert!(body["error"].is_string(), "{body}");
        assert_eq!(body["code"], "bad_compression", "{body}");
    }
}

#[tokio::test]
async fn a_deployment_can_require_a_token_and_origins_are_checked() {
    let redis = RedisServer::start();
    let a = gateway_on(
        &redis,
        "gw-a",
        &[
            "--lanyard-require-token",
            "--allowed-origins",
            "https://chat.example.com",
        ],
    );
    let base = format!("{}/socket", a.http_url());
    let refusal = |url: String, origin: Option<&'static str>| async move {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        let response = upgrade_request(&url, &headers).await;
        let status = response.status().as_u16();
        (
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        )
    };

    let (status, body) = refusal(base.clone(), None).await;
    assert_eq!(status, 401, "no token: {body}");
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(body["code"], "token_required", "{body}");

    let signed_elsewhere = token_signed_with("another-secret", "5");
    let (status, body) = refusal(format!("{base}?token={signed_elsewhere}"), None).await;
    assert_eq!(status, 401, "a bad token: {body}");
    assert_eq!(body["code"], "invalid_token", "{body}");

    let with_token = format!("{base}?token={}", token("5"));
    let (status, body) = refusal(with_token.clone(), Some("https://evil.example.com")).await;
    assert_eq!(status, 403, "an origin off the list: {body}");

    let (status, _) = refusal(with_token, Some("https://chat.example.com")).await;
    assert_eq!(status, 101, "a token and an allowed origin");
    let mut client =
        LanyardClient::connect_url(&a.ws_url(&format!("/socket?token={}", token("5")))).await;
    assert_eq!(
        client.initialize(json!({"subscribe_to_id": "8"})).await,
        offline("8")
    );
}

#[tokio::test]
async fn subscribe_to_all_is_refused_unless_enabled() {
    let redis = RedisServer::start();
    let a = gateway_on(&redis, "gw-a", &[]);
    let c = gateway_on(&redis, "gw-c", &["--presence-allow-all"]);
    let _nine = native(&c, "9", None).await;

    let mut refused = LanyardClient::connect(&a).await;
    refused
        .send_json(json!({"op": 2, "d": {"subscribe_to_all": true}}))
        .await;
    assert_eq!(refused.expect_close().await, Some(4006));

    let mut everyone = LanyardClient::connect(&c).await;
    assert_eq!(
        everyone.initialize(json!({"subscribe_to_all": true})).await,
        json!({"9": lanyard("9", None, "online", json!([]), true)})
    );
    // Users nobody named come in as they change, from any node.
    let _twelve = native(&a, "12", None).await;
    assert_eq!(
        everyone.recv_update().await,
        with_user_id(lanyard("12", None, "online", json!([]), true), "12")
    );
}

#[tokio::test]
async fn an_invisible_user_appears_offline() {
    let (_redis, a, b) = two_nodes(&["--presence-allow-all"]);
    let mut seven = native(&b, "7", Some("ann")).await;
    set_presence(&mut seven, json!({"game": {"name": "chess"}})).await;
    let _nine = native(&b, "9", None).await;
    let mut watcher = LanyardClient::connect(&a).await;
    watcher.initialize(json!({"subscribe_to_id": "7"})).await;

    set_presence(
        &mut seven,
        json!({"status": "invisible", "game": {"name": "chess"}}),
    )
    .await;
    assert_eq!(
        watcher.recv_update().await,
        with_user_id(offline("7"), "7"),
        "no status, game, platform or name of an invisible user"
    );

    let mut late = LanyardClient::connect(&a).await;
    assert_eq!(
        late.initialize(json!({"subscribe_to_id": "7"})).await,
        offline("7")
    );
    assert_eq!(
        late.initialize(json!({"subscribe_to_ids": ["7"]})).await,
        json!({"7": offline("7")})
    );
    let mut everyone = LanyardClient::connect(&a).await;
    assert_eq!(
        everyone.initialize(json!({"subscribe_to_all": true})).await,
        json!({"9": lanyard("9", None, "online", json!([]), true)}),
        "not among everyone"
    );
}

#[tokio::test]
async fn a_lanyard_session_only_watches() {
    let redis = RedisServer::start();
    let a = gateway_on(&redis, "gw-a", &[]);
    let mut anonymous = LanyardClient::connect(&a).await;
    let mut five =
        LanyardClient::connect_url(&a.ws_url(&format!("/socket?token={}", token("5")))).await;
    // Answered: each session is open and past anything it does on connect.
    anonymous.initialize(json!({"subscribe_to_id": "8"})).await;
    five.initialize(json!({"subscribe_to_id": "8"})).await;

    // The node subscribes to the presence followed, and to no `user:` room nor `global`.
    let channels = redis.cli(&["PUBSUB", "CHANNELS"]);
    let channels: Vec<&str> = channels.lines().collect();
    assert!(channels.contains(&"presence:8"), "{channels:?}");
    assert!(
        !channels
            .iter()
            .any(|c| c.starts_with("user:") || *c == "global"),
        "{channels:?}"
    );

    // No presence of their own.
    let exists = |key: &str| redis.cli(&["EXISTS", key]);
    assert_eq!(exists("live:{presence:5}"), "0", "no presence for user 5");
    assert_eq!(
        exists("live:{presence:lanyard-anonymous}"),
        "0",
        "no presence for anonymous sessions"
    );
    // (Where a session's presence would be: a native session's.)
    let _eight = native(&a, "8", None).await;
    assert_eq!(exists("live:{presence:8}"), "1");
    let online = with_user_id(lanyard("8", None, "online", json!([]), true), "8");
    assert_eq!(anonymous.recv_update().await, online);
    assert_eq!(five.recv_update().await, online);
}
