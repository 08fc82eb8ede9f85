//! A small deployment for gateway tests: one Redis, one dispatcher, and as many gateway nodes
//! as a test asks for, all sharing that Redis. Also what tests do around it: publish straight
//! into Redis, and read a process's Prometheus metrics.
//!
//! With `TEST_REDIS=cluster` in the environment, [`Stack::start`] starts a 3-master Redis
//! Cluster instead (sharded pub/sub): `scripts/test` runs the presence, typing and voice
//! suites a second time that way. A test that stops or restarts Redis needs the single one.

use crate::chat::Chat;
use crate::http::Api;
use crate::process::{Dispatcher, DispatcherOpts, Gateway, GatewayOpts};
use crate::redis::RedisServer;
use crate::redis_cluster::RedisCluster;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::ops::Deref;

pub struct Stack {
    pub redis: StackRedis,
    pub dispatcher: Dispatcher,
    /// The dispatcher's API.
    pub chat: Chat,
}

impl Stack {
    /// Redis and a dispatcher with default flags.
    pub fn start() -> Stack {
        Self::start_with_dispatcher_args(&[])
    }

    /// Redis (a cluster with `TEST_REDIS=cluster`) and a dispatcher started with `args` after
    /// the standard flags.
    pub fn start_with_dispatcher_args(args: &[&str]) -> Stack {
        let redis = match std::env::var("TEST_REDIS").as_deref() {
            Ok("cluster") => StackRedis::Cluster(RedisCluster::start()),
            _ => StackRedis::Single(RedisServer::start()),
        };
        Self::start_with(redis, args)
    }

    /// A dispatcher (with `args`) on the given Redis.
    pub fn start_on(redis: RedisServer, args: &[&str]) -> Stack {
        Self::start_with(StackRedis::Single(redis), args)
    }

    fn start_with(redis: StackRedis, args: &[&str]) -> Stack {
        let opts = args
            .iter()
            .fold(DispatcherOpts::new(redis.url()), |opts, arg| opts.arg(*arg));
        let dispatcher = Dispatcher::start(opts);
        let chat = Chat::new(&dispatcher.base_url());
        Stack {
            redis,
            dispatcher,
            chat,
        }
    }

    /// Starts a gateway node on this stack's Redis, with `args` after the standard flags.
    pub fn gateway(&self, node_id: &str, args: &[&str]) -> Gateway {
        let opts = args
            .iter()
            .fold(GatewayOpts::new(self.redis.url(), node_id), |opts, arg| {
                opts.arg(*arg)
            });
        Gateway::start(opts)
    }

    /// `PUBLISH room payload` straight into Redis (`SPUBLISH` on a cluster); returns how many
    /// subscribers got it.
    pub fn publish(&self, room: &str, payload: &Value) -> u64 {
        self.redis.publish(room, payload)
    }

    /// Publishes a marker event `{"type":"MARKER","data":{"label":label}}` on `room` straight
    /// into Redis and returns the native frame a socket in `room` gets for it.
    ///
    /// Redis delivers a node's subscriptions in publication order and the node fans out in that
    /// order, so a socket whose next frame is the marker got nothing published before it
    /// (on any room) that it has not already read: a bounded way to prove that an event did
    /// not reach a socket, without sleeping.
    ///
    /// On a Redis Cluster a node reads each shard on its own connection, so a marker on one
    /// shard is not ordered after events on another: there, what was published before is given
    /// 200 ms to arrive first (weaker than on one Redis, where the order is exact).
    pub fn publish_marker(&self, room: &str, label: &str) -> Value {
        if matches!(self.redis, StackRedis::Cluster(_)) {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let receivers = self.publish(room, &json!({"type": "MARKER", "data": {"label": label}}));
        assert!(receivers > 0, "no gateway node is subscribed to {room}");
        json!({"type": "MARKER", "room": room, "data": {"label": label}})
    }
}

/// A [`Stack`]'s Redis: one server, or a 3-master cluster (`TEST_REDIS=cluster`). Derefs to
/// the single server for what only it can do (stop, start again, a raw connection); that
/// panics on a cluster.
pub enum StackRedis {
    Single(RedisServer),
    Cluster(RedisCluster),
}

impl StackRedis {
    pub fn url(&self) -> String {
        match self {
            StackRedis::Single(redis) => redis.url(),
            StackRedis::Cluster(cluster) => cluster.url(),
        }
    }

