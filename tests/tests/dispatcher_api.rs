//! The dispatcher binary over a real Redis: every endpoint of DESIGN §5, authentication and
//! validation failures, the events really published (read back with a pub/sub subscriber and
//! from the history stream), and 503 when Redis is gone.
//!
//! Needs `redis-server` on PATH and the binaries built first (`cargo build --bins`).

use integration_tests::{
    Api, Dispatcher, DispatcherOpts, Method, RedisServer, SECRET, SERVICE_TOKEN, eventually, token,
    token_named,
};
use serde_json::{Value, json};
use shared::broker::{Broker, MessageStream, Subscriber};
use shared::options::BrokerOptions;
use std::time::{Duration, Instant};

const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
const GATEWAY_URL: &str = "ws://gateway.test:8080/api/ws";

/// A Redis and a dispatcher on it (broker command timeout 500 ms, for the outage test).
struct Stack {
    redis: RedisServer,
    dispatcher: Dispatcher,
}

impl Stack {
    fn start() -> Stack {
        let redis = RedisServer::start();
        let opts = DispatcherOpts::new(redis.url())
            .gateway_url(GATEWAY_URL)
            .arg("--redis-command-timeout-ms")
            .arg("500");
        let dispatcher = Dispatcher::start(opts);
        Stack { redis, dispatcher }
    }

    /// The API as `user`, whose token carries the name `<user>-name`.
    fn user(&self, user: &str) -> Client {
        self.bearer(&token_named(user, &format!("{user}-name")))
    }

    fn service(&self) -> Client {
        self.bearer(SERVICE_TOKEN)
    }

    fn bearer(&self, token: &str) -> Client {
        Client(Api::new(&self.dispatcher.base_url()).bearer(token))
    }

    fn anonymous(&self) -> Client {
        Client(Api::new(&self.dispatcher.base_url()))
    }

    /// A subscription to `rooms` on the same Redis.
    async fn events(&self, rooms: &[&str]) -> Events {
        let opts = BrokerOptions {
            redis_url: self.redis.url(),
            ..BrokerOptions::default()
        };
        let broker = Broker::connect(&opts).await.expect("connect to redis");
        let subscriber = broker.subscriber().await.expect("a subscriber");
        let rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
        subscriber.subscribe(&rooms).await.expect("subscribe");
        let stream = subscriber.messages();
        Events {
            _subscriber: subscriber,
            stream,
        }
    }

    /// `owner` creates channel `id`.
    async fn channel(&self, owner: &str, id: &str, public: bool) {
        let body = json!({"name": format!("{id} room"), "id": id, "public": public});
        self.user(owner).post("channels", body).await.is(201);
    }

    /// The service adds `user` to `channel` with `role`.
    async fn member(&self, channel: &str, user: &str, role: &str) {
        let path = format!("channels/{channel}/members/{user}");
        self.service()
            .put(&path, json!({"role": role}))
            .await
            .is(201);
    }
}

/// The API client with paths relative to `/api/v1` (unless they start with `/`) and a JSON
/// body, `Value::Null` meaning none.
struct Client(Api);

impl Client {
    async fn call(&self, method: &str, path: &str, body: Value) -> Reply {
        let path = match path.strip_prefix('/') {
            Some(_) => path.to_owned(),
            None => format!("/api/v1/{path}"),
        };
        let body = (!body.is_null()).then_some(body);
        let (status, body) = match method {
            "GET" => self.0.get(&path, body).await,
            "POST" => self.0.post(&path, body).await,
            "PUT" => self.0.put(&path, body).await,
            "PATCH" => self.0.patch(&path, body).await,
            "DELETE" => self.0.delete(&path, body).await,
            other => panic!("no method {other}"),
        };
        Reply { status, body }
    }

    async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, Value::Null).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, body).await
    }

    async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, body).await
    }

    async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call("PATCH", path, body).await
    }

    async fn delete(&self, path: &str, body: Value) -> Reply {
        self.call("DELETE", path, body).await
    }

    /// POSTs `body` verbatim with `content_type`.
    async fn post_raw(&self, path: &str, body: &str, content_type: &str) -> Reply {
        let path = format!("/api/v1/{path}");
        let (status, body) = self
            .0
            .send_raw(Method::POST, &path, body, content_type)
            .await;
        Reply { status, body }
    }
}

/// An answer: status and JSON body.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    /// Asserts the status; returns the body.
    #[track_caller]
    fn is(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        self.body
    }

    /// Asserts an API error: the status and `{"error": <text>, "code": code}`.
    #[track_caller]
    fn fails(self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.body["code"].as_str()),
            (status, Some(code)),
            "{}",
            self.body
        );
        assert!(self.body["error"].is_string(), "{}", self.body);
    }
}

/// Pub/sub messages as a gateway node receives them.
struct Events {
    _subscriber: Subscriber,
    stream: MessageStream,
}

impl Events {
    /// The next message, which must be a well-formed envelope of `kind` on `room`; its data.
    async fn expect(&mut self, room: &str, kind: &str) -> Value {
        let message = tokio::time::timeout(EVENT_TIMEOUT, self.stream.recv())
            .await
            .unwrap_or_else(|_| panic!("no {kind} on {room} within {EVENT_TIMEOUT:?}"))
            .expect("the subscription is alive");
        let envelope: Value = serde_json::from_slice(&message.payload).expect("a JSON payload");
        assert_eq!(message.channel, room.as_bytes(), "{envelope}");
        assert_envelope(&envelope, kind);
        envelope["data"].clone()
    }
}

