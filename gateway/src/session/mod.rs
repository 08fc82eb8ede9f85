//! The session core every dialect drives: who the socket is, which rooms it is in, and how
//! frames reach it. Dialects translate their wire format to calls on [`Session`] and render
//! what comes back; nothing here knows an op number or a close code.

mod core;
pub mod driver;
mod live;
pub mod outbound;
pub mod pump;
pub mod resume;

pub use core::{Session, SubscribeError, Subscription};
pub use outbound::{CloseSignal, Delivery, Frame, Outbound, Outgoing, Stamp};

use crate::dialect::Format;
use shared::Id;
use std::collections::{HashMap, HashSet};
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

/// A node-unique socket number (for room bookkeeping and logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Tables keyed by socket, which the fan-out may look up once per member and event. The ids
/// are the node's own counter, never a client's choice, so they need no hash that resists
/// chosen keys: foldhash instead of SipHash (140 instructions per lookup in fan-out
/// profiles). Tables keyed by room names, which clients choose, keep SipHash.
pub type ConnMap<V> = HashMap<ConnId, V, foldhash::fast::RandomState>;
pub type ConnSet = HashSet<ConnId, foldhash::fast::RandomState>;

impl ConnId {
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Why a session ends. Each dialect maps every reason to exactly one close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The outbound queue was full.
    SlowConsumer,
    /// No frame within the heartbeat window.
    HeartbeatTimeout,
    /// Too many frames per second.
    RateLimited,
    /// Too many invalid frames.
    TooManyInvalidFrames,
    /// A frame beyond the hard size cap.
    FrameTooLarge,
    /// The token was rejected.
    AuthFailed,
    /// No IDENTIFY in time.
    NotAuthenticated,
    /// The node is shutting down.
    ServerShutdown,
    /// The client should reconnect elsewhere (wrong node, or this node drains).
    Reconnect,
    /// The session was resumed on another socket (this one is stale).
    Superseded,
    /// The user already has `GATEWAY_MAX_SOCKETS_PER_USER` sockets open on this node.
    TooManySockets,
    /// The client broke a rule its dialect's original service closes the socket for.
    Violation(Violation),
    /// The client closed or the transport failed.
    ClientGone,
}

/// Rules a dialect closes for at once (Discord's and Lanyard's clients expect the close; the
/// native dialect answers `ERROR` frames instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// An op the dialect does not know.
    UnknownOp,
    /// Not JSON, or not the shape the op needs.
    InvalidPayload,
    /// An op that needs a data object came without one.
    MissingData,
    /// An op other than identify (or resume) before authenticating.
    NotAuthenticated,
    /// A second identify.
    AlreadyAuthenticated,
    /// A resume with a sequence number the session never sent.
    InvalidSeq,
    /// A protocol version or encoding the dialect does not speak.
    UnsupportedVersion,
}

impl CloseReason {
    /// Whether frames already queued are still written before the close frame (a graceful
    /// close), or dropped (the client cannot keep up or is gone).
    pub fn flushes_queue(self) -> bool {
        matches!(self, CloseReason::Reconnect | CloseReason::ServerShutdown)
    }

    /// Low-cardinality label for `gateway_connections_closed_total`.
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::HeartbeatTimeout => "heartbeat_timeout",
            CloseReason::RateLimited => "rate_limited",
            CloseReason::TooManyInvalidFrames => "invalid_frames",
            CloseReason::FrameTooLarge => "frame_too_large",
            CloseReason::AuthFailed => "auth_failed",
            CloseReason::NotAuthenticated => "not_authenticated",
            CloseReason::ServerShutdown => "server_shutdown",
            CloseReason::Reconnect => "reconnect",
            CloseReason::Superseded => "superseded",
            CloseReason::TooManySockets => "too_many_sockets",
            CloseReason::Violation(_) => "protocol_violation",
            CloseReason::ClientGone => "client_gone",
        }
    }
}

/// What a room holds per member socket: enough to deliver and to find a user's sockets.
#[derive(Clone)]
pub struct Member {
    pub conn: ConnId,
    pub user: Id,
    pub format: Format,
    pub outbound: Outbound,
    /// Where the node tells the session of rooms it was granted (a dialect with implicit
    /// subscriptions; None for one whose clients pick their rooms).
    pub grants: Option<Grants>,
}

/// The sending side of a session's grants: rooms its user was just let into, which the
/// session joins by itself. Bounded: a session that does not keep up is closed.
pub type Grants = flume::Sender<shared::Room>;

/// How many grants may wait for a session.
pub const GRANTS_CAPACITY: usize = 64;

/// The shared part of a member, cheap to clone into many rooms.
pub type MemberRef = Arc<Member>;
