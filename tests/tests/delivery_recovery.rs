//! Recovery on subscribe (docs/protocol.md, "Delivery"): `SUBSCRIBED` carries the room's
//! position, and `SUBSCRIBE {room, since}` replays what a client missed, then continues live
//! with no gap and no repeat, or answers `recovered: false` when history cannot.

use integration_tests::*;
use serde_json::{Value, json};

const ROOM: &str = "channel:42";

async fn setup() -> (Stack, Gateway) {
    let stack = Stack::start();
    let gateway = stack.gateway("gw-rec", &[]);
    stack.chat.channel("42", "1", &["7"]).await;
    (stack, gateway)
}

/// Reads MESSAGE_CREATE frames until `n` arrived; returns (offset, content) of each.
async fn messages(client: &mut NativeClient, n: usize) -> Vec<(u64, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        let frame = client.recv_type("MESSAGE_CREATE").await;
        got.push(offset_and_content(&frame));
    }
    got
}

fn offset_and_content(frame: &Value) -> (u64, String) {
    let offset = frame["offset"]
        .as_u64()
        .unwrap_or_else(|| panic!("no offset: {frame}"));
    let content = frame["data"]["content"].as_str().unwrap().to_owned();
    (offset, content)
}

#[tokio::test]
async fn subscribed_carries_the_rooms_position_and_events_their_offset() {
    let (stack, gateway) = setup().await;
    for i in 0..3 {
        stack.chat.post("42", "1", &format!("m{i}")).await;
    }
    let mut client = NativeClient::connect(&gateway, "7").await;
    let position = client.subscribe(ROOM).await;
    // The channel's history: member 7 joined (offset 1), then the three messages.
    assert_eq!(position["offset"], 4, "{position}");
    assert!(
        position.get("recovered").is_none(),
        "no since, no recovered: {position}"
    );
    stack.chat.post("42", "1", "live").await;
    assert_eq!(messages(&mut client, 1).await, [(5, "live".to_owned())]);
}

#[tokio::test]
async fn since_replays_what_was_missed_then_continues_live() {
    let (stack, gateway) = setup().await;
    let mut first = NativeClient::connect(&gateway, "7").await;
    let position = first.subscribe(ROOM).await;
    stack.chat.post("42", "1", "seen").await;
    let seen = messages(&mut first, 1).await;
    drop(first);
    for i in 0..5 {
        stack.chat.post("42", "1", &format!("missed {i}")).await;
    }

    let mut again = NativeClient::connect(&gateway, "7").await;
    let since = json!({"offset": seen[0].0, "epoch": position["epoch"]});
    let reply = again.try_subscribe_since(ROOM, &since).await;
    assert_subscribed(&reply, ROOM);
    assert_eq!(reply["data"]["recovered"], true, "{reply}");
    let seen_offset = seen[0].0;
    assert_eq!(reply["data"]["offset"], seen_offset + 5, "{reply}");
    assert_eq!(reply["data"]["epoch"], position["epoch"]);
    let replayed = messages(&mut again, 5).await;
    let want: Vec<(u64, String)> = (0..5)
        .map(|i| (seen_offset + 1 + i, format!("missed {i}")))
        .collect();
    assert_eq!(replayed, want);
    stack.chat.post("42", "1", "live").await;
    assert_eq!(
        messages(&mut again, 1).await,
        [(seen_offset + 6, "live".to_owned())]
    );
    // Nothing else: the next frame is a marker published after.
    let marker = stack.publish_marker(ROOM, "end");
    assert_eq!(again.recv_until(&marker).await, Vec::<Value>::new());
}

#[tokio::test]
async fn since_while_messages_keep_coming_has_no_gap_and_no_repeat() {
    let (stack, gateway) = setup().await;
    let mut watcher = NativeClient::connect(&gateway, "7").await;
    let position = watcher.subscribe(ROOM).await;
    const TOTAL: usize = 300;
    let chat = stack.chat.clone();
    let poster = tokio::spawn(async move {
        for i in 0..TOTAL {
            chat.post("42", "1", &format!("n{i}")).await;
        }
    });
    // Join mid-stream, from the 20th message, while the poster goes on.
    let base = position["offset"].as_u64().unwrap();
    messages(&mut watcher, 40).await;
    let mut late = NativeClient::connect(&gateway, "7").await;
    let since = json!({"offset": base + 20, "epoch": position["epoch"]});
    let reply = late.try_subscribe_since(ROOM, &since).await;
    assert_eq!(reply["data"]["recovered"], true, "{reply}");
    poster.await.unwrap();
    let got = messages(&mut late, TOTAL - 20).await;
    let offsets: Vec<u64> = got.iter().map(|(o, _)| *o).collect();
    let want: Vec<u64> = (base + 21..=base + TOTAL as u64).collect();
    assert_eq!(offsets, want, "every offset after the 20th once, in order");
    for (offset, content) in &got {
        assert_eq!(content, &format!("n{}", offset - base - 1));
    }
}