impl Events {
    /// The next message's type and data, whatever they are.
    async fn next(&mut self) -> (String, Value) {
        let message = tokio::time::timeout(EVENT_TIMEOUT, self.stream.recv())
            .await
            .unwrap_or_else(|_| panic!("no event within {EVENT_TIMEOUT:?}"))
            .expect("the subscription is alive");
        let envelope: Value = serde_json::from_slice(&message.payload).expect("a JSON payload");
        let kind = envelope["type"].as_str().unwrap_or_default().to_owned();
        assert_envelope(&envelope, &kind);
        (kind, envelope["data"].clone())
    }
}

/// Seed 001's `{type, timestamp, data}` plus `id` (a uuid), `offset` (a number, 1 and up)
/// and `epoch` (a string); typing indicators are not kept in history and have neither.
fn assert_envelope(envelope: &Value, kind: &str) {
    assert_eq!(envelope["type"], kind, "{envelope}");
    assert!(envelope["data"].is_object(), "{envelope}");
    assert_rfc3339_millis(&envelope["timestamp"]);
    assert_uuid(&envelope["id"]);
    if kind == "user_typing" {
        assert!(
            envelope.get("offset").is_none(),
            "typing is transient: {envelope}"
        );
        return;
    }
    let offset = envelope["offset"].as_u64().expect("a numeric offset");
    assert!(offset >= 1, "{envelope}");
    assert!(envelope["epoch"].is_string(), "an epoch: {envelope}");
}

/// `2025-01-15T10:30:00.000Z`
#[track_caller]
fn assert_rfc3339_millis(value: &Value) {
    let text = value.as_str().unwrap_or_default();
    let digits = |c: char| if c.is_ascii_digit() { '9' } else { c };
    let shape: String = text.chars().map(digits).collect();
    assert_eq!(shape, "9999-99-99T99:99:99.999Z", "{value}");
}

#[track_caller]
fn assert_uuid(value: &Value) {
    let text = value.as_str().unwrap_or_default();
    assert!(
        text.len() == 36 && text.matches('-').count() == 4,
        "not a uuid: {value}"
    );
}

#[tokio::test]
async fn every_endpoint_needs_a_valid_token() {
    let stack = Stack::start();
    let expired = shared::auth::mint_hs256(SECRET.as_bytes(), "u", None, 0);
    let wrong_key = shared::auth::mint_hs256(b"another secret", "u", None, 3600);
    let now = jsonwebtoken::get_current_timestamp();
    let not_yet_valid = integration_tests::token_with_claims(
        &json!({"sub": "u", "exp": now + 7200, "nbf": now + 3600}),
    );
    // A zero-lifetime token is valid until the clock passes its `exp` second.
    eventually("the zero-lifetime token expires", EVENT_TIMEOUT, || async {
        stack.bearer(&expired).get("/api/gateway").await.status == 401
    })
    .await;

    let endpoints = [
        ("POST", "channels", json!({"name": "n"})),
        ("PATCH", "channels/c", json!({"name": "n"})),
        ("DELETE", "channels/c", Value::Null),
        ("POST", "channels/c/messages", json!({"content": "hi"})),
        ("PATCH", "channels/c/messages/m", json!({"content": "hi"})),
        ("DELETE", "channels/c/messages/m", Value::Null),
        ("PUT", "channels/c/members/u", Value::Null),
        ("PATCH", "channels/c/members/u", json!({"role": "member"})),
        ("DELETE", "channels/c/members/u", Value::Null),
        ("PUT", "channels/c/bans/u", json!({"motive": "m"})),
        ("DELETE", "channels/c/bans/u", json!({"motive": "m"})),
        ("POST", "channels/c/kicks", json!({"user_id": "u"})),
        ("POST", "channels/c/typing", Value::Null),
        ("POST", "dms", json!({"participants": ["a", "b"]})),
        ("POST", "dms/d/messages", json!({"content": "hi"})),
        ("GET", "/api/gateway", Value::Null),
    ];
    let callers = [
        ("no token", stack.anonymous()),
        ("garbage", stack.bearer("not-a-jwt")),
        ("expired", stack.bearer(&expired)),
        ("wrong key", stack.bearer(&wrong_key)),
        (
            "not valid before an hour from now",
            stack.bearer(&not_yet_valid),
        ),
    ];
    for (what, client) in &callers {
        for (method, path, body) in &endpoints {
            let reply = client.call(method, path, body.clone()).await;
            assert_eq!(reply.status, 401, "{what}: {method} {path}: {}", reply.body);
            reply.fails(401, "unauthorized");
        }
    }
    // A service token is not a user: it gets no gateway URL.
    stack
        .service()
        .get("/api/gateway")
        .await
        .fails(401, "unauthorized");
}

