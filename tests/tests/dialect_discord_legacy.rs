//! A real Discord client library of the v3 era, unchanged: discord.js 6.1.0 (npm, early 2016)
//! under Node.js, driven by `tests/discord-legacy/e2e.js` against two gateway nodes and a
//! dispatcher on real Redis. It logs in through `GET /api/gateway` (raw token), gets a
//! compressed READY, fetches a large guild's members (op 8 → GUILD_MEMBERS_CHUNK) before
//! `ready`, receives a channel message and a DM with the right authors, and sends op 3 status
//! updates the way the library did (a game of `{name: null}` included) without being closed.
//! The library is installed from the lock file (`npm ci`) the first time.

use integration_tests::*;
use std::time::Duration;

#[tokio::test]
async fn discord_js_6_works_unchanged() {
    let stack = Stack::start();
    let _a = stack.gateway("gw-legacy-a", &[]);
    let _b = stack.gateway("gw-legacy-b", &[]);
    let api = Api::new(&stack.dispatcher.base_url()).bearer(&token("1"));
    eventually(
        "the dispatcher assigns nodes",
        Duration::from_secs(10),
        || async { api.get("/api/gateway", None).await.0 == 200 },
    )
    .await;

    let legacy = NodeProject::at("discord-legacy");
    // --ignore-scripts: node-opus (voice) would build natively; it is not used.
    legacy.install(&["discord.js"], &["--ignore-scripts"]);
    let env = vec![
        ("DISPATCHER_URL", stack.dispatcher.base_url()),
        ("SERVICE_TOKEN", SERVICE_TOKEN.to_owned()),
        ("JWT_SECRET", SECRET.to_owned()),
        ("LIB_OPTIONS", r#"{"forceFetchUsers":true}"#.to_owned()),
        ("TIMEOUT_MS", "30000".to_owned()),
    ];
    let output = legacy.run_ok("node", vec!["e2e.js".into()], env).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("\nPASS"), "{stdout}");
    assert!(stdout.contains("op 8: guild"), "{stdout}");
}
