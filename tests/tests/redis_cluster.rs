//! The multi-node flows on a real 3-master Redis Cluster: the gateways use sharded pub/sub
//! (SSUBSCRIBE), the dispatcher's publish script SPUBLISHes, and every key a script touches
//! shares a hash slot. Presence (one user followed, everyone followed through the fan-in
//! channel, a killed node swept), typing and voice cross nodes there too.

use integration_tests::{
    Api, Chat, Dispatcher, DispatcherOpts, Gateway, GatewayOpts, NativeClient, RedisCluster,
    eventually, token,
};
use serde_json::json;
use std::time::Duration;

struct ClusterStack {
    cluster: RedisCluster,
    dispatcher: Dispatcher,
    chat: Chat,
}

impl ClusterStack {
    fn start() -> Self {
        let cluster = RedisCluster::start();
        let dispatcher = Dispatcher::start(DispatcherOpts::new(cluster.url()));
        let chat = Chat::new(&dispatcher.base_url());
        ClusterStack {
            cluster,
            dispatcher,
            chat,
        }
    }

    fn gateway(&self, id: &str) -> Gateway {
        Gateway::start(
            GatewayOpts::new(self.cluster.url(), id)
                .arg("--registry-ttl-ms")
                .arg("1000")
                .arg("--live-ttl-ms")
                .arg("900")
                .arg("--presence-allow-all"),
        )
    }
}

#[tokio::test]
async fn events_reach_subscribers_on_every_node_through_sharded_pubsub() {
    let stack = ClusterStack::start();
    let (a, b) = (stack.gateway("gw-a"), stack.gateway("gw-b"));
    // Several channels, so the rooms land on different shards.
    let channels = ["10", "11", "12", "13", "14", "15"];
    for channel in channels {
        stack.chat.channel(channel, "1", &["2"]).await;
    }
    let mut on_a = NativeClient::connect(&a, "2").await;
    let mut on_b = NativeClient::connect_events(&b, "2").await;
    for channel in channels {
        on_a.subscribe(&format!("channel:{channel}")).await;
        on_b.subscribe(&format!("channel:{channel}")).await;
    }
    for channel in channels {
        stack
            .chat
            .post(channel, "1", &format!("hello {channel}"))
            .await;
        let native = on_a.recv_type("MESSAGE_CREATE").await;
        assert_eq!(native["data"]["content"], format!("hello {channel}"));
        assert_eq!(
            native["data"]["channel_id"],
            json!(channel.parse::<u64>().unwrap())
        );
        let published = on_b.recv_type("channel_message").await;
        assert_eq!(published["room"], format!("channel:{channel}"));
        assert!(
            published["offset"].is_u64(),
            "the history offset rides along: {published}"
        );
    }
    // Global and personal rooms work too.
    stack.chat.channel("20", "1", &[]).await;
    assert_eq!(
        on_a.recv_type("channel_created").await["data"]["channel_id"],
        "20"
    );
    assert_eq!(
        on_b.recv_type("channel_created").await["data"]["channel_id"],
        "20"
    );
}

#[tokio::test]
async fn a_ban_on_one_node_cuts_the_room_on_another() {
    let stack = ClusterStack::start();
    let (a, b) = (stack.gateway("gw-a"), stack.gateway("gw-b"));
    stack.chat.channel("30", "1", &["2", "3"]).await;
    let mut moderator = NativeClient::connect(&a, "1").await;
    moderator.subscribe("channel:30").await;
    let mut banned = NativeClient::connect(&b, "2").await;
    banned.subscribe("channel:30").await;
    let mut bystander = NativeClient::connect(&b, "3").await;
    bystander.subscribe("channel:30").await;

    stack.chat.ban("30", "1", "2").await;
    // The channel's copy (which takes the socket out of the room) and the user's own copy
    // are two rooms on two shards: they may arrive in either order.
    let (mut revoked, mut notice) = (None, None);
    while revoked.is_none() || notice.is_none() {
        let frame = banned.recv_json().await;
        match frame["type"].as_str() {
            Some("UNSUBSCRIBED") => revoked = Some(frame),
            Some("user_banned") if frame["room"] == "user:2" => notice = Some(frame),
            _ => {}
        }
    }
    let (revoked, notice) = (revoked.unwrap(), notice.unwrap());
    assert_eq!(revoked["room"], "channel:30");
    assert_eq!(notice["room"], "user:2");
    assert!(
        notice["data"].get("user_id").is_none(),
        "the user copy has no user_id: {notice}"
    );

    stack.chat.post("30", "1", "after the ban").await;
    assert_eq!(
        bystander.recv_type("MESSAGE_CREATE").await["data"]["content"],
        "after the ban"
    );
    assert_eq!(
        moderator.recv_type("MESSAGE_CREATE").await["data"]["content"],
        "after the ban"
    );
    let retry = banned.try_subscribe("channel:30").await;
    assert_eq!(
        retry,
        json!({"type": "ERROR", "room": "channel:30", "data": "forbidden room"})
    );
}

