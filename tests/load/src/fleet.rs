//! The client sockets of a run: opened many at a time (round robin over the nodes is the
//! caller's plan), each then read by its own task until the run stops it. In recovery mode
//! every socket is also dropped and reopened at random (see `client::recover`).

use crate::client::{Dropper, Outcome, Recovery, Socket};
use crate::harness::Harness;
use crate::ledger::Ledger;
use crate::opening::Opening;
use futures_util::{StreamExt, stream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One socket to open: its user (and token), its node, the rooms it joins (ledger indexes)
/// beyond the automatic `user:<id>` and `global`.
pub struct SocketPlan {
    pub user: String,
    pub token: String,
    pub node: usize,
    pub rooms: Vec<usize>,
}

impl SocketPlan {
    /// A socket for `user` (its token minted now) on node `node`, joining `rooms`.
    pub fn new(h: &Harness, user: String, node: usize, rooms: Vec<usize>) -> SocketPlan {
        SocketPlan {
            token: h.token(&user),
            user,
            node,
            rooms,
        }
    }
}

pub struct Fleet {
    ledger: Arc<Ledger>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<Outcome>>,
    next_id: AtomicUsize,
    /// Recovery mode: what every socket opened from now on is dropped by.
    dropper: Option<Arc<Dropper>>,
}

/// Time to READY and time to all SUBSCRIBED of one socket.
pub type Timings = (Duration, Duration);

impl Fleet {
    pub fn new(ledger: Arc<Ledger>) -> Fleet {
        Fleet {
            ledger,
            stop: CancellationToken::new(),
            tasks: Vec::new(),
            next_id: AtomicUsize::new(0),
            dropper: None,
        }
    }

    /// Recovery mode: every socket opened from now on is dropped and reopened as `dropper`
    /// says.
    pub fn recover_with(&mut self, dropper: Arc<Dropper>) {
        self.dropper = Some(dropper);
    }

    /// Opens every planned socket, `concurrency` at a time, and starts their tasks.
    pub async fn open_all(
        &mut self,
        h: &Harness,
        plans: Vec<SocketPlan>,
        concurrency: usize,
    ) -> Opening {
        let started = Instant::now();
        let mut opening = Opening::default();
        let mut tasks = Vec::new();
        let mut opened = stream::iter(plans)
            .map(|plan| self.open(h, plan, None))
            .buffer_unordered(concurrency);
        while let Some(result) = opened.next().await {
            match result {
                Ok((task, (to_ready, to_subscribed))) => {
                    tasks.push(task);
                    opening.opened(to_ready, to_subscribed);
                }
                Err(e) => opening.failed(&e),
            }
        }
        drop(opened);
        self.tasks.extend(tasks);
        opening.seconds = started.elapsed().as_secs_f64();
        opening
    }

    /// Opens one socket that leaves by itself after `lifetime` (or stays when None) and
    /// starts its task; hand the task to [`Self::adopt`].
    pub async fn open(
        &self,
        h: &Harness,
        plan: SocketPlan,
        lifetime: Option<Duration>,
    ) -> anyhow::Result<(JoinHandle<Outcome>, Timings)> {
        let id = self.next_id.fetch_add(1, Relaxed);
        let started = Instant::now();
        let node = &h.cluster.nodes[plan.node % h.cluster.nodes.len()];
        let opened = h.connector.open(node.addr, &plan.token).await;
        let opened = opened.inspect_err(|_| {
            h.stats.connect_errors.fetch_add(1, Relaxed);
        })?;
        let to_ready = started.elapsed();
        let mut socket = Socket::new(id, plan.user, opened, h.stats.clone());
        if let Some(dropper) = &self.dropper {
            socket.recover_with(Recovery::new(dropper.clone(), id, node.addr, plan.token));
        }
        let joining = Instant::now();
        socket
            .join(&plan.rooms, &self.ledger)
            .await
            .inspect_err(|_| {
                h.stats.connect_errors.fetch_add(1, Relaxed);
            })?;
        let to_subscribed = joining.elapsed();
        h.stats.opened.fetch_add(1, Relaxed);
        let task = tokio::spawn(socket.run(self.stop.child_token(), lifetime));
        Ok((task, (to_ready, to_subscribed)))
    }

    /// Keeps a socket task opened with [`Self::open`] until [`Self::stop`].
    pub fn adopt(&mut self, task: JoinHandle<Outcome>) {
        self.tasks.push(task);
    }

    /// Stops every socket still open and returns what each saw.
    pub async fn stop(self) -> Vec<Outcome> {
        self.stop.cancel();
        let mut outcomes = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            match task.await {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => eprintln!("a socket task failed: {e}"),
            }
        }
        outcomes
    }
}