#[tokio::test]
async fn channels_are_created_updated_and_deleted() {
    let stack = Stack::start();
    let owner = stack.user("owner");
    let mut events = stack.events(&["global", "channel:c1"]).await;

    let body = json!({"name": "general", "id": "c1", "kind": "voice", "public": true});
    let channel = owner.post("channels", body).await.is(201);
    assert_rfc3339_millis(&channel["created_at"]);
    let expected = json!({"id": "c1", "name": "general", "kind": "voice", "public": true,
                          "created_at": channel["created_at"]});
    assert_eq!(channel, expected);
    let data = events.expect("global", "channel_created").await;
    let expected = json!({"channel_id": "c1", "channel_name": "general", "kind": "voice",
                          "public": true});
    assert_eq!(data, expected);
    // The event is also in the room's history stream.
    let history = stack.redis.cli(&["XRANGE", "history:{global}", "-", "+"]);
    assert!(history.contains("channel_created"), "{history}");

    owner
        .post("channels", json!({"name": "n", "id": "c1"}))
        .await
        .fails(409, "conflict");
    let numeric = owner
        .post("channels", json!({"name": "n", "id": 42}))
        .await
        .is(201);
    assert_eq!(
        (&numeric["id"], &numeric["kind"]),
        (&json!("42"), &json!("text"))
    );
    let generated = owner.post("channels", json!({"name": "n"})).await.is(201);
    assert_uuid(&generated["id"]);
    assert_eq!(generated["public"], false);
    events.expect("global", "channel_created").await;
    events.expect("global", "channel_created").await;

    let updated = owner
        .patch("channels/c1", json!({"name": "main"}))
        .await
        .is(200);
    assert_eq!(
        (&updated["name"], &updated["public"]),
        (&json!("main"), &json!(true))
    );
    let data = events.expect("channel:c1", "channel_updated").await;
    assert_eq!(data, json!({"channel_id": "c1", "name": "main"}));
    owner
        .patch("channels/c1", json!({"public": false}))
        .await
        .is(200);
    let data = events.expect("channel:c1", "channel_updated").await;
    assert_eq!(data, json!({"channel_id": "c1", "public": false}));

    // Update and delete need admin or owner.
    let rename = json!({"name": "x"});
    let stranger = stack.user("stranger");
    stranger
        .patch("channels/c1", rename.clone())
        .await
        .fails(403, "not_member");
    stack.member("c1", "mod", "moderator").await;
    stack.member("c1", "adm", "admin").await;
    let moderator = stack.user("mod");
    moderator
        .patch("channels/c1", rename.clone())
        .await
        .fails(403, "forbidden");
    moderator
        .delete("channels/c1", Value::Null)
        .await
        .fails(403, "forbidden");
    owner
        .patch("channels/c1", json!({}))
        .await
        .fails(400, "invalid_field");
    owner
        .patch("channels/c1", json!({"kind": "text"}))
        .await
        .fails(400, "invalid_body");
    owner
        .patch("channels/c1", json!({"name": ""}))
        .await
        .fails(400, "invalid_field");
    stack
        .user("adm")
        .patch("channels/c1", rename.clone())
        .await
        .is(200);

    let mut events = stack.events(&["channel:c1"]).await;
    stack
        .user("adm")
        .delete("channels/c1", Value::Null)
        .await
        .is(204);
    let data = events.expect("channel:c1", "channel_deleted").await;
    assert_eq!(data, json!({"channel_id": "c1"}));
    owner
        .patch("channels/c1", rename)
        .await
        .fails(404, "not_found");
    owner
        .delete("channels/c1", Value::Null)
        .await
        .fails(404, "not_found");
}

#[tokio::test]
async fn channel_bodies_are_validated() {
    let stack = Stack::start();
    let user = stack.user("u");
    let cases = [
        (json!({}), "invalid_body"),
        (json!({"name": 5}), "invalid_body"),
        (json!({"name": "n", "kind": "video"}), "invalid_body"),
        (json!({"name": "n", "public": "yes"}), "invalid_body"),
        (json!({"name": "n", "id": "bad id"}), "invalid_body"),
        (json!({"name": "n", "id": -1}), "invalid_body"),
        (json!({"name": "n", "colour": "red"}), "invalid_body"),
        (json!({"name": ""}), "invalid_field"),
        (json!({"name": "x".repeat(101)}), "invalid_field"),
    ];
    for (body, code) in cases {
        user.post("channels", body).await.fails(400, code);
    }
    let json = "application/json";
    user.post_raw("channels", "{\"name\":", json)
        .await
        .fails(400, "invalid_json");
    let plain = user
        .post_raw("channels", "{\"name\":\"n\"}", "text/plain")
        .await;
    plain.fails(415, "unsupported_media_type");
    user.post("channels", Value::Null)
        .await
        .fails(415, "unsupported_media_type");
}

