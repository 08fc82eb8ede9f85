//! The Discord gateway v3 dialect on `/` (seed 002, DESIGN §4.2), driven as a client of that
//! era would: `GET /api/gateway` with a bare `Authorization: <token>`, the node it names (or
//! the op 7 redirect), op 2 identify, READY, dispatches, keepalives, op 3 status, op 6 resume,
//! and Discord's close codes. Two gateway nodes share one real Redis; native clients on the
//! other node are the other side of the cross-dialect cases.
//!
//! A marker published straight into a room (`{"type":"MARKER"}`, dispatched as `t: MARKER`)
//! proves, without sleeping, that nothing the client should not see came before it.

use flate2::{Decompress, FlushDecompress, read::ZlibDecoder};
use integration_tests::*;
use serde_json::{Value, json};
use std::{io::Read, time::Duration};
use tungstenite::Message;

/// A Discord v3 client: sends op frames, reads dispatches (inflating compressed frames) and
/// checks that each dispatch's `s` is one more than the last.
struct Discord {
    ws: WsClient,
    ready: Value,
    last_s: u64,
    /// `?compress=zlib-stream`: the socket's one inflater.
    stream: Option<Decompress>,
}

impl Discord {
    async fn open(url: &str) -> Discord {
        Discord {
            ws: WsClient::connect(url).await,
            ready: Value::Null,
            last_s: 0,
            stream: None,
        }
    }

    /// Connects `user` to `gateway` at `/?v=3&encoding=json` and reads READY.
    async fn connect(gateway: &Gateway, user: &str) -> Discord {
        Self::connect_with(gateway, user, "/?v=3&encoding=json", json!({})).await
    }

    /// Connects at `path`, identifies with `extra` merged into op 2's data, reads READY.
    async fn connect_with(gateway: &Gateway, user: &str, path: &str, extra: Value) -> Discord {
        let mut client = Self::open(&gateway.ws_url(path)).await;
        if path.contains("zlib-stream") {
            client.stream = Some(Decompress::new(true));
        }
        client.identify(&token(user), extra).await;
        let ready = client.recv_t("READY").await;
        client.ready = ready;
        client
    }

    async fn identify(&mut self, token: &str, extra: Value) {
        let mut d = json!({
            "token": token,
            "v": 3,
            "properties": {"$os": "Windows", "$browser": "Chrome", "$device": "", "$referrer": "", "$referring_domain": ""},
            "large_threshold": 100,
        });
        for (key, value) in extra.as_object().expect("an object") {
            d[key] = value.clone();
        }
        self.ws.send_json(json!({"op": 2, "d": d})).await;
    }

    async fn send(&mut self, op: u64, d: Value) {
        self.ws.send_json(json!({"op": op, "d": d})).await;
    }

    /// The next frame, inflated when binary.
    async fn recv(&mut self) -> Value {
        let frame: Value = match self.ws.recv_raw().await {
            Message::Text(text) => serde_json::from_str(&text).expect("JSON"),
            Message::Binary(bytes) => serde_json::from_slice(&self.inflate(&bytes)).expect("JSON"),
            other => panic!("unexpected {other:?}"),
        };
        if frame["op"] == 0 {
            let s = frame["s"].as_u64().expect("a dispatch carries s");
            assert_eq!(
                s,
                self.last_s + 1,
                "dispatches are numbered in order: {frame}"
            );
            self.last_s = s;
        } else {
            assert!(frame.get("s").is_none_or(Value::is_null), "{frame}");
        }
        frame
    }

    fn inflate(&mut self, bytes: &[u8]) -> Vec<u8> {
        match &mut self.stream {
            Some(inflater) => {
                assert!(
                    bytes.ends_with(&[0, 0, 0xff, 0xff]),
                    "a zlib-stream message ends in the sync flush"
                );
                let mut out = Vec::with_capacity(bytes.len() * 20 + 1024);
                inflater
                    .decompress_vec(bytes, &mut out, FlushDecompress::Sync)
                    .expect("inflates in the socket's stream");
                out
            }
            None => {
                let mut out = Vec::new();
                ZlibDecoder::new(bytes)
                    .read_to_end(&mut out)
                    .expect("one complete zlib stream");
                out
            }
        }
    }

