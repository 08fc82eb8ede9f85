//! One authenticated socket's state: its rooms and its outbound queue. Joining a room checks
//! the shared ACL, joins the node's registry, waits for the broker subscription to be live,
//! then checks the ACL again (so a ban racing the join cannot leave the socket inside).

use super::{ConnId, Delivery, Member, MemberRef, Outbound};
use crate::{dialect::Format, hub::Joined, node::Node};
use axum::extract::ws::Message;
use shared::{Id, Room, auth::User};
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

pub struct Session {
    pub(super) node: Arc<Node>,
    pub(super) member: MemberRef,
    name: Option<String>,
    rooms: HashSet<String>,
    /// This session's field in the user's presence map and in a voice channel's map.
    pub(super) live_field: String,
    /// The voice channel this socket is in.
    pub(super) voice: Option<Id>,
}

impl Session {
    pub fn new(
        node: Arc<Node>,
        conn: ConnId,
        user: User,
        format: Format,
        outbound: Outbound,
    ) -> Self {
        let member = Arc::new(Member {
            conn,
            user: user.id,
            format,
            outbound,
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
        }
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

    /// Rooms this socket asked for and was admitted to, in no particular order.
    pub fn rooms(&self) -> impl Iterator<Item = &String> {
        self.rooms.iter()
    }

    /// Queues a reply frame behind the events already queued.
    pub fn send(&self, frame: Message) -> Delivery {
        self.member.outbound.try_send(frame)
    }

    pub fn outbound(&self) -> &Outbound {
        &self.member.outbound
    }

    /// Joins `room` if the user may read it.
    pub async fn subscribe(&mut self, room: &Room) -> Result<(), SubscribeError> {
        if matches!(room, Room::Presence(_)) {
            // Presence is followed with PRESENCE_SUBSCRIBE, not joined as a room.
            return Err(SubscribeError::Forbidden);
        }
        self.join(room.to_string(), Some(room)).await
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

    /// Joins the room `name`, checking read access to `room` when given.
    async fn join(&mut self, name: String, room: Option<&Room>) -> Result<(), SubscribeError> {
        let max = self.node.config.limits.max_rooms_per_socket;
        if !self.rooms.contains(&name) && self.rooms.len() >= max {
            // Rooms the node took the socket out of (kick, ban, deletion) no longer count.
            let (hub, conn) = (&self.node.hub, self.member.conn);
            self.rooms.retain(|r| hub.is_member(r, conn));
            if self.rooms.len() >= max {
                return Err(SubscribeError::TooManyRooms);
            }
        }
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
        let name = room.to_string();
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
                tracing::warn!(%error, %room, "access check failed");
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
