//! Message history over HTTP (docs/api.md): recent messages newest first, edits and
//! deletions applied, for members and participants only; the page's position lets a client
//! continue live with `SUBSCRIBE {since}` and miss nothing.

use integration_tests::*;
use serde_json::{Value, json};

const PATH: &str = "/api/v1/channels/42/messages";

async fn setup() -> Stack {
    let stack = Stack::start();
    stack.chat.channel("42", "1", &["7"]).await;
    stack
}

fn contents(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages: {page}"))
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn members_read_recent_messages_newest_first_with_edits_and_deletions() {
    let stack = setup().await;
    let one = stack.chat.as_user("1");
    for (id, content) in [("a", "first"), ("b", "second"), ("c", "third")] {
        stack.chat.post_with_id("42", "1", content, Some(id)).await;
    }
    let (status, _) = one
        .patch(
            &format!("{PATH}/a"),
            Some(json!({"content": "first, edited"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(one.delete(&format!("{PATH}/b"), None).await.0, 204);

    let (status, page) = stack.chat.as_user("7").get(PATH, None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(contents(&page), ["third", "first, edited"]);
    let first = &page["messages"][1];
    assert_eq!(first["id"], "a");
    assert_eq!(first["edited"], true);
    assert_eq!(first["author_id"], "1");
    // The position is the room's: every event so far, messages or not.
    assert!(page["position"]["offset"].as_u64().unwrap() >= 6, "{page}");
    assert!(page["position"]["epoch"].is_string());
}

#[tokio::test]
async fn pages_go_back_by_offset() {
    let stack = setup().await;
    for i in 0..5 {
        stack.chat.post("42", "1", &format!("m{i}")).await;
    }
    let api = stack.chat.as_user("7");
    let (_, newest) = api.get(&format!("{PATH}?limit=2"), None).await;
    assert_eq!(contents(&newest), ["m4", "m3"]);
    let oldest_offset = newest["messages"][1]["offset"].as_u64().unwrap();
    let (_, older) = api
        .get(&format!("{PATH}?limit=2&before={oldest_offset}"), None)
        .await;
    assert_eq!(contents(&older), ["m2", "m1"]);
    let (_, rest) = api
        .get(
            &format!("{PATH}?before={}", older["messages"][1]["offset"]),
            None,
        )
        .await;
    assert_eq!(contents(&rest), ["m0"]);
}

#[tokio::test]
async fn outsiders_and_bad_queries_get_json_errors() {
    let stack = setup().await;
    let (status, body) = stack.chat.as_user("9").get(PATH, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_member")),
        "{body}"
    );
    stack.chat.ban("42", "1", "7").await;
    let (status, body) = stack.chat.as_user("7").get(PATH, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("banned")),
        "{body}"
    );
    let (status, body) = stack
        .chat
        .as_user("1")
        .get("/api/v1/channels/nope/messages", None)
        .await;
    assert_eq!(status, 404, "{body}");
    for query in ["limit=0", "limit=101", "limit=x", "before=-1", "before=abc"] {
        let (status, body) = stack
            .chat
            .as_user("1")
            .get(&format!("{PATH}?{query}"), None)
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_field")),
            "{query}: {body}"
        );
    }
    let (status, _) = Api::new(&stack.dispatcher.base_url()).get(PATH, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn dm_history_is_for_participants() {
    let stack = setup().await;
    stack.chat.dm("d1", &["1", "7"]).await;
    stack.chat.post_dm("d1", "1", "hello", "x1").await;
    stack.chat.post_dm("d1", "7", "hi", "x2").await;
    let (status, page) = stack
        .chat
        .as_user("7")
        .get("/api/v1/dms/d1/messages", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(contents(&page), ["hi", "hello"]);
    assert_eq!(page["messages"][0]["direct_thread_id"], "d1");
    let (status, body) = stack
        .chat
        .as_user("9")
        .get("/api/v1/dms/d1/messages", None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_participant")),
        "{body}"
    );
}

#[tokio::test]
async fn a_page_then_subscribe_since_its_position_misses_nothing() {
    let stack = setup().await;
    let gateway = stack.gateway("gw-h", &[]);
    stack.chat.post("42", "1", "old").await;
    let (_, page) = stack.chat.as_user("7").get(PATH, None).await;
    assert_eq!(contents(&page), ["old"]);
    // Posted between the page and the socket.
    stack.chat.post("42", "1", "between").await;
    let mut client = NativeClient::connect(&gateway, "7").await;
    let reply = client
        .try_subscribe_since("channel:42", &page["position"])
        .await;
    assert_eq!(reply["data"]["recovered"], true, "{reply}");
    let frame = client.recv_type("MESSAGE_CREATE").await;
    assert_eq!(frame["data"]["content"], "between");
}
