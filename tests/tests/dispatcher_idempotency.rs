//! `Idempotency-Key` on dispatcher writes (docs/api.md): a retry gets the first answer and
//! publishes nothing; reusing a key for another body is refused.

use integration_tests::*;
use serde_json::{Value, json};

const PATH: &str = "/api/v1/channels/42/messages";

async fn setup() -> Stack {
    let stack = Stack::start();
    stack.chat.channel("42", "1", &["7"]).await;
    stack
}

async fn post(api: &Api, body: Value, key: &str) -> (u16, bool, Value) {
    let (status, headers, body) = api
        .with_headers(Method::POST, PATH, Some(body), &[("Idempotency-Key", key)])
        .await;
    let replayed = headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (status, replayed, body)
}

fn history_len(stack: &Stack) -> u64 {
    stack
        .redis
        .cli(&["XLEN", "history:{channel:42}"])
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_retry_gets_the_first_answer_and_publishes_nothing() {
    let stack = setup().await;
    let api = stack.chat.as_user("1");
    let before = history_len(&stack);
    let (status, replayed, first) = post(&api, json!({"content": "hi"}), "k-1").await;
    assert_eq!((status, replayed), (201, false), "{first}");
    for _ in 0..3 {
        let (status, replayed, again) = post(&api, json!({"content": "hi"}), "k-1").await;
        assert_eq!((status, replayed), (201, true));
        assert_eq!(again, first, "the same message id and body");
    }
    assert_eq!(history_len(&stack), before + 1, "published once");
    // Another key is another request.
    let (status, _, other) = post(&api, json!({"content": "hi"}), "k-2").await;
    assert_eq!(status, 201);
    assert_ne!(other["id"], first["id"]);
    assert_eq!(history_len(&stack), before + 2);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused() {
    let stack = setup().await;
    let api = stack.chat.as_user("1");
    assert_eq!(post(&api, json!({"content": "a"}), "k").await.0, 201);
    let (status, _, body) = post(&api, json!({"content": "b"}), "k").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "idempotency_key_reused");
}

#[tokio::test]
async fn keys_belong_to_their_caller() {
    let stack = setup().await;
    let (one, seven) = (stack.chat.as_user("1"), stack.chat.as_user("7"));
    let (_, _, first) = post(&one, json!({"content": "x"}), "shared").await;
    let (status, replayed, second) = post(&seven, json!({"content": "x"}), "shared").await;
    assert_eq!((status, replayed), (201, false));
    assert_ne!(first["id"], second["id"]);
}

#[tokio::test]
async fn errors_are_kept_too_and_bad_keys_are_refused() {
    let stack = setup().await;
    // A 4xx is the request's answer: a retry gets it again.
    let outsider = stack.chat.as_user("9");
    let (status, _, body) = post(&outsider, json!({"content": "x"}), "e").await;
    assert_eq!(status, 403, "{body}");
    let (status, replayed, again) = post(&outsider, json!({"content": "x"}), "e").await;
    assert_eq!((status, replayed), (403, true));
    assert_eq!(again, body);

    let api = stack.chat.as_user("1");
    let long = "k".repeat(256);
    let (status, _, body) = post(&api, json!({"content": "x"}), &long).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_field");
    // No token: the usual 401, key or not.
    let anonymous = Api::new(&stack.dispatcher.base_url());
    assert_eq!(post(&anonymous, json!({"content": "x"}), "z").await.0, 401);
}
