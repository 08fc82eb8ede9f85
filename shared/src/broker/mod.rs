//! The broker seam: pub/sub with history, and the access-control state every node reads.
//! Redis is the production broker; `memory://` is an in-process stand-in for the one-command
//! local start. Both are driven through [`Broker`], so callers never see which one runs.

pub mod change;
mod directory;
mod keys;
mod memory;
mod memory_live;
mod redis;
mod redis_commit;
mod redis_config;
mod redis_live;

pub use change::{Change, Committed, Refusal};
pub use keys::Keys;

use crate::{
    acl::{Channel, Standing},
    event::Envelope,
    fleet::NodeInfo,
    history::{HistoryRead, Position},
    id::Id,
    live::{LeaseOp, LiveKind, LiveSnapshot},
    options::BrokerOptions,
    room::Room,
};
use bytes::Bytes;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("invalid REDIS_URL: {0}")]
    Url(String),
    #[error("Redis TLS: {0}")]
    Tls(String),
    #[error("corrupt state at {key}: {detail}")]
    Corrupt { key: String, detail: String },
}

/// A message received on a subscribed pub/sub channel.
#[derive(Clone, Debug)]
pub struct BrokerMessage {
    pub channel: Bytes,
    pub payload: Bytes,
    /// Received through the pattern subscription ([`ALL_PRESENCE`]) rather than a channel
    /// subscription.
    pub via_pattern: bool,
}

/// The one pattern subscription there is: every `presence:<id>` channel, for clients that
/// follow all presences. On a Redis Cluster, where sharded pub/sub has no patterns, it is
/// served by a fan-in channel instead ([`PRESENCE_FAN_IN`]).
pub const ALL_PRESENCE: &str = "presence:*";

/// On a Redis Cluster: the sharded channel every presence change is also published on, as
/// `<room>\n<payload>`, subscribed by the nodes whose sockets follow everyone.
pub const PRESENCE_FAN_IN: &str = "presence-all";

/// Why a message stream returned no message.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    #[error("the subscriber fell behind and {0} messages were dropped")]
    Lagged(u64),
    #[error("the broker connection is gone")]
    Closed,
}

/// The broker: clone it freely, every clone shares one connection (pool).
#[derive(Clone)]
pub enum Broker {
    // Shared: the Redis client's configuration (TLS included) is large, and a clone then
    // costs a reference count.
    Redis(std::sync::Arc<redis::RedisBroker>),
    Memory(memory::MemoryBroker),
}

/// Runs the same call on whichever broker this is. A Redis call's future is boxed: fred's
/// command futures are ~7 KB, and held inline they made every future awaiting the broker as
/// large, copied whole at each level it was moved through (a dispatcher post's future was
/// 21 KB, and `memcpy` a quarter of its instructions; docs/PERFORMANCE.md). One allocation
/// per call instead.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Broker::Redis(b) => Box::pin(b.$method($($arg),*)).await,
            Broker::Memory(b) => b.$method($($arg),*).await,
        }
    };
}

impl Broker {
    /// Connects to `opts.redis_url`, or starts a fresh in-process broker for `memory://`.
    pub async fn connect(opts: &BrokerOptions) -> Result<Broker, BrokerError> {
        if opts.redis_url.starts_with("memory://") {
            Ok(Broker::Memory(memory::MemoryBroker::new(&opts.history)))
        } else {
            Ok(Broker::Redis(std::sync::Arc::new(
                redis::RedisBroker::connect(opts).await?,
            )))
        }
    }

    /// A fresh in-process broker; clones share it.
    pub fn memory() -> Broker {
        Broker::Memory(memory::MemoryBroker::default())
    }

    /// Appends `envelope` to `room`'s history and publishes it on `room`, atomically.
    /// Returns the event's position, which the published copy carries as `offset` and `epoch`.
    pub async fn publish(&self, room: &Room, envelope: &Envelope) -> Result<Position, BrokerError> {
        dispatch!(self.publish(room, envelope.to_json()))
    }