#[tokio::test]
async fn since_that_history_cannot_answer_is_not_recovered() {
    let (stack, gateway) = setup().await;
    let mut client = NativeClient::connect(&gateway, "7").await;
    let position = client.subscribe(ROOM).await;
    stack.chat.post("42", "1", "one").await;
    messages(&mut client, 1).await;
    client.unsubscribe(ROOM).await;
    stack.chat.post("42", "1", "two").await;

    // Another epoch (the history was reset since): nothing is replayed.
    let reply = client
        .try_subscribe_since(ROOM, &json!({"offset": 1, "epoch": "0000other000"}))
        .await;
    assert_subscribed(&reply, ROOM);
    assert_eq!(reply["data"]["recovered"], false, "{reply}");
    assert_eq!(
        reply["data"]["offset"],
        position["offset"].as_u64().unwrap() + 2
    );
    assert_eq!(reply["data"]["epoch"], position["epoch"]);
    let marker = stack.publish_marker(ROOM, "a");
    assert_eq!(
        client.recv_until(&marker).await,
        Vec::<Value>::new(),
        "no replay"
    );

    // An offset the room never reached.
    client.unsubscribe(ROOM).await;
    let reply = client
        .try_subscribe_since(ROOM, &json!({"offset": 99, "epoch": position["epoch"]}))
        .await;
    assert_eq!(reply["data"]["recovered"], false, "{reply}");
}

#[tokio::test]
async fn since_older_than_the_retained_history_is_not_recovered() {
    let stack = Stack::start_with_dispatcher_args(&["--history-max-len", "5"]);
    let gateway = stack.gateway("gw-rec", &[]);
    stack.chat.channel("42", "1", &["7"]).await;
    let mut client = NativeClient::connect(&gateway, "7").await;
    let position = client.subscribe(ROOM).await;
    drop(client);
    // Redis trims whole blocks of 100 entries (MAXLEN ~): go well past one.
    for i in 0..250 {
        stack.chat.post("42", "1", &format!("m{i}")).await;
    }
    let mut client = NativeClient::connect(&gateway, "7").await;
    let reply = client
        .try_subscribe_since(ROOM, &json!({"offset": 0, "epoch": position["epoch"]}))
        .await;
    assert_eq!(reply["data"]["recovered"], false, "{reply}");
    assert_eq!(
        reply["data"]["offset"],
        position["offset"].as_u64().unwrap() + 250
    );
}

#[tokio::test]
async fn a_malformed_since_gets_an_error_naming_the_field_and_the_socket_stays() {
    let (_stack, gateway) = setup().await;
    let mut client = NativeClient::connect(&gateway, "7").await;
    for (since, message) in [
        (json!("5"), "since must be an object {offset, epoch}"),
        (
            json!({"offset": "5", "epoch": "e"}),
            "since.offset must be a non-negative integer",
        ),
        (
            json!({"offset": -5, "epoch": "e"}),
            "since.offset must be a non-negative integer",
        ),
        (
            json!({"offset": 5}),
            "since.epoch must be the room's epoch string",
        ),
    ] {
        let reply = client.try_subscribe_since(ROOM, &since).await;
        assert_eq!(
            reply,
            json!({"type": "ERROR", "data": message}),
            "since {since}"
        );
    }
    client.subscribe(ROOM).await;
}

#[tokio::test]
async fn since_works_in_a_room_joined_automatically() {
    let (stack, gateway) = setup().await;
    // user:7 is joined at connect; SUBSCRIBE tells its position, and `since` replays it.
    let mut client = NativeClient::connect(&gateway, "7").await;
    let position = client.subscribe("user:7").await;
    client.unsubscribe("user:7").await;
    stack.chat.ban("42", "1", "7").await;
    let since = json!({"offset": position["offset"], "epoch": position["epoch"]});
    let reply = client.try_subscribe_since("user:7", &since).await;
    assert_eq!(reply["data"]["recovered"], true, "{reply}");
    let banned = client.recv_type("user_banned").await;
    assert_eq!(banned["room"], "user:7");
    assert_eq!(banned["data"]["channel_id"], "42");
    assert_eq!(
        banned["offset"].as_u64(),
        Some(position["offset"].as_u64().unwrap() + 1)
    );
}

#[tokio::test]
async fn a_room_without_history_yet_recovers_from_its_first_event() {
    let (stack, gateway) = setup().await;
    stack.chat.dm("d1", &["1", "7"]).await;
    let mut client = NativeClient::connect(&gateway, "7").await;
    let position = client.subscribe("dm:d1").await;
    assert_eq!(
        position,
        json!({"offset": 0, "epoch": ""}),
        "no history yet"
    );
    drop(client);
    stack.chat.post_dm("d1", "1", "first", "f1").await;
    stack.chat.post_dm("d1", "1", "second", "f2").await;
    let mut client = NativeClient::connect(&gateway, "7").await;
    let reply = client.try_subscribe_since("dm:d1", &position).await;
    assert_eq!(reply["data"]["recovered"], true, "{reply}");
    assert_eq!(reply["data"]["offset"], 2);
    for id in ["f1", "f2"] {
        let frame = client.recv_type("DIRECT_MESSAGE_CREATE").await;
        assert_eq!(frame["data"]["id"], id);
    }
}
