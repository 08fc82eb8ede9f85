//! The gateway node's configuration: flags with environment fallbacks (DESIGN §6).

use clap::Parser;
use shared::options::{BrokerOptions, JwtOptions};
use std::{net::SocketAddr, time::Duration};

#[derive(Parser, Clone, Debug)]
#[command(
    name = "gateway",
    about = "A stateless WebSocket gateway node",
    version
)]
pub struct Config {
    /// Address the node listens on (WebSocket and HTTP).
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// This node's id in logs and the node registry. Default: a random id.
    #[arg(long, env = "GATEWAY_NODE_ID")]
    pub node_id: Option<String>,
    /// URL clients use to reach this node, published in the node registry.
    /// Default: ws://<listen>/api/ws.
    #[arg(long, env = "GATEWAY_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub broker: BrokerOptions,
    #[command(flatten)]
    pub jwt: JwtOptions,
    #[command(flatten)]
    pub limits: Limits,
    #[command(flatten)]
    pub fleet: FleetOptions,
    #[command(flatten)]
    pub sources: SourceLimits,
    /// Origins browsers may open sockets from, comma-separated (e.g.
    /// `https://chat.example.com`); an upgrade from another `Origin` gets HTTP 403. Default:
    /// unset, any origin (the dev default; set it in production). Requests without an
    /// `Origin` header (non-browser clients) are not affected.
    #[arg(long, env = "GATEWAY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "GATEWAY_LOG_JSON")]
    pub log_json: bool,
}

/// How the node takes part in the fleet: registry, assignment, drain.
#[derive(clap::Args, Clone, Debug)]
pub struct FleetOptions {
    /// Send new sessions of users assigned to another node there (RECONNECT, then close 4021).
    /// Turn off for single-URL deployments behind a plain load balancer.
    #[arg(long, env = "GATEWAY_ENFORCE_ASSIGNMENT", default_value_t = true, action = clap::ArgAction::Set)]
    pub enforce_assignment: bool,
    /// Milliseconds the node's registry entry lives without a heartbeat (heartbeats every fifth
    /// of this): a node that dies without leaving drops out within this time.
    #[arg(long, env = "GATEWAY_REGISTRY_TTL_MS", default_value_t = 5_000)]
    pub registry_ttl_ms: u64,
    /// Milliseconds over which a draining node spreads its clients' reconnects.
    #[arg(long, env = "GATEWAY_DRAIN_WINDOW_MS", default_value_t = 10_000)]
    pub drain_window_ms: u64,
    /// Milliseconds after the stop signal by which the node has exited.
    #[arg(long, env = "GATEWAY_SHUTDOWN_GRACE_MS", default_value_t = 25_000)]
    pub shutdown_grace_ms: u64,
    /// Milliseconds a session's presence and voice entries live unless its node renews them
    /// (every third of this): a dead node's users go offline and leave voice within about
    /// 1.7× this.
    #[arg(long, env = "GATEWAY_LIVE_TTL_MS", default_value_t = 15_000)]
    pub live_ttl_ms: u64,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            enforce_assignment: true,
            registry_ttl_ms: 5_000,
            drain_window_ms: 10_000,
            shutdown_grace_ms: 25_000,
            live_ttl_ms: 15_000,
        }
    }
}

impl FleetOptions {
    pub fn registry_ttl(&self) -> Duration {
        Duration::from_millis(self.registry_ttl_ms.max(100))
    }

    pub fn heartbeat_every(&self) -> Duration {
        self.registry_ttl() / 5
    }

    pub fn drain_window(&self) -> Duration {
        Duration::from_millis(self.drain_window_ms)
    }