    /// Makes `change` (when given) and publishes each `(room, envelope)` in one atomic step,
    /// unless the change is refused (then nothing is written or published). On a Redis Cluster
    /// a publication on another room than the changed channel's follows in its own step (see
    /// `redis_commit`). Returns the publications' positions, in order.
    pub async fn commit(
        &self,
        change: Option<&Change>,
        publications: &[(Room, &Envelope)],
    ) -> Result<Committed, BrokerError> {
        let publications: Vec<(Room, String)> = publications
            .iter()
            .map(|(room, envelope)| (room.clone(), envelope.to_json()))
            .collect();
        let Some(change) = change else {
            return dispatch!(self.commit(None, &publications));
        };
        let unindex = self.index_before(change).await?;
        let committed = dispatch!(self.commit(Some(change), &publications))?;
        if matches!(committed, Committed::Done(_)) {
            self.index_after(change, &unindex).await;
        }
        Ok(committed)
    }

    /// Makes `change` without publishing anything (set-up and tools); false when refused.
    pub async fn apply(&self, change: &Change) -> Result<bool, BrokerError> {
        Ok(matches!(
            self.commit(Some(change), &[]).await?,
            Committed::Done(_)
        ))
    }

    /// Up to `count` events of `room`'s history at or below offset `at_most`, newest first
    /// (for paging backwards through what the room retains).
    pub async fn history_back(
        &self,
        room: &str,
        at_most: u64,
        count: usize,
    ) -> Result<Vec<(u64, Bytes)>, BrokerError> {
        dispatch!(self.history_back(room, at_most, count))
    }

    /// Up to `limit` events of `room`'s history after offset `after` (oldest first), and the
    /// room's position. Read-only: a room without history yet answers offset 0 of no epoch
    /// ([`Position::none`]), which continues into the room's first epoch.
    pub async fn history_after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<HistoryRead, BrokerError> {
        dispatch!(self.history_after(room, after, limit))
    }

    /// Publishes `envelope` on `room` without keeping it in history: typing indicators and
    /// voice signals, which are worthless a moment later.
    pub async fn publish_transient(
        &self,
        room: &Room,
        envelope: &Envelope,
    ) -> Result<(), BrokerError> {
        let channel = room.to_string();
        let payload = envelope.to_json();
        dispatch!(self.publish_transient(&channel, payload))
    }

    /// A dedicated subscriber connection and its message stream.
    pub async fn subscriber(&self) -> Result<Subscriber, BrokerError> {
        match self {
            Broker::Redis(b) => Ok(Subscriber::Redis(Box::pin(b.subscriber()).await?)),
            Broker::Memory(b) => Ok(Subscriber::Memory(b.subscriber())),
        }
    }

    /// Succeeds when the broker answers.
    pub async fn ping(&self) -> Result<(), BrokerError> {
        dispatch!(self.ping())
    }

    /// Whether `user` may receive `room`'s events: own `user:` room, `global`, a channel they
    /// are an unbanned member of, a DM they take part in. `presence:` rooms are open.
    pub async fn may_read(&self, room: &Room, user: &Id) -> Result<bool, BrokerError> {
        match room {
            Room::User(id) => Ok(id == user),
            Room::Global | Room::Presence(_) => Ok(true),
            Room::Channel(channel) => Ok(self.standing(channel, user).await?.may_read()),
            Room::Dm(dm) => self.is_dm_participant(dm, user).await,
        }
    }

    pub async fn channel(&self, id: &Id) -> Result<Option<Channel>, BrokerError> {
        dispatch!(self.channel(id))
    }

    /// The user's role in the channel (if a member) and whether they are banned.
    pub async fn standing(&self, channel: &Id, user: &Id) -> Result<Standing, BrokerError> {
        dispatch!(self.standing(channel, user))
    }

    /// Remembers a display name for member events.
    pub async fn set_username(&self, user: &Id, name: &str) -> Result<(), BrokerError> {
        dispatch!(self.set_username(user, name))
    }

    pub async fn username(&self, user: &Id) -> Result<Option<String>, BrokerError> {
        dispatch!(self.username(user))
    }

    pub async fn message_author(
        &self,
        channel: &Id,
        message: &Id,
    ) -> Result<Option<Id>, BrokerError> {
        dispatch!(self.message_author(channel, message))
    }

    /// Creates a DM thread; false when the id is taken.
    pub async fn create_dm(&self, id: &Id, participants: &[Id]) -> Result<bool, BrokerError> {
        self.index_dm(id, participants).await?;
        dispatch!(self.create_dm(id, participants))
    }

    /// The thread's participants, or None when it does not exist.
    pub async fn dm_participants(&self, id: &Id) -> Result<Option<Vec<Id>>, BrokerError> {
        dispatch!(self.dm_participants(id))
    }

    pub async fn is_dm_participant(&self, id: &Id, user: &Id) -> Result<bool, BrokerError> {
        dispatch!(self.is_dm_participant(id, user))
    }

