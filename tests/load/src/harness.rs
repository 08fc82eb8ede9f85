//! What every scenario works with: the cluster, the dispatcher API, the socket connector, the
//! shared client stats, and a run id that keeps this run's users and channels apart from
//! those of earlier runs against the same deployment.

use crate::client::{Compression, Connector};
use crate::cluster::{Cluster, TargetArgs};
use crate::dispatcher::DispatcherApi;
use crate::stats::Stats;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How the load generator's own clients behave.
#[derive(clap::Args, Clone, Debug)]
pub struct ClientArgs {
    /// Source addresses (127.0.0.2, 127.0.0.3, …) the client sockets are spread over; each
    /// gives about 28,000 ports.
    #[arg(long, default_value_t = 8)]
    pub sources: u8,
    /// Sockets being opened at once.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Dispatcher requests in flight at once (set-up and publishing).
    #[arg(long, default_value_t = 64)]
    pub http_concurrency: usize,
    /// Transport compression the sockets ask for (`zlib-stream`: one zlib context per socket).
    #[arg(long, value_enum, default_value_t = Compression::None)]
    pub compress: Compression,
}

/// A user token lives this long: longer than any run.
const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

pub struct Harness {
    pub cluster: Cluster,
    pub api: DispatcherApi,
    pub connector: Arc<Connector>,
    pub stats: Arc<Stats>,
    pub client: ClientArgs,
    /// A prefix for this run's user and channel ids.
    pub run_id: String,
}

impl Harness {
    pub async fn new(target: TargetArgs, client: ClientArgs) -> anyhow::Result<Harness> {
        let cluster = Cluster::from_args(target).await?;
        Ok(Self::with_cluster(cluster, client))
    }

    pub fn with_cluster(cluster: Cluster, client: ClientArgs) -> Harness {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Harness {
            api: DispatcherApi::new(&cluster.dispatcher_url, &cluster.service_token),
            connector: Arc::new(Connector::new(client.sources, client.compress)),
            stats: Arc::new(Stats::default()),
            run_id: format!("lg{secs:x}"),
            cluster,
            client,
        }
    }

    /// This run's id for entity `kind` number `n` (`lg<time>-u12`).
    pub fn id(&self, kind: &str, n: usize) -> String {
        format!("{}-{kind}{n}", self.run_id)
    }

    /// A token for `user`.
    pub fn token(&self, user: &str) -> String {
        self.cluster.token(user, TOKEN_TTL)
    }

    /// A token for `user` with a `name` claim (the name shown in their events).
    pub fn named_token(&self, user: &str, name: &str) -> String {
        self.cluster.named_token(user, name, TOKEN_TTL)
    }
}
