//! Helpers for multi-process integration tests: a real Redis, the real binaries, WebSocket
//! and HTTP clients, test tokens and a bounded `eventually`.

pub mod auth;
pub mod chat;
pub mod follower;
pub mod http;
pub mod lanyard;
pub mod leaks;
pub mod native;
pub mod node;
pub mod openssl;
pub mod process;
pub mod proxy;
pub mod redis;
pub mod redis_cluster;
pub mod redis_secure;
pub mod stack;
pub mod wait;
pub mod ws;

pub use auth::*;
pub use chat::Chat;
pub use follower::{Follower, assert_exactly_once};
pub use http::{Api, Method};
pub use native::{NativeClient, assert_subscribed};
pub use node::NodeProject;
pub use process::{
    Dispatcher, DispatcherOpts, GLIBC_TUNABLES, Gateway, GatewayOpts, Launch, ServiceProcess,
    free_port,
};
pub use proxy::ChaosProxy;
pub use redis::RedisServer;
pub use redis_cluster::RedisCluster;
pub use redis_secure::{KEY_PREFIX, SecureRedis};
pub use stack::{Publisher, Stack, StackRedis, gateway_on, metric, publish};
pub use tokio_tungstenite::tungstenite;
pub use wait::{eventually, eventually_some};
pub use ws::{WsClient, upgrade_request};
