//! Command-line options both binaries share (flags with environment fallbacks, DESIGN §6).

use clap::Args;
use std::path::PathBuf;

/// How user tokens are verified.
#[derive(Args, Clone, Debug, Default)]
pub struct JwtOptions {
    /// HS256 secret for user JWTs.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// RS256 public key (PEM file) for user JWTs; used when no secret is set.
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
}

/// Where the broker lives.
#[derive(Args, Clone, Debug)]
pub struct BrokerOptions {
    /// Redis URL: `redis://[user:password@]host:port`, `rediss://…` for TLS,
    /// `redis-cluster://host:port?node=host:port…` (or `rediss-cluster://`) for a Redis
    /// Cluster, or `memory://` for the in-process broker.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,
    /// A file holding the Redis password (a mounted secret), used instead of one in the URL.
    #[arg(long, env = "REDIS_PASSWORD_FILE")]
    pub redis_password_file: Option<PathBuf>,
    /// PEM file of the CA that signed the Redis server's certificate (with `rediss://`).
    /// Default: the system's trusted roots.
    #[arg(long, env = "REDIS_TLS_CA_FILE")]
    pub redis_tls_ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for Redis servers that ask for one (with `rediss://`
    /// and `REDIS_TLS_KEY_FILE`).
    #[arg(long, env = "REDIS_TLS_CERT_FILE")]
    pub redis_tls_cert_file: Option<PathBuf>,
    /// PEM private key of `REDIS_TLS_CERT_FILE`.
    #[arg(long, env = "REDIS_TLS_KEY_FILE")]
    pub redis_tls_key_file: Option<PathBuf>,
    /// Prefix for Redis keys (not pub/sub channel names).
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "")]
    pub redis_key_prefix: String,
    /// Milliseconds a Redis command may take before it fails (and the caller answers 503).
    #[arg(long, env = "REDIS_COMMAND_TIMEOUT_MS", default_value_t = 2000)]
    pub redis_command_timeout_ms: u64,
    #[command(flatten)]
    pub history: crate::history::HistoryOptions,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            redis_url: "memory://".into(),
            redis_password_file: None,
            redis_tls_ca_file: None,
            redis_tls_cert_file: None,
            redis_tls_key_file: None,
            redis_key_prefix: String::new(),
            redis_command_timeout_ms: 2000,
            history: Default::default(),
        }
    }
}
