//! What a client lists to build its sidebar, and browser access from another origin, over a
//! real Redis: `GET /api/v1/channels` (the caller's channels with their role, and every
//! public channel), `GET /api/v1/channels/{id}/members`, `GET /api/v1/dms` (the caller's
//! conversations), `GET /api/v1/users?ids=` (display names), and CORS as configured by
//! `--cors-origins`.

use integration_tests::{
    Api, Dispatcher, DispatcherOpts, Method, RedisServer, SERVICE_TOKEN, token_named,
};
use serde_json::{Value, json};

fn user(dispatcher: &Dispatcher, id: &str) -> Api {
    Api::new(&dispatcher.base_url()).bearer(&token_named(id, &format!("{id}-name")))
}

/// The ids and roles of a listing, in order.
fn listed(body: &Value) -> Vec<(String, Value)> {
    body["channels"]
        .as_array()
        .expect("a channels array")
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c["role"].clone()))
        .collect()
}

#[tokio::test]
async fn channels_list_mine_with_roles_and_the_public_ones() {
    let redis = RedisServer::start();
    let dispatcher = Dispatcher::start(DispatcherOpts::new(redis.url()));
    let (alice, bob) = (user(&dispatcher, "1"), user(&dispatcher, "2"));
    for (id, public) in [("a-private", false), ("b-public", true), ("c-public", true)] {
        let (status, _) = alice
            .post(
                "/api/v1/channels",
                Some(json!({"id": id, "name": id, "public": public})),
            )
            .await;
        assert_eq!(status, 201);
    }
    let (status, _) = bob
        .put("/api/v1/channels/c-public/members/2", Some(json!({})))
        .await;
    assert_eq!(status, 201);

    let (status, body) = alice.get("/api/v1/channels", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        listed(&body),
        [
            ("a-private".to_owned(), json!("owner")),
            ("b-public".to_owned(), json!("owner")),
            ("c-public".to_owned(), json!("owner")),
        ]
    );
    assert_eq!(body["channels"][1]["public"], json!(true));
    assert_eq!(body["channels"][1]["name"], json!("b-public"));
    let (_, body) = bob.get("/api/v1/channels", None).await;
    assert_eq!(
        listed(&body),
        [
            ("b-public".to_owned(), Value::Null),
            ("c-public".to_owned(), json!("member")),
        ],
        "a private channel is not listed to a non-member"
    );

    // Made private: gone from strangers' lists; deleted: gone from everyone's; banned: gone.
    let (status, _) = alice
        .patch("/api/v1/channels/b-public", Some(json!({"public": false})))
        .await;
    assert_eq!(status, 200);
    let (status, _) = alice
        .put(
            "/api/v1/channels/c-public/bans/2",
            Some(json!({"motive": "spam"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = bob.get("/api/v1/channels", None).await;
    assert_eq!(listed(&body), [("c-public".to_owned(), Value::Null)]);
    let (status, _) = alice.delete("/api/v1/channels/c-public", None).await;
    assert_eq!(status, 204);
    let (_, body) = bob.get("/api/v1/channels", None).await;
    assert_eq!(listed(&body), []);
    let service = Api::new(&dispatcher.base_url()).bearer(SERVICE_TOKEN);
    let (status, body) = service.get("/api/v1/channels", None).await;
    assert_eq!((status, listed(&body)), (200, vec![]));
    let (status, _) = Api::new(&dispatcher.base_url())
        .get("/api/v1/channels", None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn members_are_listed_to_members_only() {
    let redis = RedisServer::start();
    let dispatcher = Dispatcher::start(DispatcherOpts::new(redis.url()));
    let (alice, bob, carol) = (
        user(&dispatcher, "1"),
        user(&dispatcher, "2"),
        user(&dispatcher, "3"),
    );
    let (status, _) = alice
        .post(
            "/api/v1/channels",
            Some(json!({"id": "room", "name": "room", "public": true})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = bob
        .put("/api/v1/channels/room/members/2", Some(json!({})))
        .await;
    assert_eq!(status, 201);

    let (status, body) = bob.get("/api/v1/channels/room/members", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["members"],
        json!([
            {"channel_id": "room", "user_id": "1", "role": "owner", "username": "1-name"},
            {"channel_id": "room", "user_id": "2", "role": "member", "username": "2-name"},
        ])
    );
    let (status, body) = carol.get("/api/v1/channels/room/members", None).await;
    assert_eq!((status, &body["code"]), (403, &json!("not_member")));
    let (status, body) = carol.get("/api/v1/channels/nope/members", None).await;
    assert_eq!((status, &body["code"]), (404, &json!("not_found")));
}

#[tokio::test]
async fn cors_answers_configured_origins_only() {
    let redis = RedisServer::start();
    let origin = "http://chat.example";
    let dispatcher =
        Dispatcher::start(DispatcherOpts::new(redis.url()).arg(format!("--cors-origins={origin}")));
    let api = Api::new(&dispatcher.base_url());
    let preflight = async |from: &str| {
        let headers = [
            ("Origin", from),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization,content-type,idempotency-key",
            ),
        ];
        api.with_headers(Method::OPTIONS, "/api/v1/channels", None, &headers)
            .await
    };
    let (status, headers, _) = preflight(origin).await;
    assert_eq!(status, 200);
    assert_eq!(headers["access-control-allow-origin"], origin);
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("idempotency-key"), "{allowed}");
    let (_, headers, _) = preflight("http://evil.example").await;
    assert!(!headers.contains_key("access-control-allow-origin"));

    // An actual request from the page carries the header too, errors included.
    let (status, headers, body) = api
        .with_headers(Method::GET, "/api/v1/channels", None, &[("Origin", origin)])
        .await;
    assert_eq!((status, &body["code"]), (401, &json!("unauthorized")));
    assert_eq!(headers["access-control-allow-origin"], origin);

    // Without the option, no CORS header at all.
    let plain = Dispatcher::start(DispatcherOpts::new(redis.url()));
    let (_, headers, _) = Api::new(&plain.base_url())
        .with_headers(Method::GET, "/healthz", None, &[("Origin", origin)])
        .await;
    assert!(!headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn conversations_and_names_are_listed() {
    let redis = RedisServer::start();
    let dispatcher = Dispatcher::start(DispatcherOpts::new(redis.url()));
    let (alice, bob) = (user(&dispatcher, "1"), user(&dispatcher, "2"));
    for (id, with) in [("d-ab", vec!["2"]), ("d-abc", vec!["2", "3"])] {
        let body = json!({"id": id, "participants": with});
        assert_eq!(alice.post("/api/v1/dms", Some(body)).await.0, 201);
    }
    let (status, body) = bob.get("/api/v1/dms", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["dms"],
        json!([
            {"id": "d-ab", "participants": ["1", "2"]},
            {"id": "d-abc", "participants": ["1", "2", "3"]},
        ])
    );
    let (_, body) = user(&dispatcher, "3").get("/api/v1/dms", None).await;
    assert_eq!(
        body["dms"],
        json!([{"id": "d-abc", "participants": ["1", "2", "3"]}])
    );
    let (_, body) = user(&dispatcher, "4").get("/api/v1/dms", None).await;
    assert_eq!(body["dms"], json!([]));
    let service = Api::new(&dispatcher.base_url()).bearer(SERVICE_TOKEN);
    let (status, body) = service.get("/api/v1/dms", None).await;
    assert_eq!((status, &body["code"]), (403, &json!("forbidden")));

    // Names are kept from the tokens that made something (`<id>-name` here); 9 never did.
    for (who, id) in [(&alice, "by-alice"), (&bob, "by-bob")] {
        let body = json!({"id": id, "name": id});
        assert_eq!(who.post("/api/v1/channels", Some(body)).await.0, 201);
    }
    let (status, body) = bob.get("/api/v1/users?ids=1,9,2", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["users"],
        json!([
            {"id": "1", "username": "1-name"},
            {"id": "9", "username": null},
            {"id": "2", "username": "2-name"},
        ])
    );
    for bad in [
        "/api/v1/users",
        "/api/v1/users?ids=",
        "/api/v1/users?ids=a%20b",
    ] {
        let (status, body) = bob.get(bad, None).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["code"].is_string(), "{bad}: {body}");
    }
    let many = (0..101)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let (status, _) = bob.get(&format!("/api/v1/users?ids={many}"), None).await;
    assert_eq!(status, 400);
}