#[tokio::test]
async fn messages_are_posted_replied_edited_and_deleted() {
    let stack = Stack::start();
    stack.channel("owner", "c", false).await;
    stack.member("c", "ann", "member").await;
    stack.member("c", "bob", "member").await;
    stack.member("c", "mod", "moderator").await;
    let (ann, bob, moderator) = (stack.user("ann"), stack.user("bob"), stack.user("mod"));
    let mut events = stack.events(&["channel:c"]).await;

    let message = ann
        .post(
            "channels/c/messages",
            json!({"content": "hello", "id": "m1"}),
        )
        .await;
    let message = message.is(201);
    let created_at = message["created_at"].clone();
    assert_rfc3339_millis(&created_at);
    let expected = json!({"id": "m1", "channel_id": "c", "author_id": "ann", "content": "hello",
                          "created_at": created_at});
    assert_eq!(message, expected);
    let data = events.expect("channel:c", "channel_message").await;
    let expected = json!({"channel_id": "c", "message_id": "m1", "user_id": "ann",
                          "username": "ann-name", "content": "hello", "id": "m1",
                          "author_id": "ann", "created_at": created_at});
    assert_eq!(data, expected);

    let reply = json!({"content": "hi ann", "parent_message_id": "m1", "id": 2});
    let message = bob.post("channels/c/messages", reply).await.is(201);
    assert_eq!(
        (&message["id"], &message["parent_message_id"]),
        (&json!("2"), &json!("m1"))
    );
    let data = events.expect("channel:c", "message_reply").await;
    let ids = (
        &data["message_id"],
        &data["parent_message_id"],
        &data["user_id"],
    );
    assert_eq!(ids, (&json!("2"), &json!("m1"), &json!("bob")));

    let generated = ann
        .post("channels/c/messages", json!({"content": "x"}))
        .await
        .is(201);
    assert_uuid(&generated["id"]);
    events.expect("channel:c", "channel_message").await;
    let again = json!({"content": "again", "id": "m1"});
    ann.post("channels/c/messages", again)
        .await
        .fails(409, "conflict");
    let orphan = json!({"content": "re", "parent_message_id": "nope"});
    ann.post("channels/c/messages", orphan)
        .await
        .fails(404, "not_found");

    // Edit: the author only.
    let m1 = "channels/c/messages/m1";
    let edited = ann.patch(m1, json!({"content": "hello!"})).await.is(200);
    assert_eq!(
        edited,
        json!({"id": "m1", "channel_id": "c", "content": "hello!"})
    );
    let data = events.expect("channel:c", "message_updated").await;
    assert_eq!(
        data,
        json!({"channel_id": "c", "message_id": "m1", "content": "hello!"})
    );
    bob.patch(m1, json!({"content": "mine"}))
        .await
        .fails(403, "forbidden");
    moderator
        .patch(m1, json!({"content": "mod"}))
        .await
        .fails(403, "forbidden");
    ann.patch(m1, json!({"content": ""}))
        .await
        .fails(400, "invalid_field");
    ann.patch(m1, json!({"text": "x"}))
        .await
        .fails(400, "invalid_body");
    let unknown = "channels/c/messages/unknown";
    ann.patch(unknown, json!({"content": "x"}))
        .await
        .fails(404, "not_found");

    // Delete: the author or a moderator.
    bob.delete(m1, Value::Null).await.fails(403, "forbidden");
    bob.delete("channels/c/messages/2", Value::Null)
        .await
        .is(204);
    let data = events.expect("channel:c", "message_deleted").await;
    assert_eq!(data, json!({"channel_id": "c", "message_id": "2"}));
    moderator.delete(m1, Value::Null).await.is(204);
    events.expect("channel:c", "message_deleted").await;
    ann.delete(m1, Value::Null).await.fails(404, "not_found");
    ann.patch(m1, json!({"content": "x"}))
        .await
        .fails(404, "not_found");
}

#[tokio::test]
async fn message_input_is_validated() {
    let stack = Stack::start();
    stack.channel("owner", "c", false).await;
    let owner = stack.user("owner");
    let path = "channels/c/messages";

    // The limit counts characters, not bytes.
    owner
        .post(path, json!({"content": "é".repeat(4000)}))
        .await
        .is(201);
    let long = json!({"content": "x".repeat(4001)});
    owner.post(path, long).await.fails(400, "content_too_long");
    let cases = [
        (json!({"content": ""}), "invalid_field"),
        (json!({"content": "   "}), "invalid_field"),
        (json!({}), "invalid_body"),
        (json!({"content": 5}), "invalid_body"),
        (json!({"content": "x", "id": "a:b"}), "invalid_body"),
        (
            json!({"content": "x", "parent_message_id": true}),
            "invalid_body",
        ),
        (json!({"content": "x", "extra": true}), "invalid_body"),
    ];
    for (body, code) in cases {
        owner.post(path, body).await.fails(400, code);
    }
    let json = "application/json";
    owner
        .post_raw(path, "{not json", json)
        .await
        .fails(400, "invalid_json");
    let huge = json!({"content": "x".repeat(70_000)});
    owner.post(path, huge).await.fails(413, "payload_too_large");

    let hi = json!({"content": "hi"});
    owner
        .post("channels/bad.id/messages", hi.clone())
        .await
        .fails(400, "invalid_id");
    let long_id = format!("channels/{}/messages", "a".repeat(65));
    owner
        .post(&long_id, hi.clone())
        .await
        .fails(400, "invalid_id");
    owner
        .patch("channels/c/messages/a%20b", hi.clone())
        .await
        .fails(400, "invalid_id");
    owner
        .post("channels/nope/messages", hi.clone())
        .await
        .fails(404, "not_found");
    stack
        .user("eve")
        .post(path, hi)
        .await
        .fails(403, "not_member");
    // A user token cannot speak for someone else.
    let impersonation = json!({"content": "x", "author_id": "bob"});
    owner
        .post(path, impersonation)
        .await
        .fails(403, "forbidden");
}

