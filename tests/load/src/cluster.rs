//! The system under load: a cluster this process starts (Redis on a free port, a dispatcher,
//! N gateway processes from a binary directory, their output in log files) or an existing
//! deployment on this machine given by its URLs.

use crate::procstat::{Role, Watch};
use anyhow::{Context, bail};
use integration_tests::{
    Dispatcher, DispatcherOpts, Gateway, GatewayOpts, Launch, RedisCluster, RedisServer, SECRET,
    SERVICE_TOKEN,
};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Where the system under load comes from.
#[derive(clap::Args, Clone, Debug)]
pub struct TargetArgs {
    /// Gateway processes to start (when no --dispatcher is given).
    #[arg(long, default_value_t = 2)]
    pub nodes: usize,
    /// Directory holding the gateway and dispatcher binaries to start. Default: this program's
    /// own directory when it holds them (target/release after `cargo build --release --bins`),
    /// else target/debug.
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Directory for the started processes' logs. Default: a new directory under /tmp.
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// Keep the started gateways' limits per client address (off by default: the load
    /// generator's sockets come from a few loopback addresses).
    #[arg(long)]
    pub per_ip_limits: bool,
    /// An extra flag for every gateway started, e.g. `--gateway-arg=--outbound-queue=4096`.
    #[arg(long = "gateway-arg", allow_hyphen_values = true)]
    pub gateway_args: Vec<String>,
    /// Target an existing deployment instead: the dispatcher's base URL (127.0.0.x only).
    /// Its gateways must run with `--enforce-assignment false`.
    #[arg(long, requires_all = ["gateways", "redis"])]
    pub dispatcher: Option<String>,
    /// The existing deployment's gateway URLs, comma-separated (`ws://127.0.0.1:8080/api/ws`).
    #[arg(long, value_delimiter = ',')]
    pub gateways: Vec<String>,
    /// The existing deployment's Redis URL (`redis://127.0.0.1:6379`).
    #[arg(long)]
    pub redis: Option<String>,
    /// Process ids of the existing deployment's gateways, in --gateways order, for CPU and
    /// memory figures.
    #[arg(long, value_delimiter = ',')]
    pub gateway_pids: Vec<u32>,
    /// Start a 3-master Redis Cluster (sharded pub/sub) instead of one Redis.
    #[arg(long)]
    pub redis_cluster: bool,
    /// HS256 secret the gateways validate user tokens with.
    #[arg(long, default_value = SECRET)]
    pub jwt_secret: String,
    /// A service token the dispatcher accepts.
    #[arg(long, default_value = SERVICE_TOKEN)]
    pub service_token: String,
}

impl TargetArgs {
    /// A cluster of `nodes` gateways to start, with the default secrets.
    pub fn own(nodes: usize, bin_dir: Option<PathBuf>, log_dir: Option<PathBuf>) -> TargetArgs {
        TargetArgs {
            nodes,
            bin_dir,
            log_dir,
            per_ip_limits: false,
            redis_cluster: false,
            gateway_args: Vec::new(),
            dispatcher: None,
            gateways: Vec::new(),
            redis: None,
            gateway_pids: Vec::new(),
            jwt_secret: SECRET.to_owned(),
            service_token: SERVICE_TOKEN.to_owned(),
        }
    }
}

/// A gateway node as clients reach it.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    /// Where `/api/ws` and `/metrics` are served.
    pub addr: SocketAddr,
}

pub struct Cluster {
    pub dispatcher_url: String,
    pub nodes: Vec<Node>,
    /// Redis, or the first master of a Redis Cluster.
    pub redis: SocketAddr,
    /// Every Redis server whose counters add up to the system's: `redis`, or every master.
    pub redis_nodes: Vec<SocketAddr>,
    pub jwt_secret: String,
    pub service_token: String,
    /// The processes whose CPU and memory are reported.
    pub watch: Watch,
    /// Where the started processes write their output (None for an existing deployment).
    pub log_dir: Option<PathBuf>,
    own: Option<Own>,
}

