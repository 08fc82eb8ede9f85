//! Faults during a stream of messages (docs/protocol.md, "Delivery"): a paced stream of
//! 5,000 messages through the dispatcher over four channels while a gateway node is killed,
//! its Redis link is cut, every node is restarted in turn, or Redis itself is restarted. The
//! posters retry with an `Idempotency-Key` until the dispatcher acknowledges. Each follower
//! reconnects and recovers as the protocol docs tell clients to, and must end with every
//! acknowledged message exactly once, in order.

use integration_tests::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ROOMS: usize = 4;
const PER_ROOM: usize = 1250;
/// Messages per second per room: the stream lasts about 10 s, long enough to span the fault.
const RATE_PER_ROOM: u64 = 125;
const FOLLOWERS: [&str; 3] = ["21", "22", "23"];
/// History long enough for the outages here (the default is 1,000 per room).
const HISTORY: &[&str] = &["--history-max-len", "10000"];

fn rooms() -> Vec<String> {
    (0..ROOMS).map(|r| format!("channel:chaos{r}")).collect()
}

/// Creates the channels with every follower as a member.
async fn channels(stack: &Stack) {
    for r in 0..ROOMS {
        stack
            .chat
            .channel(&format!("chaos{r}"), "1", &FOLLOWERS)
            .await;
    }
}

/// What the dispatcher acknowledged, per room, in order.
type Acked = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// Posts `PER_ROOM` messages into each room at `RATE_PER_ROOM`, one poster per room, and
/// records each acknowledged id. Returns the acknowledgements and the posters' handles.
fn stream(stack: &Stack) -> (Acked, Vec<tokio::task::JoinHandle<()>>) {
    let acked: Acked = Arc::default();
    let posters = (0..ROOMS)
        .map(|r| {
            let (chat, acked) = (stack.chat.clone(), acked.clone());
            tokio::spawn(async move {
                let room = format!("channel:chaos{r}");
                let mut tick =
                    tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_ROOM));
                let api = chat.as_user("1");
                for i in 0..PER_ROOM {
                    tick.tick().await;
                    let id = format!("m{r}x{i}");
                    post_until_acknowledged(&api, &format!("chaos{r}"), &id).await;
                    acked
                        .lock()
                        .unwrap()
                        .entry(room.clone())
                        .or_default()
                        .push(id);
                }
            })
        })
        .collect();
    (acked, posters)
}

/// 503 answers the posters got (this test binary's tests run in separate processes).
static UNAVAILABLE_ANSWERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Posts message `id` until the dispatcher acknowledges it, retrying what a client should
/// retry (503 while Redis is away, a request still in progress, a lost connection) with the
/// same `Idempotency-Key`.
async fn post_until_acknowledged(api: &Api, channel: &str, id: &str) {
    let path = format!("/api/v1/channels/{channel}/messages");
    let body = serde_json::json!({"content": "chaos", "id": id});
    let key = [("Idempotency-Key", id)];
    for try_number in 0..600 {
        let attempt = api.try_with_headers(Method::POST, &path, Some(body.clone()), &key);
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok((201, _, _))) => return,
            Ok(Ok((503, _, body))) => {
                UNAVAILABLE_ANSWERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                assert_eq!(body["code"], "unavailable", "{body}");
                assert_eq!(
                    body["error"], "service unavailable, retry later",
                    "no internal detail"
                );
            }
            Ok(Ok((409, _, body))) if body["code"] == "idempotency_in_progress" => {}
            // A retry finding its own message id taken: an earlier attempt went through
            // (the id and the publication are one step), its answer was lost with Redis.
            Ok(Ok((409, _, body))) if try_number > 0 && body["code"] == "conflict" => return,
            Ok(Ok((status, _, body))) => panic!("posting {id}: {status} {body}"),
            Ok(Err(_)) | Err(_) => {} // connection refused or cut: retry
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{id} was never acknowledged");
}

fn acked_so_far(acked: &Acked) -> usize {
    acked.lock().unwrap().values().map(Vec::len).sum()
}

async fn wait_for_acks(acked: &Acked, n: usize) {
    eventually(
        &format!("{n} messages acknowledged"),
        Duration::from_secs(60),
        || {
            let done = acked_so_far(acked) >= n;
            async move { done }
        },
    )
    .await;
}

/// Lets every follower read until it has every acknowledged message (or 60 s pass), then
/// checks each one received exactly that.
async fn finish(
    followers: &mut [Follower],
    posters: Vec<tokio::task::JoinHandle<()>>,
    acked: &Acked,
) {
    for poster in posters {
        poster.await.expect("a poster failed");
    }
    let acked = acked.lock().unwrap().clone();
    let want: HashMap<String, usize> = acked
        .iter()
        .map(|(r, ids)| (r.clone(), ids.len()))
        .collect();
    for follower in followers.iter_mut() {
        follower
            .follow_until(Duration::from_secs(60), |received| {
                want.iter().all(|(room, n)| received[room].len() >= *n)
            })
            .await;
        assert_exactly_once(follower, &acked);
        eprintln!(
            "follower: {} reconnects, {} not recovered",
            follower.reconnects, follower.not_recovered
        );
        assert_eq!(follower.not_recovered, 0, "history covered every outage");
    }
}

async fn followers(stack: &Stack) -> Vec<Follower> {
    let mut all = Vec::new();
    for user in FOLLOWERS {
        all.push(Follower::start(&stack.dispatcher.base_url(), user, &rooms()).await);
    }
    all
}

