//! One authenticated socket's state: its rooms and its outbound queue. Joining a room checks
//! the shared ACL, joins the node's registry, waits for the broker subscription to be live,
//! then checks the ACL again (so a ban racing the join cannot leave the socket inside).
//!
//! Subscribing to a room with history also reads the room's position (and, with `since`, the
//! events the client missed) while the seat's live events are held, then queues the dialect's
//! answer, the replay and the held events in offset order before the seat goes live.

use super::{CloseReason, ConnId, Delivery, Member, MemberRef, Outbound};
use crate::{
    dialect::Format,
    hub::{Joined, catchup::Released},
    node::Node,
};
use axum::extract::ws::Message;
use shared::{Id, Room, auth::User, history::Position};
use std::{collections::HashSet, sync::Arc, time::Duration};

/// How long a join waits for the node's broker subscription before giving up.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("forbidden room")]
    Forbidden,
    #[error("too many rooms")]
    TooManyRooms,
    #[error("room unavailable, try again")]
    Unavailable,
}

/// What subscribing to a room found: the room's position at the switch to live events and,
/// when the client gave `since`, whether everything after it is being replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub position: Position,
    /// None without `since`; false when the events after it are no longer all in history
    /// (trimmed, or another epoch): the client must reload the room through the API.
    pub recovered: Option<bool>,
}

pub struct Session {
    pub(super) node: Arc<Node>,
    pub(super) member: MemberRef,
    name: Option<String>,
    rooms: HashSet<String>,
    /// This session's field in the user's presence map and in a voice channel's map.
    pub(super) live_field: String,
    /// The voice channel this socket is in.
    pub(super) voice: Option<Id>,
    /// The kind of client, as its presence shows it.
    pub(super) platform: Option<shared::presence::Platform>,
    /// Whether this session ever set a presence entry: only then is one taken back on close
    /// (a session that only watches presence, such as a Lanyard socket, has none). Atomic
    /// because `set_presence` takes `&self`.
    pub(super) presence_set: std::sync::atomic::AtomicBool,
}