    /// Skips frames until the dispatch `t`; returns its `d`.
    async fn recv_t(&mut self, t: &str) -> Value {
        let mut skipped = Vec::new();
        for _ in 0..50 {
            let frame = self.recv().await;
            if frame["op"] == 0 && frame["t"] == t {
                return frame["d"].clone();
            }
            skipped.push(frame);
        }
        panic!("no {t} among {skipped:?}");
    }

    /// The dispatches up to the marker `label`, which must come.
    async fn until_marker(&mut self, label: &str) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let frame = self.recv().await;
            if frame["t"] == "MARKER" && frame["d"]["label"] == label {
                return frames;
            }
            frames.push(frame);
        }
    }
}

/// Whether the registry lists every one of `nodes` (some user is assigned to each).
async fn registered(stack: &Stack, nodes: &[&Gateway]) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    for n in 0..40 {
        let (_, body) = stack
            .chat
            .as_user(&format!("u{n}"))
            .get("/api/gateway", None)
            .await;
        if let Some(url) = body["url"].as_str() {
            seen.insert(url.to_owned());
        }
    }
    nodes
        .iter()
        .all(|node| seen.contains(&node.ws_url("/api/ws")))
}

fn two_nodes(args: &[&str]) -> (Stack, Gateway, Gateway) {
    let stack = Stack::start();
    let a = stack.gateway("gw-a", args);
    let b = stack.gateway("gw-b", args);
    (stack, a, b)
}