    pub fn live_ttl(&self) -> Duration {
        Duration::from_millis(self.live_ttl_ms.max(300))
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

/// Limits per client address (DESIGN §6), checked at the upgrade: past them HTTP 429 with
/// `Retry-After` and a JSON body. 0 turns a limit off.
#[derive(clap::Args, Clone, Debug)]
pub struct SourceLimits {
    /// Sockets one client address may have open on this node.
    #[arg(long, env = "GATEWAY_MAX_SOCKETS_PER_IP", default_value_t = 500)]
    pub max_sockets_per_ip: usize,
    /// New sockets one client address may open per second on this node (burst: twice this).
    #[arg(
        long,
        env = "GATEWAY_NEW_SOCKETS_PER_IP_PER_SECOND",
        default_value_t = 50
    )]
    pub new_sockets_per_ip_per_second: u32,
    /// Proxies whose `X-Forwarded-For` is believed, as CIDRs, comma-separated (e.g.
    /// `10.0.0.0/8`). The client address is the right-most address in that header not in
    /// this list. Default: none (the peer address is the client's; the header is ignored).
    #[arg(long, env = "GATEWAY_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            max_sockets_per_ip: 500,
            new_sockets_per_ip_per_second: 50,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Per-connection limits and timings.
#[derive(clap::Args, Clone, Debug)]
pub struct Limits {
    /// Milliseconds between client heartbeats, announced in READY; a socket silent for 1.5× this
    /// is closed (native close code 4009).
    #[arg(long, env = "GATEWAY_HEARTBEAT_INTERVAL_MS", default_value_t = 30_000)]
    pub heartbeat_interval_ms: u64,
    /// Milliseconds a new connection may take to send its whole HTTP request head (the
    /// WebSocket handshake); a silent or trickling client is disconnected after it.
    #[arg(long, env = "GATEWAY_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000)]
    pub handshake_timeout_ms: u64,
    /// Milliseconds an unauthenticated socket may take to IDENTIFY (then 4003).
    #[arg(long, env = "GATEWAY_IDENTIFY_TIMEOUT_MS", default_value_t = 10_000)]
    pub identify_timeout_ms: u64,
    /// Frames a socket's outbound queue holds; a full queue closes it as a slow consumer
    /// (native 4020).
    #[arg(long, env = "GATEWAY_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,
    /// Largest client frame handled, in bytes; larger ones get `ERROR "invalid payload"`.
    /// Frames over 4× this close the socket (1009).
    #[arg(long, env = "GATEWAY_MAX_FRAME_BYTES", default_value_t = 16 * 1024)]
    pub max_frame_bytes: usize,
    /// Client frames allowed per second (burst: twice this); beyond, the socket is closed
    /// (native 4008).
    #[arg(long, env = "GATEWAY_FRAMES_PER_SECOND", default_value_t = 60)]
    pub frames_per_second: u32,
    /// Discord dialect: client ops allowed per 60 s (Discord's own gateway allowed 120), on
    /// top of the per-second limit; beyond, close 4008.
    #[arg(long, env = "GATEWAY_DISCORD_OPS_PER_MINUTE", default_value_t = 120)]
    pub discord_ops_per_minute: u32,
    /// Invalid frames (bad JSON, unknown op, bad arguments) tolerated per minute before the
    /// socket is closed (native 4002).
    #[arg(long, env = "GATEWAY_INVALID_FRAMES_PER_MINUTE", default_value_t = 20)]
    pub invalid_frames_per_minute: u32,
    /// Rooms one socket may join, the automatic ones included.
    #[arg(long, env = "GATEWAY_MAX_ROOMS_PER_SOCKET", default_value_t = 1000)]
    pub max_rooms_per_socket: usize,
    /// Most events one `SUBSCRIBE {since}` replays; a client that missed more is answered
    /// `recovered: false` (and reloads through the API). Also the most a node fetches to fill
    /// one room's gap after its Redis link came back.
    #[arg(long, env = "GATEWAY_MAX_REPLAY", default_value_t = 1000)]
    pub max_replay: usize,
    /// Sockets one user may have open on this node (0: no limit). Past it, an upgrade with
    /// `?token=` gets HTTP 429 with `Retry-After`; a socket that IDENTIFYs is closed with 4029.
    #[arg(long, env = "GATEWAY_MAX_SOCKETS_PER_USER", default_value_t = 10)]
    pub max_sockets_per_user: usize,
    /// Seconds a closed session can be resumed (`RESUME`): its record is kept that long.
    #[arg(long, env = "GATEWAY_RESUME_TTL_SECS", default_value_t = 300)]
    pub resume_ttl_secs: u64,
    /// User ids one PRESENCE_SUBSCRIBE may name.
    #[arg(long, env = "GATEWAY_PRESENCE_MAX_IDS", default_value_t = 100)]
    pub presence_max_ids: usize,
    /// Allow PRESENCE_SUBSCRIBE `all: true` (every user's presence; on a Redis Cluster
    /// through the `presence-all` fan-in channel).
    #[arg(long, env = "GATEWAY_PRESENCE_ALLOW_ALL")]
    pub presence_allow_all: bool,
    /// Require `?token=<jwt>` on the Lanyard socket (`/socket`; HTTP 401 without a valid one).
    /// Default: off, a public socket as Lanyard's own (docs/protocol-lanyard.md).
    #[arg(long, env = "GATEWAY_LANYARD_REQUIRE_TOKEN")]
    pub lanyard_require_token: bool,
    /// Accept a user token in the upgrade URL (`?token=`), as browsers need; off, a `?token=`
    /// gets HTTP 400 (tokens in URLs land in proxy logs) and clients use an
    /// `Authorization: Bearer` header or IDENTIFY.
    #[arg(long, env = "GATEWAY_QUERY_TOKENS", default_value_t = true, action = clap::ArgAction::Set)]
    pub query_tokens: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            heartbeat_interval_ms: 30_000,
            identify_timeout_ms: 10_000,
            handshake_timeout_ms: 10_000,
            outbound_queue: 1024,
            max_frame_bytes: 16 * 1024,
            frames_per_second: 60,
            discord_ops_per_minute: 120,
            invalid_frames_per_minute: 20,
            max_rooms_per_socket: 1000,
            max_replay: 1000,
            resume_ttl_secs: 300,
            max_sockets_per_user: 10,
            presence_max_ids: 100,
            presence_allow_all: false,
            lanyard_require_token: false,
            query_tokens: true,
        }
    }
}

impl Limits {
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }

    /// How long a socket may stay silent.
    pub fn heartbeat_window(&self) -> Duration {
        self.heartbeat_interval() * 3 / 2
    }

    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms.max(1))
    }

    pub fn identify_timeout(&self) -> Duration {
        Duration::from_millis(self.identify_timeout_ms)
    }

    /// The WebSocket layer's own cap: larger messages close the socket.
    pub fn hard_frame_cap(&self) -> usize {
        self.max_frame_bytes.saturating_mul(4)
    }
}

impl Config {
    /// The URL published in the node registry.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("ws://{}/api/ws", self.listen))
    }

    /// A config for tests and the dev launcher: defaults everywhere, the given listen address,
    /// broker and HS256 secret.
    pub fn for_listen(listen: SocketAddr, broker: BrokerOptions, jwt_secret: &str) -> Self {
        Config {
            listen,
            node_id: None,
            public_url: None,
            broker,
            jwt: JwtOptions {
                jwt_secret: Some(jwt_secret.to_owned()),
                jwt_public_key_file: None,
            },
            limits: Limits::default(),
            fleet: FleetOptions::default(),
            sources: SourceLimits::default(),
            allowed_origins: Vec::new(),
            log_json: false,
        }
    }
}