    /// Claims idempotency key `key` with `pending` for `in_flight` (unless a record is there):
    /// returns the record a previous request left under it, None when the claim is ours.
    pub async fn idempotency_claim(
        &self,
        key: &str,
        pending: &str,
        in_flight: std::time::Duration,
    ) -> Result<Option<String>, BrokerError> {
        dispatch!(self.idempotency_claim(key, pending, in_flight))
    }

    /// Stores the final `record` under an idempotency key for `ttl`.
    pub async fn idempotency_store(
        &self,
        key: &str,
        record: &str,
        ttl: std::time::Duration,
    ) -> Result<(), BrokerError> {
        dispatch!(self.idempotency_store(key, record, ttl))
    }

    /// Gives an idempotency key up (the request failed in a way a retry may redo).
    pub async fn idempotency_release(&self, key: &str) -> Result<(), BrokerError> {
        dispatch!(self.idempotency_release(key))
    }

    /// Keeps a closed session's record (what resuming it needs) for `ttl`.
    pub async fn session_save(
        &self,
        id: &str,
        record: &str,
        ttl: std::time::Duration,
    ) -> Result<(), BrokerError> {
        dispatch!(self.session_save(id, record, ttl))
    }

    /// A closed session's record, if it is kept.
    pub async fn session_get(&self, id: &str) -> Result<Option<String>, BrokerError> {
        dispatch!(self.session_get(id))
    }

    /// Forgets a session's record (it was resumed: a session resumes once).
    pub async fn session_delete(&self, id: &str) -> Result<(), BrokerError> {
        dispatch!(self.session_delete(id))
    }

    /// Publishes a node-to-node control message on `room` (never kept in history; nodes act on
    /// it and do not pass it to sockets).
    pub async fn publish_control(&self, room: &Room, payload: String) -> Result<(), BrokerError> {
        dispatch!(self.publish_transient(&room.to_string(), payload))
    }

    /// Adds or refreshes a gateway node's registry entry; it expires after `ttl` unless
    /// refreshed again.
    pub async fn register_node(
        &self,
        node: &NodeInfo,
        ttl: std::time::Duration,
    ) -> Result<(), BrokerError> {
        dispatch!(self.register_node(node, ttl))
    }

    /// Removes a node's entry at once (clean shutdown or drain).
    pub async fn deregister_node(&self, id: &str) -> Result<(), BrokerError> {
        dispatch!(self.deregister_node(id))
    }

    /// Every node whose entry has not expired, draining ones included, sorted by id.
    pub async fn live_nodes(&self) -> Result<Vec<NodeInfo>, BrokerError> {
        dispatch!(self.live_nodes())
    }
}

/// Live maps (presence, voice): see [`crate::live`]. `room` names the map and is the channel
/// its aggregate is published on.
impl Broker {
    /// Applies `op` to the room's map and returns the map.
    pub async fn live_apply(&self, room: &str, op: &LeaseOp) -> Result<LiveSnapshot, BrokerError> {
        dispatch!(self.live_apply(room, op))
    }

    /// Stores `canonical` as the room's aggregate and publishes `payload` on the room, if the
    /// map is still at `version` and the aggregate changed. True when it published.
    pub async fn live_commit(
        &self,
        room: &str,
        version: u64,
        canonical: &str,
        payload: Option<&str>,
    ) -> Result<bool, BrokerError> {
        dispatch!(self.live_commit(room, version, canonical, payload))
    }

    /// The aggregate last committed for each room (None: nothing live).
    pub async fn live_current(&self, rooms: &[String]) -> Result<Vec<Option<String>>, BrokerError> {
        dispatch!(self.live_current(rooms))
    }

    /// Lists rooms as having live state.
    pub async fn live_index(&self, kind: LiveKind, rooms: &[String]) -> Result<(), BrokerError> {
        dispatch!(self.live_index(kind, rooms))
    }

    pub async fn live_unindex(&self, kind: LiveKind, room: &str) -> Result<(), BrokerError> {
        dispatch!(self.live_unindex(kind, room))
    }

    /// Up to `limit` rooms with live state.
    pub async fn live_indexed(
        &self,
        kind: LiveKind,
        limit: usize,
    ) -> Result<Vec<String>, BrokerError> {
        dispatch!(self.live_indexed(kind, limit))
    }