#[tokio::test]
async fn a_service_token_acts_for_the_user_it_names() {
    let stack = Stack::start();
    let service = stack.service();
    let mut events = stack.events(&["channel:s"]).await;

    // The user the service names owns the channel.
    let body = json!({"name": "svc", "id": "s", "user_id": "olga"});
    service.post("channels", body).await.is(201);
    stack
        .user("olga")
        .patch("channels/s", json!({"name": "mine"}))
        .await
        .is(200);
    events.expect("channel:s", "channel_updated").await;

    let path = "channels/s/messages";
    let anonymous = json!({"content": "x"});
    service
        .post(path, anonymous)
        .await
        .fails(400, "acting_user_required");
    // Trusted: the author need not be a member.
    let body = json!({"content": "from the backend", "author_id": 77, "id": "sm"});
    let message = service.post(path, body).await.is(201);
    assert_eq!(message["author_id"], "77");
    let data = events.expect("channel:s", "channel_message").await;
    assert_eq!(
        (&data["user_id"], &data["username"]),
        (&json!("77"), &Value::Null)
    );

    let sm = "channels/s/messages/sm";
    service
        .patch(sm, json!({"content": "edited"}))
        .await
        .is(200);
    events.expect("channel:s", "message_updated").await;
    service.delete(sm, Value::Null).await.is(204);
    events.expect("channel:s", "message_deleted").await;

    let typing = "channels/s/typing";
    service
        .post(typing, Value::Null)
        .await
        .fails(400, "acting_user_required");
    service
        .post(typing, json!({"user_id": "77", "is_typing": true}))
        .await
        .is(204);
    let data = events.expect("channel:s", "user_typing").await;
    assert_eq!(data["user_id"], "77");
    // Targets must still exist.
    let body = json!({"content": "x", "author_id": "1"});
    service
        .post("channels/none/messages", body)
        .await
        .fails(404, "not_found");
}

#[tokio::test]
async fn members_join_change_role_and_leave() {
    let stack = Stack::start();
    stack.channel("owner", "pub", true).await;
    stack.channel("owner", "priv", false).await;
    let (owner, ann, moderator) = (stack.user("owner"), stack.user("ann"), stack.user("mod"));
    let mut events = stack.events(&["channel:pub", "channel:priv"]).await;

    // Self-join of a public channel: 201 once, then 200; the name comes from the token.
    let me = "channels/pub/members/ann";
    let joined = ann.put(me, Value::Null).await.is(201);
    let expected = json!({"channel_id": "pub", "user_id": "ann", "role": "member",
                          "username": "ann-name"});
    assert_eq!(joined, expected);
    let data = events.expect("channel:pub", "member_joined").await;
    assert_eq!(
        data,
        json!({"channel_id": "pub", "user_id": "ann", "username": "ann-name"})
    );
    ann.put(me, json!({})).await.is(200);
    ann.put(me, json!({"role": "admin"}))
        .await
        .fails(403, "forbidden");
    ann.put(me, json!({"role": "king"}))
        .await
        .fails(400, "invalid_body");
    ann.put(me, json!({"username": ""}))
        .await
        .fails(400, "invalid_field");
    ann.put("channels/priv/members/ann", Value::Null)
        .await
        .fails(403, "forbidden");
    ann.put("channels/pub/members/bob", Value::Null)
        .await
        .fails(403, "forbidden");
    ann.put("channels/nope/members/ann", Value::Null)
        .await
        .fails(404, "not_found");

    // A moderator adds people to a private channel, up to their own role.
    let body = json!({"role": "moderator", "username": "Mo"});
    let added = owner.put("channels/priv/members/mod", body).await.is(201);
    assert_eq!(
        (&added["role"], &added["username"]),
        (&json!("moderator"), &json!("Mo"))
    );
    let data = events.expect("channel:priv", "member_joined").await;
    assert_eq!(data["username"], "Mo");
    let bob = "channels/priv/members/bob";
    moderator.put(bob, Value::Null).await.is(201);
    events.expect("channel:priv", "member_joined").await;
    let cat = "channels/priv/members/cat";
    moderator
        .put(cat, json!({"role": "admin"}))
        .await
        .fails(403, "forbidden");

    // Role changes: moderator or higher, not above one's own, only on lower ranks.
    let changed = moderator
        .patch(bob, json!({"role": "moderator"}))
        .await
        .is(200);
    assert_eq!(changed["role"], "moderator");
    let data = events.expect("channel:priv", "member_role_updated").await;
    let expected = json!({"channel_id": "priv", "user_id": "bob", "username": null,
                          "new_role": "moderator"});
    assert_eq!(data, expected);
    moderator
        .patch(bob, json!({"role": "member"}))
        .await
        .fails(403, "forbidden");
    let own = "channels/priv/members/mod";
    moderator
        .patch(own, json!({"role": "admin"}))
        .await
        .fails(403, "forbidden");
    let nobody = "channels/priv/members/zed";
    moderator
        .patch(nobody, json!({"role": "member"}))
        .await
        .fails(404, "not_found");
    moderator
        .patch(bob, json!({}))
        .await
        .fails(400, "invalid_body");
    ann.patch(me, json!({"role": "member"}))
        .await
        .fails(403, "forbidden");
    owner.patch(bob, json!({"role": "member"})).await.is(200);
    events.expect("channel:priv", "member_role_updated").await;

    // Leaving, and removal by a moderator of lower ranks only.
    ann.delete(me, Value::Null).await.is(204);
    let data = events.expect("channel:pub", "member_left").await;
    assert_eq!(
        data,
        json!({"channel_id": "pub", "user_id": "ann", "username": "ann-name"})
    );
    ann.delete(me, Value::Null).await.fails(404, "not_found");
    stack
        .user("bob")
        .delete(own, Value::Null)
        .await
        .fails(403, "forbidden");
    moderator.delete(bob, Value::Null).await.is(204);
    events.expect("channel:priv", "member_left").await;
    moderator
        .delete(bob, Value::Null)
        .await
        .fails(404, "not_found");
}

