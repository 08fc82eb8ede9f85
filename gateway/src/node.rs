//! A running node: the handles a connection is given (config, broker, JWT verifier, room
//! hub, metrics, the fleet view, the lifecycle tokens), and the background tasks behind them.

use crate::{config::Config, hub, metrics::Metrics};
use shared::{
    auth::JwtVerifier,
    broker::Broker,
    fleet::{self, NodeInfo},
};
use std::sync::{Arc, PoisonError, RwLock};
use tokio_util::sync::CancellationToken;

pub struct Node {
    pub id: String,
    /// Random per process: session ids start with it, so a node knows its own sessions.
    pub boot: String,
    pub config: Config,
    pub broker: Broker,
    pub verifier: JwtVerifier,
    pub hub: Arc<hub::Hub>,
    pub metrics: Metrics,
    /// Cancelled when the node starts draining: no new sessions, readiness fails.
    pub draining: CancellationToken,
    /// Cancelled when the node stops for good; every session's close signal is a child of it.
    pub stopped: CancellationToken,
    /// The live fleet as last read from the registry.
    fleet: RwLock<Vec<NodeInfo>>,
    /// Presence and voice entries this node's sessions own.
    pub leases: crate::live::Leases,
    /// The name this node's live entries are held under, and its lease (see `shared::live`);
    /// a new one when the lease lapsed.
    pub incarnation: crate::live::Incarnation,
    /// Typing rate limits per (user, channel).
    pub typing: governor::DefaultKeyedRateLimiter<(shared::Id, shared::Id)>,
    /// Open sockets and connect rates per client address.
    pub sources: Arc<crate::source::Sources>,
    /// Permits for the Redis writes of ending sessions: a mass disconnect queues one per
    /// session, and only [`ENDINGS_IN_FLIGHT`] of each kind run at once, so that Redis gets
    /// them as a steady stream instead of one burst that times out. Resume records have their
    /// own permits, so that they never wait behind presence and voice clears.
    pub endings: Endings,
    /// Permits for greeting new sessions (their automatic rooms, READY and what it reads from
    /// Redis; Lanyard's first INIT_STATE): a burst of connects greets [`GREETINGS_IN_FLIGHT`] at a time, the others wait
    /// with only their socket's task allocated, which keeps the node's memory peak (and what
    /// the allocator keeps of it afterwards) down.
    pub greetings: tokio::sync::Semaphore,
}

/// New sessions greeted at once (see [`Node::greetings`]).
pub const GREETINGS_IN_FLIGHT: usize = 256;

/// Ending sessions' Redis writes in flight at once, per kind (see [`Node::endings`]).
pub const ENDINGS_IN_FLIGHT: u32 = 64;

pub struct Endings {
    /// Writing a closed session's resume record.
    pub records: tokio::sync::Semaphore,
    /// Clearing a closed session's presence and voice entries.
    pub live: tokio::sync::Semaphore,
}

impl Endings {
    fn new() -> Self {
        let permits = ENDINGS_IN_FLIGHT as usize;
        Endings {
            records: tokio::sync::Semaphore::new(permits),
            live: tokio::sync::Semaphore::new(permits),
        }
    }

    /// Resolves once every ending write queued so far has run (the semaphores are fair, so
    /// taking every permit waits for all earlier waiters).
    pub async fn settled(&self) {
        let _ = self.records.acquire_many(ENDINGS_IN_FLIGHT).await;
        let _ = self.live.acquire_many(ENDINGS_IN_FLIGHT).await;
    }
}