/// Processes this run started; killed on drop.
struct Own {
    _redis: Redis,
    dispatcher: Dispatcher,
    gateways: Vec<Gateway>,
}

impl Cluster {
    /// Starts a cluster or describes an existing one, as `args` say.
    pub async fn from_args(args: TargetArgs) -> anyhow::Result<Cluster> {
        if args.dispatcher.is_some() {
            return Self::existing(&args);
        }
        tokio::task::spawn_blocking(move || Self::start(&args)).await?
    }

    /// Starts Redis, a dispatcher and `args.nodes` gateways. Blocks until they are ready.
    pub fn start(args: &TargetArgs) -> anyhow::Result<Cluster> {
        let log_dir = match &args.log_dir {
            Some(dir) => dir.clone(),
            None => std::env::temp_dir().join(format!("loadgen-{}", std::process::id())),
        };
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("create log dir {}", log_dir.display()))?;
        let bin_dir = args.bin_dir.clone().or_else(own_dir_with_binaries);
        let launch = |name: &str| Launch {
            bin_dir: bin_dir.clone(),
            log_file: Some(log_dir.join(format!("{name}.log"))),
        };
        eprintln!(
            "starting Redis, a dispatcher and {} gateways from {} (logs in {})",
            args.nodes,
            bin_dir
                .as_deref()
                .map_or("target/debug".into(), |d| d.display().to_string()),
            log_dir.display()
        );
        let redis = if args.redis_cluster {
            Redis::Cluster(RedisCluster::start())
        } else {
            Redis::Single(RedisServer::start())
        };
        let redis_url = redis.url();
        let redis_nodes: Vec<SocketAddr> = redis
            .ports()
            .into_iter()
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
            .collect();
        let dispatcher =
            Dispatcher::start(DispatcherOpts::new(redis_url.clone()).launch(launch("dispatcher")));
        let gateways: Vec<Gateway> = (1..=args.nodes)
            .map(|i| {
                let name = format!("gateway-{i}");
                let mut opts = args
                    .gateway_args
                    .iter()
                    .fold(GatewayOpts::new(redis_url.clone(), &name), |o, a| o.arg(a));
                opts.per_ip_limits = args.per_ip_limits;
                Gateway::start(opts.launch(launch(&name)))
            })
            .collect();
        let mut watch = Watch::default();
        let mut nodes = Vec::new();
        for (i, gateway) in gateways.iter().enumerate() {
            let name = format!("gateway-{}", i + 1);
            watch.add(Role::Gateway, &name, gateway.pid());
            let addr = SocketAddr::from(([127, 0, 0, 1], gateway.port()));
            nodes.push(Node { name, addr });
        }
        watch.add(Role::Dispatcher, "dispatcher", dispatcher.pid());
        for (i, node) in redis_nodes.iter().enumerate() {
            if let Some(pid) = redis_pid(node.port()) {
                watch.add(Role::Redis, format!("redis-{}", i + 1), pid);
            }
        }
        Ok(Cluster {
            dispatcher_url: dispatcher.base_url(),
            nodes,
            redis: redis_nodes[0],
            redis_nodes,
            jwt_secret: args.jwt_secret.clone(),
            service_token: args.service_token.clone(),
            watch,
            log_dir: Some(log_dir),
            own: Some(Own {
                _redis: redis,
                dispatcher,
                gateways,
            }),
        })
    }

    fn existing(args: &TargetArgs) -> anyhow::Result<Cluster> {
        let dispatcher = args.dispatcher.clone().expect("checked by the caller");
        loopback(&dispatcher)?;
        let nodes: Vec<Node> = args
            .gateways
            .iter()
            .enumerate()
            .map(|(i, url)| {
                Ok(Node {
                    name: format!("gateway-{}", i + 1),
                    addr: loopback(url)?,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        if nodes.is_empty() {
            bail!("--gateways is empty");
        }
        let mut watch = Watch::default();
        for (node, pid) in nodes.iter().zip(&args.gateway_pids) {
            watch.add(Role::Gateway, &node.name, *pid);
        }
        Ok(Cluster {
            dispatcher_url: dispatcher,
            nodes,
            redis: loopback(args.redis.as_deref().expect("required by clap"))?,
            redis_nodes: vec![loopback(args.redis.as_deref().expect("required by clap"))?],
            jwt_secret: args.jwt_secret.clone(),
            service_token: args.service_token.clone(),
            watch,
            log_dir: None,
            own: None,
        })
    }

    /// True when this run started the processes.
    pub fn is_own(&self) -> bool {
        self.own.is_some()
    }

    /// A user token the gateways accept, valid for `ttl`.
    pub fn token(&self, user: &str, ttl: Duration) -> String {
        shared::auth::mint_hs256(self.jwt_secret.as_bytes(), user, None, ttl.as_secs())
    }

    /// A user token with a `name` claim, valid for `ttl`.
    pub fn named_token(&self, user: &str, name: &str, ttl: Duration) -> String {
        let secret = self.jwt_secret.as_bytes();
        shared::auth::mint_hs256(secret, user, Some(name), ttl.as_secs())
    }

    /// What is wrong with the processes this run started: one that exited, or a log that
    /// shows a panic. Empty for an existing deployment.
    pub fn problems(&mut self) -> Vec<String> {
        let Some(own) = &mut self.own else {
            return Vec::new();
        };
        let mut problems = Vec::new();
        let processes = std::iter::once(("dispatcher".to_owned(), &mut *own.dispatcher)).chain(
            own.gateways
                .iter_mut()
                .enumerate()
                .map(|(i, g)| (format!("gateway-{}", i + 1), &mut **g)),
        );
        for (name, process) in processes {
            if let Some(status) = process.wait_exit(Duration::ZERO) {
                problems.push(format!("{name} exited: {status}"));
            }
            if let Some(dir) = &self.log_dir {
                let log = dir.join(format!("{name}.log"));
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if let Some(line) = text.lines().find(|l| l.contains("panicked")) {
                    problems.push(format!("{name} panicked ({}): {line}", log.display()));
                }
            }
        }
        problems
    }
}

/// This program's directory, if the gateway and dispatcher binaries are beside it.
fn own_dir_with_binaries() -> Option<PathBuf> {
    let dir = std::env::current_exe().ok()?.parent()?.to_path_buf();
    (dir.join("gateway").is_file() && dir.join("dispatcher").is_file()).then_some(dir)
}

/// The Redis this run started.
enum Redis {
    Single(RedisServer),
    Cluster(RedisCluster),
}

impl Redis {
    fn url(&self) -> String {
        match self {
            Redis::Single(redis) => redis.url(),
            Redis::Cluster(cluster) => cluster.url(),
        }
    }

    fn ports(&self) -> Vec<u16> {
        match self {
            Redis::Single(redis) => vec![redis.port()],
            Redis::Cluster(cluster) => cluster.ports().to_vec(),
        }
    }
}

/// The pid of the redis-server listening on `port`, from its `INFO server`.
fn redis_pid(port: u16) -> Option<u32> {
    let output = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "INFO", "server"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}

/// The host:port of `url` (any scheme), which must be on 127.0.0.x.
fn loopback(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host_port = rest.split('/').next().unwrap_or(rest);
    let addr = host_port
        .to_socket_addrs()
        .with_context(|| format!("no host:port in {url:?}"))?
        .find(SocketAddr::is_ipv4)
        .with_context(|| format!("{url:?} has no IPv4 address"))?;
    if !addr.ip().is_loopback() {
        bail!("{url}: the load generator only sends traffic to 127.0.0.x");
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_loopback() {
        assert_eq!(
            loopback("ws://127.0.0.1:8080/api/ws").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(loopback("redis://127.0.0.3:6379").unwrap().port(), 6379);
        assert!(loopback("http://10.0.0.1:80").is_err());
    }
}