    /// Renews `incarnation`'s lease for `ttl`. False when it must not: a sweep claimed it, or
    /// (`known`: it was renewed before) a sweep already finished with it.
    pub async fn live_renew(
        &self,
        incarnation: &str,
        ttl: std::time::Duration,
        known: bool,
    ) -> Result<bool, BrokerError> {
        dispatch!(self.live_renew(incarnation, ttl, known))
    }

    /// Claims up to `limit` incarnations whose lease lapsed, for the caller to sweep within
    /// `ttl` (else another node claims them again).
    pub async fn live_claim(
        &self,
        ttl: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<String>, BrokerError> {
        dispatch!(self.live_claim(ttl, limit))
    }

    /// Keeps a claim on `incarnation` for another `ttl` (a long sweep), if it is still there.
    pub async fn live_extend_claim(
        &self,
        incarnation: &str,
        ttl: std::time::Duration,
    ) -> Result<(), BrokerError> {
        dispatch!(self.live_extend_claim(incarnation, ttl))
    }

    /// Forgets a swept incarnation: its lease, its claim, its rooms.
    pub async fn live_buried(&self, incarnation: &str) -> Result<(), BrokerError> {
        dispatch!(self.live_buried(incarnation))
    }

    /// Records that `incarnation` holds entries in `room` (before it sets one).
    pub async fn live_hold(&self, incarnation: &str, room: &str) -> Result<(), BrokerError> {
        dispatch!(self.live_hold(incarnation, room))
    }

    /// Records that `incarnation` holds no more entries in `room` (after it removed the last).
    pub async fn live_unhold(&self, incarnation: &str, room: &str) -> Result<(), BrokerError> {
        dispatch!(self.live_unhold(incarnation, room))
    }

    /// The rooms where `incarnation` holds (or held) entries.
    pub async fn live_held(&self, incarnation: &str) -> Result<Vec<String>, BrokerError> {
        dispatch!(self.live_held(incarnation))
    }
}

/// One subscriber connection. Subscribing twice to a channel is harmless; reference counting
/// is the caller's job (the gateway's room registry).
pub enum Subscriber {
    Redis(redis::RedisSubscriber),
    Memory(memory::MemorySubscriber),
}

impl Subscriber {
    pub async fn subscribe(&self, channels: &[String]) -> Result<(), BrokerError> {
        match self {
            Subscriber::Redis(s) => s.subscribe(channels).await,
            Subscriber::Memory(s) => {
                s.subscribe(channels);
                Ok(())
            }
        }
    }

    pub async fn unsubscribe(&self, channels: &[String]) -> Result<(), BrokerError> {
        match self {
            Subscriber::Redis(s) => s.unsubscribe(channels).await,
            Subscriber::Memory(s) => {
                s.unsubscribe(channels);
                Ok(())
            }
        }
    }

    /// The stream of messages on subscribed channels.
    pub fn messages(&self) -> MessageStream {
        match self {
            Subscriber::Redis(s) => MessageStream::Redis(s.messages()),
            Subscriber::Memory(s) => MessageStream::Memory(s.messages()),
        }
    }

    /// Resolves each time the connection came back after a loss; the caller re-subscribes.
    pub fn reconnections(&self) -> Reconnections {
        match self {
            Subscriber::Redis(s) => Reconnections(Some(s.reconnections())),
            Subscriber::Memory(_) => Reconnections(None),
        }
    }
}

pub enum MessageStream {
    Redis(redis::RedisMessages),
    Memory(memory::MemoryMessages),
}

impl MessageStream {
    pub async fn recv(&mut self) -> Result<BrokerMessage, RecvError> {
        match self {
            MessageStream::Redis(s) => s.recv().await,
            MessageStream::Memory(s) => s.recv().await,
        }
    }

    /// Messages received and not taken yet.
    pub fn backlog(&self) -> usize {
        match self {
            MessageStream::Redis(s) => s.backlog(),
            MessageStream::Memory(s) => s.backlog(),
        }
    }
}

/// Reconnection notices of a subscriber (never fires for the in-process broker).
pub struct Reconnections(Option<tokio::sync::broadcast::Receiver<fred::types::config::Server>>);

impl Reconnections {
    /// Waits for the next reconnection; pending forever when there will be none.
    pub async fn next(&mut self) {
        use tokio::sync::broadcast::error::RecvError;
        match &mut self.0 {
            Some(rx) => loop {
                match rx.recv().await {
                    Ok(_) | Err(RecvError::Lagged(_)) => return,
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                }
            },
            None => std::future::pending().await,
        }
    }
}
