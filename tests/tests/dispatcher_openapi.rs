//! The dispatcher's API description, checked against the live dispatcher on a real Redis:
//! `/api/openapi.json` is OpenAPI 3.1 and names every route, both bearer schemes and the
//! error body; `/api/docs` renders it from files inside the binary (no CDN); and schemathesis
//! (PyPI, installed by `scripts/test`) sends requests generated from the description, as a
//! user and as a service, and checks that every answer is documented (status, content type,
//! headers, body schema) and that none is a 5xx.
//!
//! Left out: schemathesis' `positive_data_acceptance`, which expects every schema-valid body
//! to succeed. Some rules are not schema-shaped (a DM's participants must be distinct, a user
//! cannot act above their role, an `Idempotency-Key` reused with another body is refused),
//! and those answers are the documented 4xx. Longer run: `SCHEMATHESIS_EXAMPLES=500`.

use integration_tests::{
    Api, Dispatcher, DispatcherOpts, RedisServer, SERVICE_TOKEN, eventually, token_named,
};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

/// Every route the dispatcher serves, as `METHOD path`.
const ROUTES: &[&str] = &[
    "GET /api/v1/channels",
    "POST /api/v1/channels",
    "PATCH /api/v1/channels/{id}",
    "DELETE /api/v1/channels/{id}",
    "GET /api/v1/channels/{id}/messages",
    "POST /api/v1/channels/{id}/messages",
    "PATCH /api/v1/channels/{id}/messages/{mid}",
    "DELETE /api/v1/channels/{id}/messages/{mid}",
    "GET /api/v1/channels/{id}/members",
    "PUT /api/v1/channels/{id}/members/{uid}",
    "PATCH /api/v1/channels/{id}/members/{uid}",
    "DELETE /api/v1/channels/{id}/members/{uid}",
    "PUT /api/v1/channels/{id}/bans/{uid}",
    "DELETE /api/v1/channels/{id}/bans/{uid}",
    "POST /api/v1/channels/{id}/kicks",
    "POST /api/v1/channels/{id}/typing",
    "GET /api/v1/dms",
    "POST /api/v1/dms",
    "GET /api/v1/users",
    "GET /api/v1/dms/{id}/messages",
    "POST /api/v1/dms/{id}/messages",
    "GET /api/gateway",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
];

fn start() -> (RedisServer, Dispatcher) {
    let redis = RedisServer::start();
    // No user rate limit (the test default): generated requests come fast.
    let opts = DispatcherOpts::new(redis.url()).gateway_url("ws://gateway.test/api/ws");
    let dispatcher = Dispatcher::start(opts);
    (redis, dispatcher)
}

#[tokio::test]
async fn the_description_covers_every_route_and_is_served_with_its_viewer() {
    let (_redis, dispatcher) = start();
    let (status, doc) = Api::new(&dispatcher.base_url())
        .get("/api/openapi.json", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let mut expected: Vec<String> = ROUTES.iter().map(|r| r.to_string()).collect();
    expected.sort();
    assert_eq!(documented, expected);

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["user_jwt"]["scheme"], "bearer");
    assert_eq!(schemes["service_token"]["scheme"], "bearer");
    let post = &doc["paths"]["/api/v1/channels/{id}/messages"]["post"];
    for status in [
        "400", "401", "403", "404", "409", "413", "415", "429", "503",
    ] {
        assert_eq!(
            post["responses"][status]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "{status}"
        );
    }
    assert!(
        post["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "Idempotency-Key")
    );

    let page = reqwest::get(format!("{}/api/docs/", dispatcher.base_url()))
        .await
        .expect("the docs page")
        .text()
        .await
        .unwrap();
    assert!(page.contains("swagger-ui"), "{page}");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the viewer loads nothing from elsewhere: {page}"
    );
    let initializer = reqwest::get(format!(
        "{}/api/docs/swagger-initializer.js",
        dispatcher.base_url()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(initializer.contains("/api/openapi.json"), "{initializer}");
}

/// Runs schemathesis against the live dispatcher with `authorization`; panics with its
/// report when a check fails.
fn schemathesis(base_url: &str, authorization: &str, seed: u32) {
    let examples = std::env::var("SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".into());
    let output = Command::new("schemathesis")
        .args([
            "run",
            &format!("{base_url}/api/openapi.json"),
            "--header",
            &format!("Authorization: Bearer {authorization}"),
            "--max-examples",
            &examples,
            "--seed",
            &seed.to_string(),
            "--exclude-checks",
            "positive_data_acceptance",
            "--generation-database",
            "none",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .unwrap_or_else(|e| {
            panic!("schemathesis not runnable ({e}): scripts/test installs it with pip")
        });
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found answers that do not match the description:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains(" passed"), "{report}");
}

#[tokio::test]
async fn generated_requests_get_documented_answers_and_no_server_error() {
    let (_redis, dispatcher) = start();
    let base = dispatcher.base_url();
    // Some state under the small ids the generator tries first, so requests reach past 404.
    let alice = token_named("1", "alice");
    let api = Api::new(&base).bearer(&alice);
    for id in ["0", "1"] {
        let body = json!({"id": id, "name": format!("room {id}"), "public": true});
        assert_eq!(api.post("/api/v1/channels", Some(body)).await.0, 201);
        let message = json!({"id": "1", "content": "hello"});
        let path = format!("/api/v1/channels/{id}/messages");
        assert_eq!(api.post(&path, Some(message)).await.0, 201);
    }
    let service = Api::new(&base).bearer(SERVICE_TOKEN);
    let (status, _) = service
        .put("/api/v1/channels/1/members/0", Some(json!({})))
        .await;
    assert_eq!(status, 201);
    let dm = json!({"id": "1", "participants": ["0", "1"]});
    assert_eq!(api.post("/api/v1/dms", Some(dm)).await.0, 201);
    eventually(
        "the dispatcher is ready",
        Duration::from_secs(5),
        || async { Api::new(&base).get("/readyz", None).await.0 == 200 },
    )
    .await;

    let run = {
        let base = base.clone();
        tokio::task::spawn_blocking(move || {
            schemathesis(&base, &alice, 1);
            schemathesis(&base, SERVICE_TOKEN, 2);
        })
    };
    run.await.expect("schemathesis ran");
    let (_, listing) = Api::new(&base)
        .bearer(SERVICE_TOKEN)
        .get("/api/v1/channels", None)
        .await;
    assert!(listing["channels"].is_array(), "{listing}");
    let _: Value = listing;
}
