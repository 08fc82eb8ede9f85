//! The web chat of the one-command start, in a real browser: the `devstack` binary (dispatcher,
//! two gateway nodes and the web listener in one process) runs on a real `redis-server`, and
//! `tests/web-chat/e2e.js` drives Debian's headless Chromium through playwright-core with two
//! browser contexts, alice and bob, assigned to different nodes. alice creates a public
//! channel and bob joins it; both send; alice edits and deletes and bob sees it live; typing
//! and presence show; they exchange a DM; DMs that bob and carol open through the HTTP API
//! appear in alice's page with their names; alice (owner) kicks bob and bob sees it live. Any
//! console or page error fails it. Screenshots of both pages are kept in
//! `target/test-artifacts/web-chat-{alice,bob}.png`, devstack's log in
//! `target/test-artifacts/web-chat-devstack.log`. playwright-core is installed from the lock
//! file (`npm ci`) the first time; `scripts/test` installs chromium.

use integration_tests::*;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";

/// `$CARGO_TARGET_DIR` or `<workspace>/target`, as the other tests find the binaries.
fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir), // an absolute dir replaces the workspace prefix
        None => workspace.join("target"),
    }
}

/// The `devstack` process, killed and reaped on drop.
struct Devstack(Child);

impl Drop for Devstack {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn two_users_on_two_nodes_chat_in_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} not found: scripts/test installs it (apt-get install chromium)"
    );
    let redis = RedisServer::start();
    let artifacts = target_dir().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("create target/test-artifacts");
    let artifacts = artifacts
        .canonicalize()
        .expect("target/test-artifacts exists");
    let log_path = artifacts.join("web-chat-devstack.log");
    let screenshots = ["alice", "bob"].map(|user| artifacts.join(format!("web-chat-{user}.png")));
    for old in &screenshots {
        let _ = std::fs::remove_file(old);
    }

    let [dispatcher, gateway_a, gateway_b, web] = [(); 4].map(|()| free_port());
    let devstack = target_dir().join("debug/devstack");
    let log = File::create(&log_path).expect("create the devstack log");
    let child = Command::new(&devstack)
        .args(["--host", "127.0.0.1"])
        .args(["--dispatcher-port", &dispatcher.to_string()])
        .args(["--gateway-ports", &format!("{gateway_a},{gateway_b}")])
        .args(["--web-port", &web.to_string()])
        .args(["--jwt-secret", SECRET, "--service-token", SERVICE_TOKEN])
        .env("REDIS_URL", redis.url())
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or("info".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().expect("clone the log handle")))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{} not runnable ({e}): build the binaries first: cargo build --bins",
                devstack.display()
            )
        });
    let _devstack = Devstack(child);

    // Ready when the page is served and both nodes take users: users 1 (alice) and 2 (bob)
    // hash to different nodes once both are registered.
    let dispatcher_url = format!("http://127.0.0.1:{dispatcher}");
    let web_url = format!("http://127.0.0.1:{web}");
    let http = reqwest::Client::new();
    let get = |url: String, bearer: Option<String>| {
        let mut request = http.get(url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.ok()?;
            let ok = response.status() == 200;
            let body: serde_json::Value = response.json().await.ok()?;
            ok.then_some(body)
        }
    };
    let node_of = |user: &str| {
        let answer = get(format!("{dispatcher_url}/api/gateway"), Some(token(user)));
        async move { Some(answer.await?["url"].as_str()?.to_owned()) }
    };
    eventually(
        "devstack serves the web chat and assigns alice and bob to different nodes",
        Duration::from_secs(30),
        || async {
            get(format!("{web_url}/config.json"), None).await.is_some()
                && matches!((node_of("1").await, node_of("2").await), (Some(a), Some(b)) if a != b)
        },
    )
    .await;

    let web_chat = NodeProject::at("web-chat");
    web_chat.install(&["playwright-core"], &[]);
    let env = [
        ("WEB_URL", web_url),
        ("ARTIFACTS_DIR", artifacts.display().to_string()),
        ("CHROMIUM", CHROMIUM.to_owned()),
    ];
    // Not `run_ok`: a failed run's output is printed with the artifacts' paths below.
    let output = tokio::task::spawn_blocking(move || web_chat.run("node", &["e2e.js"], &env))
        .await
        .expect("the script ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}{stderr}");
    println!(
        "artifacts: {}, {}, {}",
        screenshots[0].display(),
        screenshots[1].display(),
        log_path.display()
    );
    assert!(
        output.status.success() && stdout.contains("\nPASS"),
        "the browser run failed (screenshots and devstack log in {}):\n{stdout}\n{stderr}",
        artifacts.display()
    );
    assert!(stdout.contains("nodes: alice on dev-gateway-"), "{stdout}");
    for screenshot in &screenshots {
        assert!(
            screenshot.exists(),
            "no screenshot {}",
            screenshot.display()
        );
    }
}
