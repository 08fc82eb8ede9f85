//! A small deployment for gateway tests: one Redis, one dispatcher, and as many gateway nodes
//! as a test asks for, all sharing that Redis. Also what tests do around it: publish straight
//! into Redis, and read a process's Prometheus metrics.

use crate::chat::Chat;
use crate::http::Api;
use crate::process::{Dispatcher, DispatcherOpts, Gateway, GatewayOpts};
use crate::redis::RedisServer;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

pub struct Stack {
    pub redis: RedisServer,
    pub dispatcher: Dispatcher,
    /// The dispatcher's API.
    pub chat: Chat,
}

impl Stack {
    /// Redis and a dispatcher with default flags.
    pub fn start() -> Stack {
        Self::start_with_dispatcher_args(&[])
    }

    /// Redis and a dispatcher started with `args` after the standard flags.
    pub fn start_with_dispatcher_args(args: &[&str]) -> Stack {
        Self::start_on(RedisServer::start(), args)
    }

    /// A dispatcher (with `args`) on the given Redis.
    pub fn start_on(redis: RedisServer, args: &[&str]) -> Stack {
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
        gateway_on(&self.redis, node_id, args)
    }

    /// `PUBLISH room payload` straight into Redis; returns how many subscribers got it.
    pub fn publish(&self, room: &str, payload: &Value) -> u64 {
        publish(&self.redis, room, payload)
    }

    /// Publishes a marker event `{"type":"MARKER","data":{"label":label}}` on `room` straight
    /// into Redis and returns the native frame a socket in `room` gets for it.
    ///
    /// Redis delivers a node's subscriptions in publication order and the node fans out in that
    /// order, so a socket whose next frame is the marker got nothing published before it
    /// (on any room) that it has not already read: a bounded way to prove that an event did
    /// not reach a socket, without sleeping.
    pub fn publish_marker(&self, room: &str, label: &str) -> Value {
        let receivers = self.publish(room, &json!({"type": "MARKER", "data": {"label": label}}));
        assert!(receivers > 0, "no gateway node is subscribed to {room}");
        json!({"type": "MARKER", "room": room, "data": {"label": label}})
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
