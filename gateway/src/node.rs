//! A running node: the handles a connection is given (config, broker, JWT verifier, room
//! hub, metrics, shutdown token), and the two background tasks behind the hub.

use crate::{config::Config, hub, metrics::Metrics};
use shared::{auth::JwtVerifier, broker::Broker};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct Node {
    pub id: String,
    pub config: Config,
    pub broker: Broker,
    pub verifier: JwtVerifier,
    pub hub: Arc<hub::Hub>,
    pub metrics: Metrics,
    /// Cancelled when the node stops; every session's close signal is a child of it.
    pub shutdown: CancellationToken,
}

impl Node {
    /// Opens the broker subscriber and spawns the subscription manager and fan-out tasks.
    pub async fn start(
        config: Config,
        broker: Broker,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Arc<Node>> {
        let verifier = JwtVerifier::from_options(&config.jwt)?;
        let metrics = Metrics::new();
        let subscriber = broker.subscriber().await?;
        let messages = subscriber.messages();
        let (hub, changes) = hub::Hub::new(metrics.clone());
        let hub = Arc::new(hub);
        tokio::spawn(hub::subscriptions::run(
            subscriber,
            changes,
            metrics.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(hub::fanout::run(
            hub.clone(),
            messages,
            metrics.clone(),
            shutdown.clone(),
        ));
        let id = config
            .node_id
            .clone()
            .unwrap_or_else(|| format!("node-{}", uuid::Uuid::new_v4().simple()));
        Ok(Arc::new(Node {
            id,
            config,
            broker,
            verifier,
            hub,
            metrics,
            shutdown,
        }))
    }
}