/// Reads what has arrived so far on every follower, for `for_how_long`.
async fn keep_reading(followers: &mut [Follower], for_how_long: Duration) {
    for follower in followers.iter_mut() {
        follower
            .follow_until(for_how_long / FOLLOWERS.len() as u32, |_| false)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_stream_loses_nothing_for_its_clients() {
    let stack = Stack::start_with_dispatcher_args(HISTORY);
    let mut nodes = [stack.gateway("gw-a", &[]), stack.gateway("gw-b", &[])];
    channels(&stack).await;
    let mut followers = followers(&stack).await;
    let (acked, posters) = stream(&stack);
    wait_for_acks(&acked, 1000).await;
    keep_reading(&mut followers, Duration::from_millis(600)).await;

    // Kill the node the first follower is on (at least one client loses its node).
    let on = followers[0].node_url().expect("connected").to_owned();
    let victim = nodes
        .iter_mut()
        .find(|n| on.starts_with(&n.ws_url("")))
        .expect("the follower's node is one of ours");
    victim.kill();
    finish(&mut followers, posters, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_redis_link_loses_nothing_for_the_nodes_clients() {
    let stack = Stack::start_with_dispatcher_args(HISTORY);
    let proxy = ChaosProxy::start(stack.redis.port());
    let url = proxy.redis_url();
    let gateway = gateway_on_url(&url, "gw-cut");
    channels(&stack).await;
    let mut followers = followers(&stack).await;
    let (acked, posters) = stream(&stack);
    wait_for_acks(&acked, 1000).await;

    proxy.cut();
    keep_reading(&mut followers, Duration::from_secs(5)).await;
    proxy.restore();
    finish(&mut followers, posters, &acked).await;
    // The node, not the clients, made up for the outage: it refilled from history.
    let refilled = metric(&gateway.http_url(), "gateway_events_refilled_total").await;
    assert!(refilled.unwrap_or(0.0) > 0.0, "refilled {refilled:?}");
    for follower in &followers {
        assert_eq!(follower.reconnects, 0, "no client had to reconnect");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_every_node_loses_nothing() {
    let stack = Stack::start_with_dispatcher_args(HISTORY);
    let drain = ["--drain-window-ms", "500"];
    let mut nodes = [stack.gateway("gw-a", &drain), stack.gateway("gw-b", &drain)];
    channels(&stack).await;
    let mut followers = followers(&stack).await;
    let (acked, posters) = stream(&stack);
    wait_for_acks(&acked, 800).await;

    for (i, name) in ["gw-a", "gw-b"].into_iter().enumerate() {
        nodes[i].terminate();
        // Keep the clients reading while the node drains (they follow RECONNECT).
        keep_reading(&mut followers, Duration::from_millis(1500)).await;
        assert!(
            nodes[i].wait_exit(Duration::from_secs(30)).is_some(),
            "{name} did not exit after SIGTERM"
        );
        nodes[i] = stack.gateway(name, &drain);
        keep_reading(&mut followers, Duration::from_millis(600)).await;
    }
    finish(&mut followers, posters, &acked).await;
}

/// A gateway on Redis at `redis_url` (e.g. through a proxy).
fn gateway_on_url(redis_url: &str, node_id: &str) -> Gateway {
    Gateway::start(GatewayOpts::new(redis_url, node_id))
}

#[tokio::test]
async fn messages_posted_while_the_link_is_down_arrive_once_it_is_back() {
    let stack = Stack::start();
    let proxy = ChaosProxy::start(stack.redis.port());
    let gateway = gateway_on_url(&proxy.redis_url(), "gw-cut");
    stack.chat.channel("42", "1", &["7"]).await;
    let mut client = NativeClient::connect(&gateway, "7").await;
    client.subscribe("channel:42").await;

    proxy.cut();
    for i in 0..20 {
        stack
            .chat
            .post_with_id("42", "1", "while cut", Some(&format!("cut{i}")))
            .await;
    }
    proxy.restore();
    // No event follows: only the node's catch-up after its reconnection can bring these.
    for i in 0..20 {
        let frame = client.recv_type("MESSAGE_CREATE").await;
        assert_eq!(frame["data"]["id"], format!("cut{i}"), "{frame}");
    }
    let marker = stack.publish_marker("channel:42", "after");
    assert_eq!(
        client.recv_until(&marker).await,
        Vec::<serde_json::Value>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_with_aof_loses_nothing_acknowledged() {
    let mut stack = Stack::start_on(RedisServer::start_persistent(), HISTORY);
    let _a = stack.gateway("gw-a", &[]);
    let _b = stack.gateway("gw-b", &[]);
    channels(&stack).await;
    let mut followers = followers(&stack).await;
    let (acked, posters) = stream(&stack);
    wait_for_acks(&acked, 1000).await;

    stack.redis.stop();
    // While Redis is away the dispatcher answers 503 (the posters check its body) and
    // acknowledges nothing.
    let during = acked_so_far(&acked);
    keep_reading(&mut followers, Duration::from_secs(2)).await;
    assert!(
        acked_so_far(&acked) <= during + ROOMS,
        "acknowledged without Redis"
    );
    stack.redis.start_again();
    finish(&mut followers, posters, &acked).await;
    let refused = UNAVAILABLE_ANSWERS.load(std::sync::atomic::Ordering::Relaxed);
    assert!(refused > 0, "the outage was seen as 503s");
}
