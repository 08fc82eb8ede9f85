//! The node's room registry: which local sockets are in which room, reference-counted onto
//! one broker subscription per room, and the fan-out that delivers broker messages to them.

pub mod catchup;
pub mod fanout;
pub mod streams;
pub mod subscriptions;

use crate::sparse::ShrinkWhenSparse;
use crate::{
    metrics::Metrics,
    session::{ConnId, ConnMap, MemberRef},
};
use catchup::{CatchingUp, Released};
use shared::Id;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
};
use subscriptions::Change;
use tokio::sync::{mpsc, watch};

/// The sockets in one room, and whether the node's broker subscription for it is live.
pub struct RoomMembers {
    pub members: ConnMap<MemberRef>,
    ready: watch::Receiver<bool>,
    /// Seats whose live events are held while they catch up on history (created on the
    /// room's first catch-up).
    pub catching_up: Option<Arc<CatchingUp>>,
    /// Tells this room apart from an earlier one of the same name (the node left the room
    /// and joined it again): its stream continuity starts over.
    pub generation: u64,
}

/// What [`Hub::join`] did.
pub enum Joined {
    /// The socket was already in the room.
    Already,
    /// Added; the receiver turns true once the broker subscription is live.
    Added(watch::Receiver<bool>),
}

pub struct Hub {
    rooms: RwLock<HashMap<String, RoomMembers>>,
    /// Every open session, for the registry's connection count and for drain.
    sessions: Mutex<ConnMap<MemberRef>>,
    changes: mpsc::UnboundedSender<Change>,
    metrics: Metrics,
}

fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Hub {
    /// A hub and the receiving end of its subscription changes (for [`subscriptions::run`]).
    /// The change queue is unbounded by design: it holds at most one entry per room
    /// transition, and transitions are bounded by the (rate-limited) joins that cause them.
    pub fn new(metrics: Metrics) -> (Self, mpsc::UnboundedReceiver<Change>) {
        let (changes, rx) = mpsc::unbounded_channel();
        (
            Hub {
                rooms: RwLock::default(),
                sessions: Mutex::default(),
                changes,
                metrics,
            },
            rx,
        )
    }

    /// Where the socket's seat in `room` stands if no event passed it since it subscribed: the
    /// position its subscription read (None: an event passed, or it joined without a read).
    pub fn floor(&self, room: &str, conn: ConnId) -> Option<shared::history::Position> {
        let held = self.read().get(room)?.catching_up.clone()?;
        let seats = held.lock();
        seats.floor(conn)
    }

    /// Rooms whose position the node knows only from its readers' floors: each with its
    /// generation and lowest floor (for the catch-up after a Redis reconnection).
    pub fn quiet_rooms(&self) -> Vec<(String, u64, shared::history::Position)> {
        self.read()
            .iter()
            .filter_map(|(room, members)| {
                let floor = members.catching_up.as_ref()?.lock().lowest_floor()?;
                Some((room.clone(), members.generation, floor))
            })
            .collect()
    }

    /// Closes `owner`'s session `conn` on this node, if it is still open; false otherwise.
    pub fn close_session(
        &self,
        conn: ConnId,
        owner: &shared::Id,
        reason: crate::session::CloseReason,
    ) -> bool {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        match sessions.get(&conn) {
            // Only the user's own session: an id alone (guessable) must not close another's.
            Some(member) if member.user == *owner => {
                member.outbound.close(reason);
                true
            }
            _ => false,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, RoomMembers>> {
        self.rooms.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, RoomMembers>> {
        self.rooms.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an open session (before it joins any room).
    pub fn open(&self, member: &MemberRef) {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(member.conn, member.clone());
    }

    /// Forgets a session (after it left its rooms).
    pub fn close(&self, conn: ConnId) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.remove(&conn);
        sessions.shrink_when_sparse();
    }

    /// The user of an open session on this node.
    pub fn session_user(&self, conn: ConnId) -> Option<Id> {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&conn)
            .map(|m| m.user.clone())
    }

    pub fn session_count(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// A snapshot of every open session.
    pub fn sessions(&self) -> Vec<MemberRef> {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Adds a socket to a room; the first socket in a room subscribes the node to it.
    pub fn join(&self, room: &str, member: &MemberRef) -> Joined {
        self.seat(room, member, false)
    }

    /// Like [`Self::join`], with the seat held: its live events wait (see [`catchup`]) until
    /// [`Self::release`]. A socket already in the room is held too.
    pub fn join_held(&self, room: &str, member: &MemberRef) -> Joined {
        self.seat(room, member, true)
    }

    /// Queues what was held for the socket past `covered_to` and turns its seat live.
    pub async fn release(
        &self,
        room: &str,
        member: &MemberRef,
        covered_to: &shared::history::Position,
    ) -> Released {
        let held = self.read().get(room).and_then(|r| r.catching_up.clone());
        match held {
            Some(held) => {
                held.release(member.conn, covered_to, &member.outbound)
                    .await
            }
            None => Released::Live,
        }
    }

    fn seat(&self, room: &str, member: &MemberRef, held: bool) -> Joined {
        let mut rooms = self.write();
        if let Some(entry) = rooms.get_mut(room) {
            if held {
                entry
                    .catching_up
                    .get_or_insert_with(Arc::default)
                    .hold_seat(member.conn);
            }
            if entry.members.contains_key(&member.conn) {
                return Joined::Already;
            }
            entry.members.insert(member.conn, member.clone());
            return Joined::Added(entry.ready.clone());
        }
        let (ready_tx, ready) = watch::channel(false);
        let mut members = ConnMap::default();
        members.insert(member.conn, member.clone());
        let catching_up = held.then(|| {
            let catching_up = Arc::new(CatchingUp::default());
            catching_up.hold_seat(member.conn);
            catching_up
        });
        rooms.insert(
            room.to_owned(),
            RoomMembers {
                members,
                ready: ready.clone(),
                catching_up,
                generation: next_generation(),
            },
        );
        self.request(Change::Subscribe {
            room: room.to_owned(),
            ready: ready_tx,
        });
        Joined::Added(ready)
    }

    /// Removes a socket from a room; the last socket out unsubscribes the node.
    pub fn leave(&self, room: &str, conn: ConnId) -> bool {
        let mut rooms = self.write();
        let Some(entry) = rooms.get_mut(room) else {
            return false;
        };
        let removed = entry.members.remove(&conn).is_some();
        entry.members.shrink_when_sparse();
        if let Some(held) = &entry.catching_up {
            held.drop_seat(conn);
        }
        if entry.members.is_empty() {
            rooms.remove(room);
            rooms.shrink_when_sparse();
            self.request(Change::Unsubscribe {
                room: room.to_owned(),
            });
        }
        removed
    }

    /// Removes every socket of `user` from `room` (kick, ban, leave) and returns them.
    pub fn evict_user(&self, room: &str, user: &Id) -> Vec<MemberRef> {
        self.evict(room, |m| &m.user == user)
    }

    /// Removes every socket from `room` (the room is gone) and returns them.
    pub fn evict_all(&self, room: &str) -> Vec<MemberRef> {
        self.evict(room, |_| true)
    }

    fn evict(&self, room: &str, pred: impl Fn(&MemberRef) -> bool) -> Vec<MemberRef> {
        let mut rooms = self.write();
        let Some(entry) = rooms.get_mut(room) else {
            return Vec::new();
        };
        let evicted: Vec<MemberRef> = entry
            .members
            .values()
            .filter(|m| pred(m))
            .cloned()
            .collect();
        for m in &evicted {
            entry.members.remove(&m.conn);
            if let Some(held) = &entry.catching_up {
                held.drop_seat(m.conn);
            }
        }
        entry.members.shrink_when_sparse();
        if entry.members.is_empty() {
            rooms.remove(room);
            rooms.shrink_when_sparse();
            self.request(Change::Unsubscribe {
                room: room.to_owned(),
            });
        }
        evicted
    }

    /// Runs `f` over the room's members under the read lock (never held across an await).
    pub fn with_members<R>(&self, room: &str, f: impl FnOnce(&RoomMembers) -> R) -> Option<R> {
        self.read().get(room).map(f)
    }

    /// Whether the socket is in the room.
    pub fn is_member(&self, room: &str, conn: ConnId) -> bool {
        self.read()
            .get(room)
            .is_some_and(|r| r.members.contains_key(&conn))
    }

    /// Rooms with at least one local socket.
    pub fn room_count(&self) -> usize {
        self.read().len()
    }

    fn request(&self, change: Change) {
        // The receiver lives as long as the node; after shutdown nothing needs subscribing.
        if self.changes.send(change).is_err() {
            self.metrics.broker_errors.inc();
        }
    }
}