/// Joins of one user at once (a double click, a retry): one is the join, the others are
/// answered as for a member, and the channel hears of one join. Without the commit's
/// "not yet a member" condition several would read "not a member" and each announce it.
#[tokio::test]
async fn racing_joins_of_one_user_make_one_join() {
    let stack = Stack::start();
    stack.channel("owner", "pub", true).await;
    let mut events = stack.events(&["channel:pub"]).await;
    let ann = stack.user("ann");
    let joins = (0..16).map(|_| ann.put("channels/pub/members/ann", Value::Null));
    let mut statuses: Vec<u16> = futures_util::future::join_all(joins)
        .await
        .into_iter()
        .map(|reply| reply.status)
        .collect();
    statuses.sort_unstable();
    let mut expected = vec![200; 15];
    expected.push(201);
    assert_eq!(statuses, expected);
    events.expect("channel:pub", "member_joined").await;
    // A marker after the joins: the next event on the channel is it, not a second join.
    stack
        .user("owner")
        .post("channels/pub/messages", json!({"content": "after"}))
        .await
        .is(201);
    let next = events.expect("channel:pub", "channel_message").await;
    assert_eq!(next["content"], "after");
}

/// An edit racing its message's deletion is published before the deletion or refused (404):
/// the channel never hears `message_updated` after `message_deleted`. When the edit read who
/// may edit before publishing, about half of these races ended the other way.
#[tokio::test]
async fn an_edit_racing_a_deletion_is_never_published_after_it() {
    const MESSAGES: usize = 40;
    let stack = Stack::start();
    stack.channel("ann", "c", true).await;
    let ann = stack.user("ann");
    let mut events = stack.events(&["channel:c"]).await;
    for i in 0..MESSAGES {
        let body = json!({"content": "first", "id": format!("m{i}")});
        ann.post("channels/c/messages", body).await.is(201);
        events.expect("channel:c", "channel_message").await;
    }
    let races = (0..MESSAGES).map(|i| {
        let (ann, path) = (&ann, format!("channels/c/messages/m{i}"));
        async move {
            let edit = ann.patch(&path, json!({"content": "second"}));
            let (edit, delete) = tokio::join!(edit, ann.delete(&path, Value::Null));
            assert_eq!(delete.status, 204, "{}", delete.body);
            match edit.status {
                200 => true,
                _ => {
                    edit.fails(404, "not_found");
                    false
                }
            }
        }
    });
    let edited = futures_util::future::join_all(races).await;
    let mut deleted = std::collections::HashSet::new();
    let mut updates = 0;
    for _ in 0..MESSAGES + edited.iter().filter(|e| **e).count() {
        let (kind, data) = events.next().await;
        let message = data["message_id"].as_str().unwrap_or_default().to_owned();
        match kind.as_str() {
            "message_deleted" => assert!(deleted.insert(message)),
            "message_updated" => {
                assert!(
                    !deleted.contains(&message),
                    "{message} updated after its deletion"
                );
                updates += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(deleted.len(), MESSAGES);
    assert_eq!(updates, edited.iter().filter(|e| **e).count());
}

/// A member deleting their own message while being kicked: the deletion comes before the kick
/// or is refused (403), never after it: the channel never hears `message_deleted` of a
/// member's message after `user_kicked` of that member.
#[tokio::test]
async fn a_deletion_racing_its_authors_kick_is_never_made_after_it() {
    const MEMBERS: usize = 40;
    let stack = Stack::start();
    stack.channel("owner", "c", true).await;
    let mut events = stack.events(&["channel:c"]).await;
    for i in 0..MEMBERS {
        let user = format!("u{i}");
        stack.member("c", &user, "member").await;
        events.expect("channel:c", "member_joined").await;
        let body = json!({"content": "mine", "id": format!("m{i}")});
        stack
            .user(&user)
            .post("channels/c/messages", body)
            .await
            .is(201);
        events.expect("channel:c", "channel_message").await;
    }
    let owner = stack.user("owner");
    let races = (0..MEMBERS).map(|i| {
        let (owner, author) = (&owner, stack.user(&format!("u{i}")));
        async move {
            let path = format!("channels/c/messages/m{i}");
            let kick = owner.post("channels/c/kicks", json!({"user_id": format!("u{i}")}));
            let (kick, delete) = tokio::join!(kick, author.delete(&path, Value::Null));
            assert_eq!(kick.status, 200, "{}", kick.body);
            match delete.status {
                204 => true,
                _ => {
                    delete.fails(403, "not_member");
                    false
                }
            }
        }
    });
    let deletions = futures_util::future::join_all(races)
        .await
        .into_iter()
        .filter(|deleted| *deleted)
        .count();
    let mut kicked = std::collections::HashSet::new();
    for _ in 0..MEMBERS + deletions {
        let (kind, data) = events.next().await;
        match kind.as_str() {
            "user_kicked" => assert!(kicked.insert(data["user_id"].to_string())),
            "message_deleted" => {
                let author = data["message_id"]
                    .as_str()
                    .unwrap_or_default()
                    .replace('m', "u");
                assert!(
                    !kicked.contains(&json!(author).to_string()),
                    "{author}'s message deleted after the kick"
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(kicked.len(), MEMBERS);
}

#[tokio::test]
async fn moderators_ban_unban_and_kick() {
    let stack = Stack::start();
    stack.channel("owner", "c", true).await;
    stack.member("c", "mod", "moderator").await;
    stack.member("c", "adm", "admin").await;
    stack.member("c", "bob", "member").await;
    let (moderator, bob) = (stack.user("mod"), stack.user("bob"));
    let mut events = stack.events(&["channel:c", "user:bob"]).await;

    // Announced on the channel with user_id, then to the user without it.
    let ban = "channels/c/bans/bob";
    let banned = moderator.put(ban, json!({"motive": "spam"})).await.is(200);
    assert_eq!(
        banned,
        json!({"channel_id": "c", "user_id": "bob", "motive": "spam"})
    );
    let data = events.expect("channel:c", "user_banned").await;
    assert_eq!(
        data,
        json!({"channel_id": "c", "user_id": "bob", "motive": "spam"})
    );
    let data = events.expect("user:bob", "user_banned").await;
    assert_eq!(data, json!({"channel_id": "c", "motive": "spam"}));

    // A ban removes membership and keeps the user out.
    let hi = json!({"content": "hi"});
    bob.post("channels/c/messages", hi.clone())
        .await
        .fails(403, "banned");
    bob.post("channels/c/typing", Value::Null)
        .await
        .fails(403, "banned");
    bob.put("channels/c/members/bob", Value::Null)
        .await
        .fails(403, "banned");
    moderator
        .put("channels/c/members/bob", Value::Null)
        .await
        .fails(403, "banned");
    bob.put("channels/c/bans/mod", json!({"motive": "x"}))
        .await
        .fails(403, "banned");

    let motive = json!({"motive": "m"});
    moderator
        .put("channels/c/bans/adm", motive.clone())
        .await
        .fails(403, "forbidden");
    moderator
        .put("channels/nope/bans/x", motive)
        .await
        .fails(404, "not_found");
    moderator
        .put("channels/c/bans/x", json!({}))
        .await
        .fails(400, "invalid_body");
    moderator
        .put("channels/c/bans/x", json!({"motive": 1}))
        .await
        .fails(400, "invalid_body");
    let long = json!({"motive": "m".repeat(513)});
    moderator
        .put("channels/c/bans/x", long)
        .await
        .fails(400, "invalid_field");

    let unbanned = moderator
        .delete(ban, json!({"motive": "appeal"}))
        .await
        .is(200);
    assert_eq!(unbanned["motive"], "appeal");
    let data = events.expect("channel:c", "user_unbanned").await;
    assert_eq!(
        data,
        json!({"channel_id": "c", "user_id": "bob", "motive": "appeal"})
    );
    let data = events.expect("user:bob", "user_unbanned").await;
    assert_eq!(data, json!({"channel_id": "c", "motive": "appeal"}));
    moderator
        .delete(ban, json!({"motive": "again"}))
        .await
        .fails(404, "not_found");

    // Kick: the target must be a member of lower rank.
    bob.put("channels/c/members/bob", Value::Null).await.is(201);
    events.expect("channel:c", "member_joined").await;
    // And a copy on the user's own room (its sessions learn of the channel).
    let copy = events.expect("user:bob", "member_joined").await;
    assert_eq!(copy["channel_id"], "c");
    let kicks = "channels/c/kicks";
    bob.post(kicks, json!({"user_id": "mod"}))
        .await
        .fails(403, "forbidden");
    moderator
        .post(kicks, json!({"user_id": "adm"}))
        .await
        .fails(403, "forbidden");
    moderator
        .post(kicks, json!({"user_id": "ghost"}))
        .await
        .fails(404, "not_found");
    moderator
        .post(kicks, json!({}))
        .await
        .fails(400, "invalid_body");
    let kick = json!({"user_id": "bob", "motive": "calm down"});
    let kicked = moderator.post(kicks, kick).await.is(200);
    assert_eq!(
        kicked,
        json!({"channel_id": "c", "user_id": "bob", "motive": "calm down"})
    );
    let data = events.expect("channel:c", "user_kicked").await;
    assert_eq!(
        data,
        json!({"channel_id": "c", "user_id": "bob", "motive": "calm down"})
    );
    let data = events.expect("user:bob", "user_kicked").await;
    assert_eq!(data, json!({"channel_id": "c", "motive": "calm down"}));
    bob.post("channels/c/messages", hi)
        .await
        .fails(403, "not_member");

    // The owner outranks everyone; a service is trusted.
    let owner = stack.user("owner");
    owner
        .put("channels/c/bans/adm", json!({"motive": ""}))
        .await
        .is(200);
    stack
        .service()
        .post(kicks, json!({"user_id": "mod"}))
        .await
        .is(200);
}

#[tokio::test]
async fn typing_indicators_are_published() {
    let stack = Stack::start();
    stack.channel("owner", "c", true).await;
    let owner = stack.user("owner");
    let mut events = stack.events(&["channel:c"]).await;

    owner.post("channels/c/typing", Value::Null).await.is(204);
    let data = events.expect("channel:c", "user_typing").await;
    let expected = json!({"channel_id": "c", "user_id": "owner", "username": "owner-name",
                          "is_typing": true});
    assert_eq!(data, expected);
    owner
        .post("channels/c/typing", json!({"is_typing": false}))
        .await
        .is(204);
    let data = events.expect("channel:c", "user_typing").await;
    assert_eq!(data["is_typing"], false);

    let wrong = json!({"is_typing": "yes"});
    owner
        .post("channels/c/typing", wrong)
        .await
        .fails(400, "invalid_body");
    let eve = stack.user("eve");
    eve.post("channels/c/typing", Value::Null)
        .await
        .fails(403, "not_member");
    owner
        .post("channels/zz/typing", Value::Null)
        .await
        .fails(404, "not_found");
}

#[tokio::test]
async fn direct_messages() {
    let stack = Stack::start();
    let (ann, service) = (stack.user("ann"), stack.service());

    // The calling user takes part; participants come back sorted and distinct.
    let thread = ann
        .post("dms", json!({"participants": ["zoe", 7], "id": "d1"}))
        .await;
    assert_eq!(
        thread.is(201),
        json!({"id": "d1", "participants": ["7", "ann", "zoe"]})
    );
    let generated = service
        .post("dms", json!({"participants": ["a", "b", "a"]}))
        .await;
    let generated = generated.is(201);
    assert_eq!(generated["participants"], json!(["a", "b"]));
    assert_uuid(&generated["id"]);
    let taken = json!({"participants": ["zoe"], "id": "d1"});
    ann.post("dms", taken).await.fails(409, "conflict");
    let crowd: Vec<String> = (0..10).map(|n| format!("u{n}")).collect();
    let cases = [
        (&ann, json!({"participants": []}), "invalid_field"),
        (&service, json!({"participants": ["a"]}), "invalid_field"),
        (&ann, json!({"participants": crowd}), "invalid_field"),
        (&ann, json!({"participants": "zoe"}), "invalid_body"),
        (&ann, json!({"participants": ["a b"]}), "invalid_body"),
    ];
    for (client, body, code) in cases {
        client.post("dms", body).await.fails(400, code);
    }

    let mut events = stack.events(&["dm:d1"]).await;
    let message = ann
        .post("dms/d1/messages", json!({"content": "psst", "id": "dm-1"}))
        .await;
    let message = message.is(201);
    assert_rfc3339_millis(&message["created_at"]);
    let expected = json!({"id": "dm-1", "direct_thread_id": "d1", "author_id": "ann",
                          "content": "psst", "created_at": message["created_at"]});
    assert_eq!(message, expected);
    assert_eq!(
        events.expect("dm:d1", "DIRECT_MESSAGE_CREATE").await,
        expected
    );

    let hi = json!({"content": "hi"});
    let eve = stack.user("eve");
    eve.post("dms/d1/messages", hi.clone())
        .await
        .fails(403, "not_participant");
    ann.post("dms/d9/messages", hi.clone())
        .await
        .fails(404, "not_found");
    ann.post("dms/d 1/messages", hi.clone())
        .await
        .fails(400, "invalid_id");
    let long = json!({"content": "x".repeat(4001)});
    ann.post("dms/d1/messages", long)
        .await
        .fails(400, "content_too_long");
    service
        .post("dms/d1/messages", hi)
        .await
        .fails(400, "acting_user_required");
    let body = json!({"content": "hi", "author_id": 7});
    service.post("dms/d1/messages", body).await.is(201);
    let data = events.expect("dm:d1", "DIRECT_MESSAGE_CREATE").await;
    assert_eq!(data["author_id"], "7");
}

#[tokio::test]
async fn gateway_url_health_and_metrics() {
    let stack = Stack::start();
    let anonymous = stack.anonymous();
    let url = json!({"url": GATEWAY_URL});
    assert_eq!(stack.user("u").get("/api/gateway").await.is(200), url);
    let query = format!("/api/gateway?token={}", token("u"));
    assert_eq!(anonymous.get(&query).await.is(200), url);
    anonymous
        .get("/api/gateway?token=bad")
        .await
        .fails(401, "unauthorized");

    assert_eq!(anonymous.get("/healthz").await.is(200)["status"], "ok");
    assert_eq!(anonymous.get("/readyz").await.is(200)["status"], "ready");
    anonymous.get("nothing").await.fails(404, "not_found");
    stack
        .user("u")
        .delete("channels", Value::Null)
        .await
        .fails(405, "method_not_allowed");

    let rename = json!({"name": "x"});
    stack
        .user("u")
        .patch("channels/secret-id", rename)
        .await
        .fails(404, "not_found");
    let metrics = anonymous.get("/metrics").await.is(200);
    let text = metrics.as_str().expect("Prometheus text");
    let counted = r#"dispatcher_requests_total{route="/api/v1/channels/{id}",status="404"} 1"#;
    assert!(text.contains(counted), "{text}");
    assert!(text.contains("dispatcher_publish_seconds_bucket"), "{text}");
    assert!(text.contains("dispatcher_publish_errors_total 0"), "{text}");
    assert!(
        !text.contains("secret-id"),
        "raw ids leak into labels: {text}"
    );
}

#[tokio::test]
async fn a_redis_outage_answers_503_and_recovery_follows() {
    let mut stack = Stack::start();
    stack.channel("owner", "c", false).await;
    let owner = stack.user("owner");

    stack.redis.stop();
    let started = Instant::now();
    let reply = owner
        .post("channels/c/messages", json!({"content": "lost?"}))
        .await;
    let elapsed = started.elapsed();
    assert!(
        !reply.body.to_string().contains("redis"),
        "detail leaked: {}",
        reply.body
    );
    reply.fails(503, "unavailable");
    assert!(elapsed < Duration::from_secs(5), "503 took {elapsed:?}");
    owner
        .post("channels", json!({"name": "n"}))
        .await
        .fails(503, "unavailable");
    stack.anonymous().get("/readyz").await.is(503);
    stack.anonymous().get("/healthz").await.is(200);

    // A fresh, empty Redis on the same port: the dispatcher reconnects by itself.
    stack.redis.start_again();
    eventually(
        "the dispatcher is ready again",
        Duration::from_secs(10),
        || async { stack.anonymous().get("/readyz").await.status == 200 },
    )
    .await;
    owner
        .post("channels", json!({"name": "back", "id": "c"}))
        .await
        .is(201);
}