fn names(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["t"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn is_iso_with_offset(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.ends_with("+00:00") && s.len() > 20)
}

fn assert_user_object(user: &Value) {
    let keys: Vec<&str> = user
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    for key in ["id", "username", "discriminator", "avatar"] {
        assert!(keys.contains(&key), "user object {user} lacks {key}");
    }
    assert!(user["id"].is_string(), "ids are strings: {user}");
}

#[tokio::test]
async fn discovery_with_a_bare_token_then_the_redirect_to_the_right_node() {
    let stack = Stack::start();
    let a = Gateway::start(GatewayOpts::new(stack.redis.url(), "gw-a").enforce_assignment());
    let b = Gateway::start(GatewayOpts::new(stack.redis.url(), "gw-b").enforce_assignment());
    let user = "4242";
    // As Discord's clients asked: `Authorization: <token>`, no scheme.
    let raw_token = token(user);
    let api = Api::new(&stack.dispatcher.base_url());
    let url = eventually_some("both nodes registered", Duration::from_secs(10), || async {
        let (status, _, body) = api
            .with_headers(
                Method::GET,
                "/api/gateway",
                None,
                &[("Authorization", &raw_token)],
            )
            .await;
        let both = registered(&stack, &[&a, &b]).await;
        (status == 200 && both).then(|| body["url"].as_str().unwrap().to_owned())
    })
    .await;
    assert!(
        url.ends_with('/') && !url.ends_with("/api/ws/"),
        "the Discord endpoint: {url}"
    );
    // A native caller still gets the native endpoint.
    let (_, native) = stack.chat.as_user(user).get("/api/gateway", None).await;
    assert!(
        native["url"].as_str().unwrap().ends_with("/api/ws"),
        "{native}"
    );

    let (right, wrong) = if url.contains(&a.port().to_string()) {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let mut misplaced = Discord::open(&wrong.ws_url("/")).await;
    misplaced.identify(&token(user), json!({})).await;
    let redirect = misplaced.recv().await;
    assert_eq!(redirect, json!({"op": 7, "d": {"url": right.ws_url("/")}}));
    assert_eq!(misplaced.ws.expect_close().await, Some(4000));

    // A bare URL with no query is v3 JSON.
    let mut client = Discord::open(&right.ws_url("/")).await;
    client.identify(&token(user), json!({})).await;
    let ready = client.recv_t("READY").await;
    assert_eq!(ready["v"], 3);
}

#[tokio::test]
async fn ready_describes_the_user_its_guilds_and_private_channels() {
    let (stack, a, _b) = two_nodes(&[]);
    stack.chat.channel("500", "1", &["2", "3"]).await;
    stack.chat.channel("501", "2", &["1"]).await;
    stack.chat.channel("502", "3", &[]).await; // not the user's
    stack.chat.dm("d1", &["1", "9"]).await;
    let client = Discord::connect_with(&a, "1", "/", json!({"large_threshold": 2})).await;
    let ready = &client.ready;
    assert_eq!(ready["v"], 3);
    assert!(ready["session_id"].is_string());
    assert_eq!(ready["heartbeat_interval"], 30_000);
    assert_user_object(&ready["user"]);
    assert_eq!(ready["user"]["id"], "1");

    let guilds = ready["guilds"].as_array().expect("guilds");
    let ids: Vec<&str> = guilds.iter().map(|g| g["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["500", "501"],
        "one guild per channel the user belongs to"
    );
    let first = &guilds[0];
    assert_eq!(first["name"], "channel 500");
    assert_eq!(first["owner_id"], "1");
    assert_eq!(first["member_count"], 3);
    assert_eq!(first["large"], true, "3 members over a threshold of 2");
    let members = first["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "members listed up to large_threshold");
    for member in members {
        assert_user_object(&member["user"]);
    }
    assert!(
        first["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "@everyone")
    );
    assert_eq!(first["channels"][0]["id"], "500");
    assert_eq!(first["channels"][0]["type"], "text");
    assert!(
        is_iso_with_offset(&first["joined_at"]),
        "{}",
        first["joined_at"]
    );
    assert_eq!(guilds[1]["owner_id"], "2");

    let private = ready["private_channels"].as_array().unwrap();
    assert_eq!(private.len(), 1);
    assert_eq!(private[0]["id"], "d1");
    assert_eq!(private[0]["is_private"], true);
    assert_user_object(&private[0]["recipient"]);
    assert_eq!(private[0]["recipient"]["id"], "9");
}

#[tokio::test]
async fn a_native_users_messages_reach_a_discord_client_as_message_events() {
    let (stack, a, b) = two_nodes(&[]);
    stack.chat.channel("600", "1", &["2"]).await;
    let mut discord = Discord::connect(&a, "1").await;
    let mut native = NativeClient::connect(&b, "2").await;
    native.subscribe("channel:600").await;

    let posted = stack.chat.post("600", "2", "hello from native").await;
    let created = discord.recv_t("MESSAGE_CREATE").await;
    assert_eq!(created["id"], posted["id"]);
    assert_eq!(created["channel_id"], "600");
    assert_eq!(created["content"], "hello from native");
    assert_user_object(&created["author"]);
    assert_eq!(created["author"]["id"], "2");
    assert!(
        is_iso_with_offset(&created["timestamp"]),
        "{}",
        created["timestamp"]
    );

    let id = posted["id"].as_str().unwrap();
    let path = format!("/api/v1/channels/600/messages/{id}");
    stack
        .chat
        .as_user("2")
        .patch(&path, Some(json!({"content": "edited"})))
        .await;
    let updated = discord.recv_t("MESSAGE_UPDATE").await;
    assert_eq!(
        (updated["id"].as_str(), updated["content"].as_str()),
        (Some(id), Some("edited"))
    );
    stack.chat.as_user("2").delete(&path, None).await;
    let deleted = discord.recv_t("MESSAGE_DELETE").await;
    assert_eq!(deleted, json!({"id": id, "channel_id": "600"}));

    // Typing from the native client on the other node.
    native
        .send_json(json!({"op": "TYPING", "room": "channel:600"}))
        .await;
    let typing = discord.recv_t("TYPING_START").await;
    assert_eq!(
        (typing["channel_id"].as_str(), typing["user_id"].as_str()),
        (Some("600"), Some("2"))
    );
    assert!(typing["timestamp"].is_i64());

    // A member joining shows as a guild member event.
    stack.chat.add_member("600", "3").await;
    let added = discord.recv_t("GUILD_MEMBER_ADD").await;
    assert_eq!(added["guild_id"], "600");
    assert_eq!(added["user"]["id"], "3");
}

#[tokio::test]
async fn subscriptions_follow_membership_live_on_every_node() {
    let (stack, a, b) = two_nodes(&[]);
    stack.chat.channel("700", "5", &[]).await;
    let mut discord = Discord::connect(&a, "1").await;
    assert_eq!(discord.ready["guilds"], json!([]));

    // Added on the API while connected: the guild arrives, then its messages.
    stack.chat.add_member("700", "1").await;
    let guild = discord.recv_t("GUILD_CREATE").await;
    assert_eq!(guild["id"], "700");
    stack.chat.post("700", "5", "welcome").await;
    assert_eq!(discord.recv_t("MESSAGE_CREATE").await["content"], "welcome");

    // A DM opened by someone else: CHANNEL_CREATE, then its messages.
    stack.chat.dm("d7", &["1", "5"]).await;
    let dm = discord.recv_t("CHANNEL_CREATE").await;
    assert_eq!(
        (dm["id"].as_str(), dm["recipient"]["id"].as_str()),
        (Some("d7"), Some("5"))
    );
    stack.chat.post_dm("d7", "5", "psst", "m-d7-1").await;
    let message = discord.recv_t("MESSAGE_CREATE").await;
    assert_eq!(
        (message["channel_id"].as_str(), message["content"].as_str()),
        (Some("d7"), Some("psst"))
    );

    // Kicked: the guild is gone at once and nothing of it follows.
    stack.chat.kick("700", "5", "1").await;
    assert_eq!(discord.recv_t("GUILD_DELETE").await["id"], "700");
    let mut other = NativeClient::connect(&b, "5").await;
    other.subscribe("channel:700").await;
    stack.chat.post("700", "5", "after the kick").await;
    stack.publish_marker("user:1", "kicked");
    let seen = discord.until_marker("kicked").await;
    assert!(
        !names(&seen).contains(&"MESSAGE_CREATE".to_owned()),
        "{seen:?}"
    );

    // Let back in, then the channel is deleted: CHANNEL_DELETE and the guild goes.
    stack.chat.add_member("700", "1").await;
    assert_eq!(discord.recv_t("GUILD_CREATE").await["id"], "700");
    stack.chat.delete_channel("700", "5").await;
    assert_eq!(discord.recv_t("CHANNEL_DELETE").await["id"], "700");
    assert_eq!(discord.recv_t("GUILD_DELETE").await["id"], "700");
}

#[tokio::test]
async fn a_status_update_shows_to_a_native_observer_on_the_other_node() {
    let (stack, a, b) = two_nodes(&[]);
    let mut observer = NativeClient::connect(&b, "8").await;
    observer
        .send_json(json!({"op": "PRESENCE_SUBSCRIBE", "user_id": "1"}))
        .await;
    let init = observer.recv_type("INIT_STATE").await;
    assert_eq!(init["data"]["status"], "offline");

    let mut discord = Discord::connect(&a, "1").await;
    let online = observer.recv_type("PRESENCE_UPDATE").await;
    assert_eq!(online["data"]["status"], "online");
    discord
        .send(
            3,
            json!({"game": {"name": "Game name"}, "idle_since": 1_450_996_513_618u64}),
        )
        .await;
    let idle = observer.recv_type("PRESENCE_UPDATE").await;
    assert_eq!(idle["data"]["status"], "idle");
    assert_eq!(idle["data"]["game"]["name"], "Game name");
    assert_eq!(
        idle["data"]["active_on"],
        json!(["web"]),
        "a Chrome client is on the web"
    );
    drop(stack);
}

#[tokio::test]
async fn presence_of_guild_members_reaches_the_discord_client() {
    let (stack, a, b) = two_nodes(&[]);
    stack.chat.channel("800", "1", &["2"]).await;
    let mut discord = Discord::connect(&a, "1").await;
    let mut native = NativeClient::connect(&b, "2").await;
    let online = discord.recv_t("PRESENCE_UPDATE").await;
    assert_eq!(
        (online["user"]["id"].as_str(), online["status"].as_str()),
        (Some("2"), Some("online"))
    );
    native
        .send_json(json!({"op": "PRESENCE_UPDATE", "status": "dnd", "game": {"name": "chess"}}))
        .await;
    let dnd = discord.recv_t("PRESENCE_UPDATE").await;
    assert_eq!(
        (dnd["status"].as_str(), dnd["game"]["name"].as_str()),
        (Some("dnd"), Some("chess"))
    );
}

#[tokio::test]
async fn each_misbehaviour_gets_its_close_code() {
    let (_stack, a, _b) = two_nodes(&["--heartbeat-interval-ms", "400"]);
    let opened = |path: &str| {
        let url = a.ws_url(path);
        async move { Discord::open(&url).await }
    };

    let mut early = opened("/").await;
    early
        .send(3, json!({"game": null, "idle_since": null}))
        .await;
    assert_eq!(
        early.ws.expect_close().await,
        Some(4003),
        "anything but identify first"
    );

    let mut forged = opened("/").await;
    forged.identify("not-a-jwt", json!({})).await;
    assert_eq!(forged.ws.expect_close().await, Some(4004));

    let mut garbled = opened("/").await;
    garbled.ws.send_text("{not json").await;
    assert_eq!(garbled.ws.expect_close().await, Some(4002));

    let mut unknown = Discord::connect(&a, "1").await;
    unknown.send(42, json!({})).await;
    assert_eq!(unknown.ws.expect_close().await, Some(4001));

    let mut twice = Discord::connect(&a, "1").await;
    twice.identify(&token("1"), json!({})).await;
    assert_eq!(twice.ws.expect_close().await, Some(4005));

    let mut silent = Discord::connect(&a, "1").await;
    assert_eq!(
        silent.ws.expect_close().await,
        Some(4009),
        "no keepalive in the window"
    );

    let mut newer = opened("/?v=6&encoding=json").await;
    assert_eq!(newer.ws.expect_close().await, Some(4012));
    let mut etf = opened("/?v=3&encoding=etf").await;
    assert_eq!(etf.ws.expect_close().await, Some(4002));
}

#[tokio::test]
async fn ops_past_the_sixty_second_window_close_with_4008() {
    // Well inside the per-second limit, past a window of 5 ops per 60 s.
    let (stack, a, _b) = two_nodes(&[
        "--discord-ops-per-minute",
        "5",
        "--frames-per-second",
        "100",
    ]);
    stack.chat.channel("900", "1", &[]).await;
    let mut client = Discord::connect(&a, "1").await;
    for _ in 0..5 {
        client.send(1, json!(null)).await;
    }
    // Five keepalives are within the window: the socket is still there.
    stack.publish_marker("channel:900", "five");
    client.until_marker("five").await;
    client
        .send(3, json!({"game": null, "idle_since": null}))
        .await;
    assert_eq!(client.ws.expect_close().await, Some(4008), "the sixth op");
}

#[tokio::test]
async fn keepalives_in_milliseconds_or_seconds_keep_the_socket() {
    let (stack, a, _b) = two_nodes(&["--heartbeat-interval-ms", "400"]);
    stack.chat.channel("900", "1", &[]).await;
    let mut client = Discord::connect_with(&a, "1", "/", json!({"large_threshold": null})).await;
    assert_eq!(client.ready["heartbeat_interval"], 400);
    for d in [
        json!("1450996513618"),
        json!(1_450_996_513),
        json!(null),
        json!(1_450_996_513_618u64),
    ] {
        client.send(1, d).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // 1.2 s of keepalives at a 400 ms interval: the socket is still there.
    stack.publish_marker("channel:900", "alive");
    assert!(client.until_marker("alive").await.is_empty());
}

#[tokio::test]
async fn compress_true_sends_ready_as_one_zlib_stream() {
    let (stack, a, _b) = two_nodes(&[]);
    stack.chat.channel("910", "1", &[]).await;
    let mut client = Discord::open(&a.ws_url("/")).await;
    client
        .identify(&token("1"), json!({"compress": true}))
        .await;
    let Message::Binary(bytes) = client.ws.recv_raw().await else {
        panic!("READY must come compressed");
    };
    let ready: Value = serde_json::from_slice(&client.inflate(&bytes)).unwrap();
    assert_eq!(
        (
            ready["op"].as_u64(),
            ready["t"].as_str(),
            ready["s"].as_u64()
        ),
        (Some(0), Some("READY"), Some(1))
    );
    client.last_s = 1;
    // Small dispatches stay text.
    stack.chat.post("910", "1", "small").await;
    let Message::Text(text) = client.ws.recv_raw().await else {
        panic!("a message dispatch is text");
    };
    assert!(text.contains("MESSAGE_CREATE"));
}

#[tokio::test]
async fn zlib_stream_compresses_every_frame_in_one_context() {
    let (stack, a, _b) = two_nodes(&[]);
    stack.chat.channel("920", "1", &[]).await;
    let mut client = Discord::connect_with(
        &a,
        "1",
        "/?v=3&encoding=json&compress=zlib-stream",
        json!({}),
    )
    .await;
    for n in 0..3 {
        stack.chat.post("920", "1", &format!("repeat {n}")).await;
        let Message::Binary(bytes) = client.ws.recv_raw().await else {
            panic!("every frame is binary under zlib-stream");
        };
        let frame: Value = serde_json::from_slice(&client.inflate(&bytes)).unwrap();
        assert_eq!(frame["d"]["content"], format!("repeat {n}"));
    }
}

#[tokio::test]
async fn resume_replays_the_missed_dispatches_then_resumed() {
    let (stack, a, _b) = two_nodes(&[]);
    stack.chat.channel("930", "1", &["2"]).await;
    let mut client = Discord::connect(&a, "1").await;
    let session_id = client.ready["session_id"].as_str().unwrap().to_owned();
    stack.chat.post("930", "2", "seen").await;
    assert_eq!(client.recv_t("MESSAGE_CREATE").await["content"], "seen");
    let seq = client.last_s;
    client.ws.close().await;

    for n in 0..3 {
        stack.chat.post("930", "2", &format!("missed {n}")).await;
    }
    let mut resumed = Discord::open(&a.ws_url("/")).await;
    resumed
        .send(
            6,
            json!({"token": token("1"), "session_id": session_id, "seq": seq}),
        )
        .await;
    let mut contents = Vec::new();
    loop {
        let frame = resumed.recv().await;
        match frame["t"].as_str() {
            Some("MESSAGE_CREATE") => {
                contents.push(frame["d"]["content"].as_str().unwrap().to_owned())
            }
            Some("RESUMED") => {
                assert!(frame["d"]["heartbeat_interval"].is_u64());
                break;
            }
            _ => {}
        }
    }
    assert_eq!(contents, ["missed 0", "missed 1", "missed 2"]);
    stack.chat.post("930", "2", "live again").await;
    assert_eq!(
        resumed.recv_t("MESSAGE_CREATE").await["content"],
        "live again"
    );

    // An unknown session gets a fresh READY, as v3 did.
    let mut stale = Discord::open(&a.ws_url("/")).await;
    stale
        .send(
            6,
            json!({"token": token("1"), "session_id": "no-such-session", "seq": 1}),
        )
        .await;
    assert_eq!(stale.recv_t("READY").await["user"]["id"], "1");
}

#[tokio::test]
async fn a_draining_node_sends_op_7_with_the_other_nodes_url() {
    let (_stack, mut a, b) = two_nodes(&[]);
    let mut client = Discord::connect(&a, "1").await;
    let both = || async { registered(&_stack, &[&a, &b]).await };
    eventually("both nodes registered", Duration::from_secs(10), both).await;
    // Nodes read the fleet on their own beat (a second by default); give them one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.terminate();
    let frame = client.recv().await;
    assert_eq!(frame, json!({"op": 7, "d": {"url": b.ws_url("/")}}));
    assert_eq!(client.ws.expect_close().await, Some(4000));
}
