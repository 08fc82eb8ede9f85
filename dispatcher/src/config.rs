//! The dispatcher's configuration: command-line flags with environment fallbacks (DESIGN §6).

use clap::Parser;
use shared::options::{BrokerOptions, JwtOptions};

/// The HTTP API that checks access rules, keeps access-control state and publishes chat
/// events to Redis.
#[derive(Parser, Clone, Debug)]
#[command(name = "dispatcher", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on (host:port).
    #[arg(long, env = "DISPATCHER_LISTEN", default_value = "0.0.0.0:8081")]
    pub listen: String,

    /// Bearer tokens of trusted backends, comma-separated. A service names the acting user in
    /// the request body (`user_id`, or `author_id` for messages). Default: none.
    #[arg(
        long,
        env = "DISPATCHER_SERVICE_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub service_tokens: Vec<String>,

    /// A fixed URL for `GET /api/gateway`, for single-URL deployments behind a plain load
    /// balancer. Unset (the default): the user's node is chosen by rendezvous hashing over the
    /// live, non-draining nodes of the registry.
    #[arg(long, env = "DISPATCHER_GATEWAY_URL")]
    pub gateway_url: Option<String>,

    #[command(flatten)]
    pub broker: BrokerOptions,

    #[command(flatten)]
    pub jwt: JwtOptions,

    /// API requests per second one user token may make (burst: twice that); past it, 429 with
    /// `Retry-After`. 0: no limit.
    #[arg(long, env = "DISPATCHER_USER_RATE_PER_SECOND", default_value_t = 50)]
    pub user_rate_per_second: u32,

    /// The same for each service token. Default 0: no limit (a backend speaks for many users).
    #[arg(long, env = "DISPATCHER_SERVICE_RATE_PER_SECOND", default_value_t = 0)]
    pub service_rate_per_second: u32,

    /// Seconds the answer to a request with an `Idempotency-Key` is kept, for its retries.
    #[arg(long, env = "IDEMPOTENCY_TTL_SECS", default_value_t = 24 * 3600)]
    pub idempotency_ttl_secs: u64,

    /// Longest message content accepted, in characters.
    #[arg(long, env = "DISPATCHER_MAX_CONTENT_LEN", default_value_t = 4000)]
    pub max_content_len: usize,

    /// Origins whose web pages may call the API from a browser (CORS), comma-separated, or
    /// `*` for any. Default: none (same-origin pages and non-browser clients only).
    #[arg(long, env = "DISPATCHER_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Log as JSON lines instead of human-readable text. Default: off.
    #[arg(long, env = "DISPATCHER_LOG_JSON")]
    pub log_json: bool,
    /// Seconds a connection may stay quiet (nothing answered since its accept or its last
    /// answer) before it is closed: a client that never finishes its request head, or an idle
    /// keep-alive connection.
    #[arg(long, env = "DISPATCHER_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub idle_timeout_secs: u64,
}

impl Config {
    /// The service tokens that can match a request: blanks (from an empty variable or a
    /// trailing comma) are dropped, so an empty bearer token never authenticates.
    pub fn effective_service_tokens(&self) -> Vec<String> {
        self.service_tokens
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_valid() {
        Config::command().debug_assert();
    }

    #[test]
    fn defaults_apply() {
        let config = Config::try_parse_from(["dispatcher"]).unwrap();
        assert_eq!(config.listen, "0.0.0.0:8081");
        assert_eq!(config.gateway_url, None);
        assert_eq!(config.max_content_len, 4000);
        assert!(config.service_tokens.is_empty());
        assert!(!config.log_json);
    }

    #[test]
    fn service_tokens_are_comma_separated_and_blanks_dropped() {
        let config =
            Config::try_parse_from(["dispatcher", "--service-tokens", "a, b,,c,"]).unwrap();
        assert_eq!(config.effective_service_tokens(), ["a", "b", "c"]);
    }

    #[test]
    fn flattened_options_parse() {
        let config = Config::try_parse_from([
            "dispatcher",
            "--redis-url",
            "memory://",
            "--jwt-secret",
            "s",
            "--redis-command-timeout-ms",
            "500",
        ])
        .unwrap();
        assert_eq!(config.broker.redis_url, "memory://");
        assert_eq!(config.broker.redis_command_timeout_ms, 500);
        assert_eq!(config.jwt.jwt_secret.as_deref(), Some("s"));
    }
}