    /// The server's port, or the cluster's first master's.
    pub fn port(&self) -> u16 {
        match self {
            StackRedis::Single(redis) => redis.port(),
            StackRedis::Cluster(cluster) => cluster.ports()[0],
        }
    }

    /// Runs `redis-cli args...` (following a cluster's redirections) and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        match self {
            StackRedis::Single(redis) => redis.cli(args),
            StackRedis::Cluster(cluster) => cluster.cli(cluster.ports()[0], args),
        }
    }

    /// Publishes as the broker does: `PUBLISH`, or `SPUBLISH` on the room's shard.
    pub fn publish(&self, room: &str, payload: &Value) -> u64 {
        let command = match self {
            StackRedis::Single(_) => "PUBLISH",
            StackRedis::Cluster(_) => "SPUBLISH",
        };
        let receivers = self.cli(&[command, room, &payload.to_string()]);
        receivers
            .parse()
            .unwrap_or_else(|_| panic!("{command} {room} answered {receivers:?}"))
    }
}

impl Deref for StackRedis {
    type Target = RedisServer;

    fn deref(&self) -> &RedisServer {
        match self {
            StackRedis::Single(redis) => redis,
            StackRedis::Cluster(_) => panic!("this test needs a single Redis, not a cluster"),
        }
    }
}

impl std::ops::DerefMut for StackRedis {
    fn deref_mut(&mut self) -> &mut RedisServer {
        match self {
            StackRedis::Single(redis) => redis,
            StackRedis::Cluster(_) => panic!("this test needs a single Redis, not a cluster"),
        }
    }
}

/// Starts a gateway node on `redis`, with `args` after the standard flags.
pub fn gateway_on(redis: &RedisServer, node_id: &str, args: &[&str]) -> Gateway {
    let opts = args
        .iter()
        .fold(GatewayOpts::new(redis.url(), node_id), |opts, arg| {
            opts.arg(*arg)
        });
    Gateway::start(opts)
}

/// A connection to Redis that publishes without starting a process per command (redis-cli
/// does), for tests that race a publication against the gateway.
pub struct Publisher {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Publisher {
    pub fn connect(redis: &RedisServer) -> Publisher {
        let writer = TcpStream::connect(("127.0.0.1", redis.port()))
            .unwrap_or_else(|e| panic!("connect to Redis on port {}: {e}", redis.port()));
        writer.set_nodelay(true).expect("TCP_NODELAY");
        let reader = BufReader::new(writer.try_clone().expect("clone the Redis connection"));
        Publisher { reader, writer }
    }

    /// `PUBLISH room payload`; returns how many subscribers got it.
    pub fn publish(&mut self, room: &str, payload: &Value) -> u64 {
        let payload = payload.to_string();
        let mut command = String::from("*3\r\n$7\r\nPUBLISH\r\n");
        for arg in [room, payload.as_str()] {
            command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.writer
            .write_all(command.as_bytes())
            .expect("send PUBLISH");
        let mut reply = String::new();
        self.reader
            .read_line(&mut reply)
            .expect("read the PUBLISH reply");
        reply
            .strip_prefix(':')
            .and_then(|n| n.trim_end().parse().ok())
            .unwrap_or_else(|| panic!("PUBLISH {room} answered {reply:?}"))
    }
}

/// `PUBLISH room payload` with redis-cli; returns how many subscribers got it.
pub fn publish(redis: &RedisServer, room: &str, payload: &Value) -> u64 {
    let receivers = redis.cli(&["PUBLISH", room, &payload.to_string()]);
    receivers
        .parse()
        .unwrap_or_else(|_| panic!("PUBLISH {room} answered {receivers:?}"))
}

/// The sum of every sample of metric `name` (all label sets) on `GET {base_url}/metrics`;
/// None if the metric is not exported.
pub async fn metric(base_url: &str, name: &str) -> Option<f64> {
    let (status, body) = Api::new(base_url).get("/metrics", None).await;
    assert_eq!(status, 200, "GET {base_url}/metrics");
    let Value::String(text) = body else {
        panic!("GET {base_url}/metrics is not text: {body}")
    };
    metric_in(&text, name)
}

/// The sum of every sample of `name` in a Prometheus text exposition.
pub fn metric_in(exposition: &str, name: &str) -> Option<f64> {
    let mut total = None;
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        // `name value` or `name{labels} value`, not a longer name sharing the prefix.
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        let value = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let Some(value) = value {
            *total.get_or_insert(0.0) += value;
        }
    }
    total
}
