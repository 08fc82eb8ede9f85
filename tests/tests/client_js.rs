//! The TypeScript client library (`clients/js`, npm package `chat-gateway-client`) against
//! the real thing: each test starts Redis, a dispatcher and one or two gateway nodes, then runs
//! Node's test runner on one file of `clients/js/test/integration/` with the stack's URLs, the
//! JWT secret (the scripts mint their own HS256 tokens), the service token and each node's
//! process id (the scripts kill or drain the node their client is on). One more test runs the
//! library's unit tests, which also check that the checked-in `dist/` is exactly what building
//! the sources produces. The library is installed from its lock file (`npm ci`) the first time.

use integration_tests::*;
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

fn client() -> NodeProject {
    NodeProject::at("../clients/js")
}

/// Runs the Node test files `files` (paths under clients/js) and returns their report.
async fn node_tests(files: &[String], env: Vec<(&'static str, String)>) -> String {
    let client = client();
    client.install(&["typescript", "ws"], &[]);
    let mut args = vec!["--test".to_owned(), "--test-reporter=spec".to_owned()];
    args.extend(files.iter().map(|f| f.to_string()));
    let output = client.run_ok("node", args, env).await;
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{report}");
    // The runner exits 0 only when every test passed; make sure some did.
    assert!(report.contains("pass "), "no test report:\n{report}");
    assert!(report.contains("fail 0"), "{report}");
    report
}

/// How one gateway node of a test's stack starts.
struct Node {
    id: &'static str,
    /// Redirect a client on another node than its assigned one (RECONNECT + 4021).
    enforce_assignment: bool,
    /// Flags after the standard ones.
    args: &'static [&'static str],
}

impl Node {
    const fn plain(id: &'static str) -> Node {
        Node {
            id,
            enforce_assignment: false,
            args: &[],
        }
    }
}

/// A stack with one gateway node per entry of `nodes`, whose nodes the dispatcher already
/// assigns users to.
async fn stack(nodes: &[Node]) -> (Stack, Vec<Gateway>) {
    let stack = Stack::start();
    let gateways: Vec<Gateway> = nodes
        .iter()
        .map(|node| {
            let opts = GatewayOpts::new(stack.redis.url(), node.id);
            let opts = if node.enforce_assignment {
                opts.enforce_assignment()
            } else {
                opts
            };
            Gateway::start(node.args.iter().fold(opts, |opts, arg| opts.arg(*arg)))
        })
        .collect();
    let urls: HashSet<String> = gateways.iter().map(|g| g.ws_url("/api/ws")).collect();
    eventually(
        "the dispatcher assigns users to every node",
        Duration::from_secs(15),
        || async {
            // Rendezvous hashing spreads users over the nodes: some of 64 reach each.
            let mut seen = HashSet::new();
            for user in 1..=64 {
                let api = Api::new(&stack.dispatcher.base_url()).bearer(&token(&user.to_string()));
                if let (200, body) = api.get("/api/gateway", None).await
                    && let Some(url) = body["url"].as_str()
                {
                    seen.insert(url.to_owned());
                }
            }
            seen == urls
        },
    )
    .await;
    (stack, gateways)
}

/// What the scripts need to know about the stack (see clients/js/test/support/stack.js).
fn stack_env(stack: &Stack, gateways: &[Gateway]) -> Vec<(&'static str, String)> {
    let nodes: Vec<_> = gateways
        .iter()
        .map(|g| json!({"url": g.ws_url("/api/ws"), "pid": g.pid()}))
        .collect();
    vec![
        ("DISPATCHER_URL", stack.dispatcher.base_url()),
        ("JWT_SECRET", SECRET.to_owned()),
        ("SERVICE_TOKEN", SERVICE_TOKEN.to_owned()),
        ("GATEWAYS", serde_json::Value::from(nodes).to_string()),
    ]
}

/// Backoff bounds, de-duplication and recovery decisions, presence bookkeeping, and `dist/`
/// being exactly the build of `src/` (so the checked-in browser build cannot drift).
#[tokio::test]
async fn unit_tests_and_checked_in_build() {
    let mut files: Vec<String> = std::fs::read_dir(client().dir().join("test/unit"))
        .expect("clients/js/test/unit")
        .map(|entry| entry.expect("a directory entry").file_name())
        .filter_map(|name| name.into_string().ok())
        .filter(|name| name.ends_with(".test.js"))
        .map(|name| format!("test/unit/{name}"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the unit test files: {files:?}");
    node_tests(&files, Vec::new()).await;
}

/// Discovery, IDENTIFY and READY; the chat events, presence and typing; refused tokens
/// (HTTP 401 at discovery, close 4004) stop the client; the browser build over a global
/// WebSocket.
#[tokio::test]
async fn connects_and_delivers_events() {
    let (stack, gateways) = stack(&[Node::plain("gw-js-a")]).await;
    let env = stack_env(&stack, &gateways);
    node_tests(&["test/integration/connect.test.js".to_owned()], env).await;
}

/// Heartbeats at the node's (short) interval keep the socket; a link that stops carrying
/// anything (no heartbeat ACK) is given up and the session resumed.
#[tokio::test]
async fn heartbeats_keep_the_socket_and_detect_a_dead_link() {
    let node = Node {
        args: &["--heartbeat-interval-ms", "300"],
        ..Node::plain("gw-js-a")
    };
    let (stack, gateways) = stack(&[node]).await;
    let env = stack_env(&stack, &gateways);
    node_tests(&["test/integration/heartbeat.test.js".to_owned()], env).await;
}

/// A socket dropped while messages are posted: the client reconnects with backoff, resumes,
/// and has every acknowledged message once, in order.
#[tokio::test]
async fn reconnects_and_resumes_after_a_dropped_socket() {
    let (stack, gateways) = stack(&[Node::plain("gw-js-a")]).await;
    let env = stack_env(&stack, &gateways);
    node_tests(&["test/integration/reconnect.test.js".to_owned()], env).await;
}

/// The client's node drains (SIGTERM) while messages are posted: RECONNECT to the other node,
/// RESUME there, every acknowledged message once, in order.
#[tokio::test]
async fn follows_a_draining_node_and_resumes() {
    let node = |id| Node {
        enforce_assignment: true,
        ..Node::plain(id)
    };
    let (stack, gateways) = stack(&[node("gw-js-a"), node("gw-js-b")]).await;
    let env = stack_env(&stack, &gateways);
    node_tests(&["test/integration/drain.test.js".to_owned()], env).await;
}

/// The client's node is killed (SIGKILL) while messages are posted: its session is lost
/// (RESUME answers INVALID_SESSION), the client rejoins every room on the other node with
/// `since`, and has every acknowledged message once, in order.
#[tokio::test]
async fn recovers_every_room_when_its_node_is_killed() {
    // A dead node leaves the registry (and the fleet views) within this TTL.
    let node = |id| Node {
        enforce_assignment: true,
        args: &["--registry-ttl-ms", "2000"],
        ..Node::plain(id)
    };
    let (stack, gateways) = stack(&[node("gw-js-a"), node("gw-js-b")]).await;
    let env = stack_env(&stack, &gateways);
    node_tests(&["test/integration/kill.test.js".to_owned()], env).await;
}
