//! The fleet as real processes: one Redis, the dispatcher, three gateway nodes with
//! assignment enforced. Clients ask `GET /api/gateway` where to connect, land on their
//! assigned node, are redirected when they knock on the wrong one, move when a node drains,
//! and a node killed outright leaves the registry by TTL.

use integration_tests::{
    Api, Gateway, GatewayOpts, NativeClient, Stack, eventually, eventually_some, token,
};
use serde_json::{Value, json};
use std::{collections::BTreeSet, time::Duration};

const CHANNEL: &str = "lobby";
const ROOM: &str = "channel:lobby";
const OWNER: &str = "owner";
/// Registry TTL for these tests: nodes beat every 200 ms and expire after 1 s.
const TTL_MS: &str = "1000";

fn node(stack: &Stack, id: &str, extra: &[&str]) -> Gateway {
    let opts = GatewayOpts::new(stack.redis.url(), id)
        .enforce_assignment()
        .arg("--registry-ttl-ms")
        .arg(TTL_MS);
    Gateway::start(extra.iter().fold(opts, |opts, arg| opts.arg(*arg)))
}

fn users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user-{i}")).collect()
}

/// Where the dispatcher sends `user`: `(status, url)`.
async fn assigned(stack: &Stack, user: &str) -> (u16, Value) {
    let (status, body) = Api::new(&stack.dispatcher.base_url())
        .bearer(&token(user))
        .get("/api/gateway", None)
        .await;
    (status, body["url"].clone())
}

/// Waits until the registry lists exactly `urls` (what `GET /api/gateway` hands out over many
/// users), so every node and the dispatcher see the same fleet.
async fn wait_for_fleet(stack: &Stack, urls: &[String]) {
    let want: BTreeSet<String> = urls.iter().cloned().collect();
    eventually(
        "the registry lists the expected nodes",
        Duration::from_secs(10),
        || async {
            let mut seen = BTreeSet::new();
            for user in users(60) {
                if let (200, Value::String(url)) = assigned(stack, &user).await {
                    seen.insert(url);
                }
            }
            seen == want
        },
    )
    .await;
    // Nodes read the fleet on their own beat; give them one.
    tokio::time::sleep(Duration::from_millis(400)).await;
}

fn url_of(gateway: &Gateway) -> String {
    gateway.ws_url("/api/ws")
}

/// Connects `user` where the dispatcher says, and joins the lobby.
async fn connect_assigned(stack: &Stack, user: &str) -> (NativeClient, String) {
    let (status, url) = assigned(stack, user).await;
    assert_eq!(status, 200, "GET /api/gateway for {user}");
    let url = url.as_str().expect("a url").to_owned();
    let mut client = NativeClient::connect_url(&format!("{url}?token={}", token(user))).await;
    client.subscribe(ROOM).await;
    (client, url)
}

async fn lobby_with(stack: &Stack, members: &[String]) {
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    stack.chat.channel(CHANNEL, OWNER, &members).await;
}

#[tokio::test]
async fn clients_land_on_their_assigned_node_and_receive_events_on_every_node() {
    let stack = Stack::start();
    let nodes = [
        node(&stack, "gw-a", &[]),
        node(&stack, "gw-b", &[]),
        node(&stack, "gw-c", &[]),
    ];
    let urls: Vec<String> = nodes.iter().map(url_of).collect();
    wait_for_fleet(&stack, &urls).await;
    let users = users(12);
    lobby_with(&stack, &users).await;

    let mut clients = Vec::new();
    let mut used = BTreeSet::new();
    for user in &users {
        let (client, url) = connect_assigned(&stack, user).await;
        assert_eq!(
            assigned(&stack, user).await.1,
            url,
            "the same user gets the same node"
        );
        used.insert(url);
        clients.push(client);
    }
    assert!(used.len() > 1, "12 users all landed on one node: {used:?}");

    stack.chat.post(CHANNEL, OWNER, "hello fleet").await;
    for client in &mut clients {
        let event = client.recv_type("MESSAGE_CREATE").await;
        assert_eq!(event["data"]["content"], "hello fleet");
    }
}

#[tokio::test]
async fn a_client_on_the_wrong_node_is_redirected_to_its_assigned_one() {
    let stack = Stack::start();
    let nodes = [node(&stack, "gw-a", &[]), node(&stack, "gw-b", &[])];
    let urls: Vec<String> = nodes.iter().map(url_of).collect();
    wait_for_fleet(&stack, &urls).await;

    for user in users(4) {
        let (_, right) = assigned(&stack, &user).await;
        let wrong = nodes
            .iter()
            .find(|n| json!(url_of(n)) != right)
            .expect("two nodes");
        let mut ws = integration_tests::WsClient::connect(
            &wrong.ws_url(&format!("/api/ws?token={}", token(&user))),
        )
        .await;
        let reconnect = ws.recv_json().await;
        assert_eq!(
            reconnect,
            json!({"type": "RECONNECT", "data": {"url": right}}),
            "{user}"
        );
        assert_eq!(ws.expect_close().await, Some(4021));
    }
}