impl Node {
    /// Opens the broker subscriber and spawns the subscription manager and fan-out tasks.
    pub async fn start(config: Config, broker: Broker) -> anyhow::Result<Arc<Node>> {
        let verifier = JwtVerifier::from_options(&config.jwt)?;
        let metrics = Metrics::new();
        let subscriber = broker.subscriber().await?;
        let messages = subscriber.messages();
        let (hub, changes) = hub::Hub::new(metrics.clone());
        let hub = Arc::new(hub);
        let stopped = CancellationToken::new();
        let sources = crate::source::Sources::new(&config.sources);
        let (resync_tx, resyncs) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(hub::subscriptions::run(
            subscriber,
            changes,
            resync_tx,
            metrics.clone(),
            stopped.clone(),
        ));
        let id = config
            .node_id
            .clone()
            .unwrap_or_else(|| format!("node-{}", uuid::Uuid::new_v4().simple()));
        let boot = shared::history::new_epoch();
        let incarnation = crate::live::Incarnation::new(&id, &boot);
        let node = Arc::new(Node {
            incarnation,
            id,
            boot,
            config,
            broker,
            verifier,
            hub,
            metrics,
            draining: CancellationToken::new(),
            stopped,
            fleet: RwLock::default(),
            leases: crate::live::Leases::default(),
            typing: crate::live::typing::limiter(),
            sources,
            endings: Endings::new(),
            greetings: tokio::sync::Semaphore::new(GREETINGS_IN_FLIGHT),
        });
        tokio::spawn(crate::source::tidy_forever(node.clone()));
        let fanout = tokio::spawn(hub::fanout::run(node.clone(), messages, resyncs));
        tokio::spawn(async move {
            // A node whose fan-out died would keep its sockets and deliver nothing: stop it,
            // so that its clients reconnect to a node that works (fresh: an exit writes no
            // resume records).
            if let Err(error) = fanout.await
                && error.is_panic()
            {
                tracing::error!("the fan-out task panicked; stopping the node");
                std::process::exit(70);
            }
        });
        Ok(node)
    }

    /// This node's registry entry as of now.
    pub fn info(&self) -> NodeInfo {
        NodeInfo {
            id: self.id.clone(),
            url: self.config.public_url(),
            connections: self.hub.session_count() as u64,
            draining: self.draining.is_cancelled(),
        }
    }

    pub fn set_fleet(&self, nodes: Vec<NodeInfo>) {
        *self.fleet.write().unwrap_or_else(PoisonError::into_inner) = nodes;
    }

    /// Whether `user` already has as many sockets open here as one user may
    /// (`GATEWAY_MAX_SOCKETS_PER_USER`). Counted from the user's own room, which every session
    /// joins: no state of its own. Sockets admitted at the same moment may briefly exceed it.
    pub fn at_socket_limit(&self, user: &shared::Id) -> bool {
        let max = self.config.limits.max_sockets_per_user;
        max > 0
            && self
                .hub
                .with_members(&format!("user:{user}"), |r| r.members.len())
                .unwrap_or(0)
                >= max
    }

    /// Where `user` should connect instead of here: the URL of the node assigned to them,
    /// when that is a live, non-draining node other than this one. None means "stay".
    ///
    /// The fleet view is refreshed every registry beat; a redirect is only sent after the
    /// registry confirms it, so a stale view never bounces a client to a node that just left.
    pub async fn redirect_for(&self, user: &str) -> Option<String> {
        if !self.config.fleet.enforce_assignment {
            return None;
        }
        self.assigned_elsewhere(user)?;
        match self.broker.live_nodes().await {
            Ok(fleet) => self.set_fleet(fleet),
            // Without the registry, keep the client rather than guess.
            Err(_) => return None,
        }
        self.assigned_elsewhere(user)
    }

    fn assigned_elsewhere(&self, user: &str) -> Option<String> {
        let fleet = self.fleet.read().unwrap_or_else(PoisonError::into_inner);
        let assigned = fleet::assign(user, &fleet)?;
        (assigned.id != self.id).then(|| assigned.url.clone())
    }

    /// Where a client of this (draining) node should go: its assigned node among the others.
    pub fn successor_for(&self, user: &str) -> Option<String> {
        let fleet = self.fleet.read().unwrap_or_else(PoisonError::into_inner);
        let others: Vec<NodeInfo> = fleet.iter().filter(|n| n.id != self.id).cloned().collect();
        fleet::assign(user, &others).map(|n| n.url.clone())
    }
}