#[tokio::test]
async fn the_node_registry_and_assignment_work_on_a_cluster() {
    let stack = ClusterStack::start();
    let nodes = [stack.gateway("gw-a"), stack.gateway("gw-b")];
    let urls: Vec<String> = nodes.iter().map(|n| n.ws_url("/api/ws")).collect();
    let api = |user: &str| Api::new(&stack.dispatcher.base_url()).bearer(&token(user));
    eventually(
        "both nodes are assigned users",
        Duration::from_secs(10),
        || async {
            let mut seen = std::collections::BTreeSet::new();
            for i in 0..40 {
                let (status, body) = api(&format!("u{i}")).get("/api/gateway", None).await;
                if status == 200 {
                    seen.insert(body["url"].as_str().unwrap_or_default().to_owned());
                }
            }
            seen.len() == urls.len()
        },
    )
    .await;
    let (status, body) = api("u1").get("/api/gateway", None).await;
    assert_eq!(status, 200);
    let url = body["url"].as_str().unwrap();
    assert!(urls.iter().any(|u| u == url), "{url} is one of {urls:?}");
    let client = NativeClient::connect_url(&format!("{url}?token={}", token("u1"))).await;
    assert_eq!(client.ready()["data"]["user_id"], "u1");
}

#[tokio::test]
async fn presence_typing_and_voice_cross_nodes_on_a_cluster() {
    let stack = ClusterStack::start();
    let (a, b) = (stack.gateway("gw-a"), stack.gateway("gw-b"));
    let mut c = stack.gateway("gw-c");
    stack.chat.channel("30", "1", &["2", "3"]).await;
    stack.chat.voice_channel("31", "1", &["2"]).await;
    let mut one = NativeClient::connect(&a, "1").await;
    let mut all = NativeClient::connect(&a, "4").await;
    one.send_json(json!({"op": "PRESENCE_SUBSCRIBE", "user_id": "2"}))
        .await;
    assert_eq!(
        one.recv_type("INIT_STATE").await["data"]["status"],
        "offline"
    );
    all.send_json(json!({"op": "PRESENCE_SUBSCRIBE", "all": true}))
        .await;
    let everyone = all.recv_type("INIT_STATE").await;
    assert!(everyone["data"].is_object(), "{everyone}");

    // User 2 comes online on another node: the follower of one and of everyone both see it.
    let mut two = NativeClient::connect(&b, "2").await;
    two.heartbeat().await;
    for (who, client) in [("one", &mut one), ("all", &mut all)] {
        let update = client.recv_type("PRESENCE_UPDATE").await;
        assert_eq!(update["room"], "presence:2", "{who}: {update}");
        assert_eq!(update["data"]["status"], "online", "{who}: {update}");
    }

    // Typing and voice cross the nodes.
    one.subscribe("channel:30").await;
    two.send_json(json!({"op": "TYPING", "room": "channel:30"}))
        .await;
    let typing = one.recv_type("user_typing").await;
    assert_eq!(typing["data"]["user_id"], "2", "{typing}");
    one.subscribe("channel:31").await;
    two.subscribe("channel:31").await;
    two.send_json(json!({"op": "VOICE_STATE", "room": "channel:31", "joined": true}))
        .await;
    let voice = one.recv_type("VOICE_STATE_UPDATE").await;
    assert_eq!(voice["data"]["member_user_ids"], json!([2]), "{voice}");

    // A node killed: another sweeps it, and everyone's follower sees its user go offline.
    let mut three = NativeClient::connect(&c, "3").await;
    three.heartbeat().await;
    let online = all.recv_type("PRESENCE_UPDATE").await;
    assert_eq!(online["room"], "presence:3", "{online}");
    c.kill();
    let offline = all.recv_json_within(Duration::from_secs(10)).await;
    assert_eq!(offline["room"], "presence:3", "{offline}");
    assert_eq!(offline["data"]["status"], "offline", "{offline}");
}