#[tokio::test]
async fn a_draining_node_sends_its_clients_elsewhere_and_they_keep_receiving() {
    let stack = Stack::start();
    let mut nodes = [
        node(&stack, "gw-a", &["--drain-window-ms", "500"]),
        node(&stack, "gw-b", &["--drain-window-ms", "500"]),
        node(&stack, "gw-c", &["--drain-window-ms", "500"]),
    ];
    let urls: Vec<String> = nodes.iter().map(url_of).collect();
    wait_for_fleet(&stack, &urls).await;
    let users = users(12);
    lobby_with(&stack, &users).await;
    let mut clients = Vec::new();
    for user in &users {
        let (client, url) = connect_assigned(&stack, user).await;
        clients.push((user.clone(), client, url));
    }
    // Drain the node holding the most clients.
    let victim_url = urls
        .iter()
        .max_by_key(|u| clients.iter().filter(|(_, _, url)| url == *u).count())
        .unwrap()
        .clone();
    let victim = nodes.iter().position(|n| url_of(n) == victim_url).unwrap();
    nodes[victim].terminate();

    let mut moved = 0;
    for (user, client, url) in &mut clients {
        if *url != victim_url {
            continue;
        }
        moved += 1;
        let reconnect = client.recv_type("RECONNECT").await;
        let next = reconnect["data"]["url"]
            .as_str()
            .expect("a successor url")
            .to_owned();
        assert_ne!(next, victim_url, "sent back to the draining node");
        assert_eq!(client.expect_close().await, Some(4021));
        // The client follows GET /api/gateway, which no longer names the draining node.
        let (status, again) = assigned(&stack, user).await;
        assert_eq!(
            (status, again),
            (200, json!(next)),
            "{user}: RECONNECT and GET /api/gateway agree"
        );
        let (fresh, landed) = connect_assigned(&stack, user).await;
        assert_eq!(landed, next);
        *client = fresh;
        *url = landed;
    }
    assert!(moved > 0);
    let status = nodes[victim]
        .wait_exit(Duration::from_secs(10))
        .expect("the drained node exits");
    assert!(status.success(), "drained node exit status: {status:?}");

    stack.chat.post(CHANNEL, OWNER, "after the drain").await;
    for (user, client, _) in &mut clients {
        let event = client.recv_type("MESSAGE_CREATE").await;
        assert_eq!(event["data"]["content"], "after the drain", "{user}");
    }
}

#[tokio::test]
async fn a_draining_node_refuses_new_sockets_and_reports_not_ready() {
    let stack = Stack::start();
    // A long drain window keeps the node draining while the test looks at it.
    let mut gateway = node(
        &stack,
        "gw-a",
        &["--drain-window-ms", "3000", "--shutdown-grace-ms", "4000"],
    );
    wait_for_fleet(&stack, &[url_of(&gateway)]).await;
    let mut client = NativeClient::connect(&gateway, "someone").await;
    let http = Api::new(&gateway.http_url());
    assert_eq!(http.get("/readyz", None).await.0, 200);

    gateway.terminate();
    eventually("readyz turns 503", Duration::from_secs(5), || async {
        http.get("/readyz", None).await.0 == 503
    })
    .await;
    let refused = integration_tests::WsClient::try_connect(
        &gateway.ws_url(&format!("/api/ws?token={}", token("newcomer"))),
    )
    .await;
    assert!(refused.is_err(), "a draining node accepted a socket");
    let (status, body) = assigned(&stack, "newcomer").await;
    assert_eq!(
        (status, body),
        (503, Value::Null),
        "no live node is left to assign"
    );

    assert_eq!(
        client.recv_type("RECONNECT").await["data"]["url"],
        Value::Null
    );
    assert_eq!(client.expect_close().await, Some(4021));
    assert!(
        gateway
            .wait_exit(Duration::from_secs(6))
            .expect("exits within the grace period")
            .success()
    );
}

#[tokio::test]
async fn a_killed_node_leaves_the_registry_by_ttl() {
    let stack = Stack::start();
    let mut nodes = [node(&stack, "gw-a", &[]), node(&stack, "gw-b", &[])];
    let urls: Vec<String> = nodes.iter().map(url_of).collect();
    wait_for_fleet(&stack, &urls).await;

    nodes[0].kill();
    let survivor = json!(urls[1]);
    let every_user_on_the_survivor = eventually_some(
        "every user is assigned to the surviving node",
        Duration::from_secs(5),
        || async {
            for user in users(40) {
                if assigned(&stack, &user).await.1 != survivor {
                    return None;
                }
            }
            Some(())
        },
    );
    every_user_on_the_survivor.await;
    let index = stack.redis.cli(&["ZRANGE", "{fleet}:nodes", "0", "-1"]);
    assert!(
        !index.contains("gw-a"),
        "the dead node is pruned from the index: {index}"
    );
}