impl Session {
    pub fn new(
        node: Arc<Node>,
        conn: ConnId,
        user: User,
        format: Format,
        outbound: Outbound,
        grants: Option<super::Grants>,
    ) -> Self {
        let member = Arc::new(Member {
            conn,
            user: user.id,
            format,
            outbound,
            grants,
        });
        node.hub.open(&member);
        // Opened after the node stopped (which closed the sessions it knew of): close at once.
        if node.stopped.is_cancelled() {
            member.outbound.close(super::CloseReason::ServerShutdown);
        }
        let live_field = crate::live::session_field(&node, conn);
        Session {
            node,
            member,
            name: user.name,
            rooms: HashSet::new(),
            live_field,
            voice: None,
            platform: None,
            presence_set: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Names the kind of client this session runs on, for the presence it publishes.
    pub fn set_platform(&mut self, platform: shared::presence::Platform) {
        self.platform = Some(platform);
    }

    pub fn user_id(&self) -> &Id {
        &self.member.user
    }

    pub fn username(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn conn(&self) -> ConnId {
        self.member.conn
    }

    pub fn format(&self) -> Format {
        self.member.format
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The voice channel this socket is in.
    pub fn voice_channel(&self) -> Option<&Id> {
        self.voice.as_ref()
    }

    /// Rooms this socket asked for and was admitted to, in no particular order.
    pub fn rooms(&self) -> impl Iterator<Item = &String> {
        self.rooms.iter()
    }

    /// Queues a reply frame behind the events already queued.
    pub fn send(&self, frame: Message) -> Delivery {
        self.member.outbound.try_send(super::Outgoing::plain(frame))
    }

    /// Sends the greeting (READY, INIT_STATE, and what must precede it) ahead of everything
    /// queued since [`Outbound::hold`]: the client sees it before any event of the rooms
    /// joined for it.
    pub fn send_ahead(&self, frames: impl IntoIterator<Item = Message>) {
        self.member
            .outbound
            .send_ahead(frames.into_iter().map(super::Outgoing::plain).collect());
    }

    pub fn outbound(&self) -> &Outbound {
        &self.member.outbound
    }

    /// Joins `room` without reading its history: the automatic rooms at connect time.
    pub async fn enter(&mut self, room: &Room) -> Result<(), SubscribeError> {
        self.join(room.to_string(), Some(room)).await
    }

    /// Joins `room` if the user may read it, replaying what the client missed after `since`.
    /// `answer` renders the dialect's reply, which is queued before the replay and the live
    /// events that follow it.
    pub async fn subscribe(
        &mut self,
        room: &Room,
        since: Option<&Position>,
        answer: impl FnOnce(&Subscription) -> Option<Message> + Send,
    ) -> Result<Subscription, SubscribeError> {
        if matches!(room, Room::Presence(_)) {
            // Presence is followed with PRESENCE_SUBSCRIBE, not joined as a room.
            return Err(SubscribeError::Forbidden);
        }
        let name = room.to_string();
        self.make_room_for(&name)?;
        self.check_access(room).await?;
        let (hub, member) = (self.node.hub.clone(), self.member.clone());
        let added = match hub.join_held(&name, &member) {
            Joined::Added(mut ready) => {
                let live =
                    tokio::time::timeout(SUBSCRIBE_TIMEOUT, ready.wait_for(|live| *live)).await;
                if !matches!(live, Ok(Ok(_))) {
                    hub.leave(&name, member.conn);
                    return Err(SubscribeError::Unavailable);
                }
                true
            }
            Joined::Already => false,
        };
        let read = match self.check_access(room).await {
            Ok(()) => self.read_history(&name, since).await,
            Err(e) => Err(e),
        };
        let read = match read {
            Ok(read) => read,
            Err(e) => {
                if added {
                    hub.leave(&name, member.conn);
                    self.rooms.remove(&name);
                } else {
                    // Nothing was read: every held event goes out.
                    let nothing = Position {
                        offset: 0,
                        epoch: String::new(),
                    };
                    hub.release(&name, &member, &nothing).await;
                }
                return Err(e);
            }
        };
        self.rooms.insert(name.clone());
        let recovered = since
            .map(|since| since.continues_in(&read.top) && read.is_complete_after(since.offset));
        let subscription = Subscription {
            position: read.top.clone(),
            recovered,
        };
        if let Some(answer) = answer(&subscription) {
            self.send(answer);
        }
        let replay = if recovered == Some(true) {
            read.events
        } else {
            Vec::new()
        };
        let replayed = crate::hub::catchup::replay(&name, replay, &member).await;
        let released = hub.release(&name, &member, &read.top).await;
        if !replayed || released == Released::Failed {
            member.outbound.close(CloseReason::SlowConsumer);
        }
        Ok(subscription)
    }

    /// The room's position, and with `since` the events after it (up to the replay limit).
    async fn read_history(
        &self,
        room: &str,
        since: Option<&Position>,
    ) -> Result<shared::history::HistoryRead, SubscribeError> {
        let (after, limit) = match since {
            Some(since) => (since.offset, self.node.config.limits.max_replay),
            None => (u64::MAX, 0),
        };
        self.node
            .broker
            .history_after(room, after, limit)
            .await
            .map_err(|error| {
                self.node.metrics.broker_errors.inc();
                tracing::warn!(%error, room, user.id = %self.member.user, "history read failed");
                SubscribeError::Unavailable
            })
    }

    /// Follows the presence updates of each of `users`, as [`Session::follow_presence`] does,
    /// but awaits the node's subscriptions they need together (one round trip to Redis, not one
    /// per user). Returns the users whose presence could not be followed; errs (after settling
    /// the ones already joined) when the socket's room limit stops it.
    pub async fn follow_presences<'a>(
        &mut self,
        users: impl IntoIterator<Item = &'a Id>,
    ) -> Result<Vec<&'a Id>, SubscribeError> {
        let mut waiting = Vec::new();
        let mut limited = Ok(());
        for user in users {
            let name = format!("presence:{user}");
            limited = self.make_room_for(&name);
            if limited.is_err() {
                break;
            }
            if let Joined::Added(ready) = self.node.hub.join(&name, &self.member) {
                waiting.push((user, name.clone(), ready));
            }
            self.rooms.insert(name);
        }
        let live = futures_util::future::join_all(waiting.into_iter().map(
            |(user, name, mut ready)| async move {
                let live =
                    tokio::time::timeout(SUBSCRIBE_TIMEOUT, ready.wait_for(|live| *live)).await;
                (user, name, matches!(live, Ok(Ok(_))))
            },
        ))
        .await;
        let mut failed = Vec::new();
        for (user, name, live) in live {
            if !live {
                self.leave(name);
                failed.push(user);
            }
        }
        limited.map(|()| failed)
    }

    /// Follows a user's presence updates (`presence:<id>`, readable by all).
    pub async fn follow_presence(&mut self, user: &Id) -> Result<(), SubscribeError> {
        self.join(format!("presence:{user}"), None).await
    }

    /// Follows every user's presence updates.
    pub async fn follow_all_presence(&mut self) -> Result<(), SubscribeError> {
        self.join(shared::broker::ALL_PRESENCE.to_owned(), None)
            .await
    }

    /// Stops following a user's presence updates; false if the socket did not follow them.
    pub fn unfollow_presence(&mut self, user: &Id) -> bool {
        self.leave(format!("presence:{user}"))
    }

    /// Stops following presence altogether: everyone's, and each user followed one by one.
    pub fn unfollow_all_presence(&mut self) {
        let followed: Vec<String> = self
            .rooms
            .iter()
            .filter(|room| room.starts_with("presence:"))
            .cloned()
            .collect();
        // `presence:*` is among them when the socket follows everyone.
        for room in followed {
            self.leave(room);
        }
    }

    /// Errs when joining `name` would take the socket past its room limit.
    fn make_room_for(&mut self, name: &str) -> Result<(), SubscribeError> {
        let max = self.node.config.limits.max_rooms_per_socket;
        if !self.rooms.contains(name) && self.rooms.len() >= max {
            // Rooms the node took the socket out of (kick, ban, deletion) no longer count.
            let (hub, conn) = (&self.node.hub, self.member.conn);
            self.rooms.retain(|r| hub.is_member(r, conn));
            if self.rooms.len() >= max {
                return Err(SubscribeError::TooManyRooms);
            }
        }
        Ok(())
    }

    /// Joins the room `name`, checking read access to `room` when given.
    async fn join(&mut self, name: String, room: Option<&Room>) -> Result<(), SubscribeError> {
        self.make_room_for(&name)?;
        if let Some(room) = room {
            self.check_access(room).await?;
        }
        if let Joined::Added(mut ready) = self.node.hub.join(&name, &self.member) {
            let live = tokio::time::timeout(SUBSCRIBE_TIMEOUT, ready.wait_for(|live| *live)).await;
            if !matches!(live, Ok(Ok(_))) {
                self.node.hub.leave(&name, self.member.conn);
                return Err(SubscribeError::Unavailable);
            }
        }
        if let Some(room) = room
            && let Err(e) = self.check_access(room).await
        {
            self.node.hub.leave(&name, self.member.conn);
            self.rooms.remove(&name);
            return Err(e);
        }
        self.rooms.insert(name);
        Ok(())
    }

    /// Leaves `room`; false if the socket was not in it.
    pub fn unsubscribe(&mut self, room: &Room) -> bool {
        self.leave(room.to_string())
    }

    /// Leaves the room `name`; false if the socket was not in it.
    fn leave(&mut self, name: String) -> bool {
        let was_listed = self.rooms.remove(&name);
        // The hub may have evicted the socket already (kick, ban): still a clean leave.
        self.node.hub.leave(&name, self.member.conn) || was_listed
    }

    async fn check_access(&self, room: &Room) -> Result<(), SubscribeError> {
        match self.node.broker.may_read(room, &self.member.user).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SubscribeError::Forbidden),
            Err(error) => {
                self.node.metrics.broker_errors.inc();
                tracing::warn!(%error, %room, user.id = %self.member.user, "access check failed");
                Err(SubscribeError::Unavailable)
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for room in &self.rooms {
            self.node.hub.leave(room, self.member.conn);
        }
        self.node.hub.close(self.member.conn);
        self.release_live();
    }
}
