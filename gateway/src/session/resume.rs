//! Resuming a session on any node (`RESUME {session_id, seq}`). When a session ends, its node
//! keeps a record in the broker for `GATEWAY_RESUME_TTL_SECS`: the user, the number of the last
//! frame written, where each of its rooms stood (the last event written there, else the
//! position its subscription read), and the last events written, by number. A client that read
//! frames up to `seq` gets each room back from the last event it had: missed events are
//! replayed from history exactly once, in order, then live ones follow (the same path as
//! `SUBSCRIBE {since}`).
//!
//! A session still open somewhere (its socket not yet known to be dead, or its node draining)
//! is asked to close first: a control message on the user's room reaches every node, the one
//! holding the session closes it (reason [`CloseReason::Superseded`]) and writes its record,
//! which the resuming node waits for.

use super::{CloseReason, ConnId, Session, SubscribeError, Subscription, pump::Pump};
use crate::node::Node;
use serde::{Deserialize, Serialize};
use shared::{Id, Room, history::Position};
use std::time::Duration;

/// How long a resume waits for a session that is still open elsewhere to close.
const TAKEOVER_WAIT: Duration = Duration::from_secs(2);
const POLL_EVERY: Duration = Duration::from_millis(25);
/// How long a node may take to write a closing session's record.
const SAVE_TIMEOUT: Duration = Duration::from_secs(2);
/// The control message that asks a session's node to close it.
pub const TAKEOVER: &str = "SESSION_TAKEOVER";

/// What a closed session left for resuming it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub user: Id,
    /// The number of the last frame written to the socket.
    pub seq: u64,
    pub rooms: Vec<RoomAt>,
    /// The last events with history written, oldest first.
    pub tail: Vec<Written>,
    /// The number of the newest event that is no longer in `tail` (0: none).
    pub tail_floor: u64,
}

/// A room and where the session stood in it (None: unknown, nothing to replay from).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomAt {
    pub room: String,
    pub position: Option<Position>,
}

/// One event written to the socket, by number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Written {
    pub seq: u64,
    pub room: String,
    pub position: Position,
}

impl Record {
    /// Where each room stood for a client that read the frames up to `seq`; None when the
    /// record cannot tell (the client missed more events than the tail remembers).
    pub fn positions_at(&self, seq: u64) -> Option<Vec<RoomAt>> {
        if seq < self.tail_floor {
            return None;
        }
        let mut rooms = self.rooms.clone();
        // The events the client did not get, newest first: each puts its room back to just
        // before it (a room's events reach a socket at consecutive offsets).
        for event in self.tail.iter().rev().take_while(|e| e.seq > seq) {
            if let Some(at) = rooms.iter_mut().find(|r| r.room == event.room) {
                at.position = Some(Position {
                    offset: event.position.offset.saturating_sub(1),
                    epoch: event.position.epoch.clone(),
                });
            }
        }
        Some(rooms)
    }
}

/// Why a session could not be resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeError {
    /// No such session for this user (never existed, expired, resumed already), or the client
    /// missed more than the record can replay: start fresh.
    Unknown,
    /// The client claims frames the session never sent.
    SeqAhead { sent: u64 },
    /// The broker did not answer.
    Unavailable,
}

/// What resuming restored: each room of the session and how its subscription went.
pub struct Resumed {
    pub rooms: Vec<(String, Result<Subscription, SubscribeError>)>,
}

/// The part of a record only the session knows, taken before it is dropped.
pub struct Draft {
    id: String,
    user: Id,
    rooms: Vec<RoomAt>,
}

impl Session {
    /// This session's id: unique across nodes and restarts, and telling which node holds it.
    pub fn id(&self) -> String {
        session_id(&self.node, self.conn())
    }

    /// What the record of this session needs from it, when it ends.
    pub fn draft(&self) -> Draft {
        let rooms = self
            .rooms()
            .map(|room| RoomAt {
                room: room.clone(),
                position: self.node.hub.floor(room, self.conn()),
            })
            .collect();
        Draft {
            id: self.id(),
            user: self.user_id().clone(),
            rooms,
        }
    }

    /// Resumes session `id` into this one: its rooms are joined again and what the client
    /// missed after frame `seq` is replayed.
    pub async fn resume(&mut self, id: &str, seq: u64) -> Result<Resumed, ResumeError> {
        let node = self.node.clone();
        let record = load(&node, self.user_id(), id)
            .await?
            .filter(|r| &r.user == self.user_id())
            .ok_or(ResumeError::Unknown)?;
        if seq > record.seq {
            return Err(ResumeError::SeqAhead { sent: record.seq });
        }
        let rooms = record.positions_at(seq).ok_or(ResumeError::Unknown)?;
        node.broker
            .session_delete(id)
            .await
            .map_err(|_| ResumeError::Unavailable)?;
        let mut restored = Vec::with_capacity(rooms.len());
        for at in rooms {
            if self.follow_again(&at.room).await {
                continue;
            }
            let outcome = match at.room.parse::<Room>() {
                Ok(room) => self.subscribe(&room, at.position.as_ref(), |_| None).await,
                Err(_) => Err(SubscribeError::Forbidden),
            };
            restored.push((at.room, outcome));
        }
        Ok(Resumed { rooms: restored })
    }
}

impl Session {
    /// Follows presence again when `room` is a presence follow (`presence:<id>` or
    /// `presence:*`), and says whether it was one. Presence has no history, so nothing is
    /// replayed and the follow is not listed in RESUMED; a client wanting the current state
    /// sends `PRESENCE_SUBSCRIBE` again (its `INIT_STATE` is the snapshot).
    async fn follow_again(&mut self, room: &str) -> bool {
        if room == shared::broker::ALL_PRESENCE {
            if let Err(error) = self.follow_all_presence().await {
                tracing::debug!(%error, "everyone's presence not followed again");
            }
            return true;
        }
        let Some(user) = room.strip_prefix("presence:") else {
            return false;
        };
        if let Ok(user) = Id::parse(user)
            && let Err(error) = self.follow_presence(&user).await
        {
            tracing::debug!(%error, room, "presence not followed again");
        }
        true
    }
}

/// `<node boot id>-<connection number>`.
pub fn session_id(node: &Node, conn: ConnId) -> String {
    format!("{}-{}", node.boot, conn.0)
}

/// The local connection of session `id`, if this node holds it.
pub fn local_conn(node: &Node, id: &str) -> Option<ConnId> {
    let rest = id.strip_prefix(node.boot.as_str())?.strip_prefix('-')?;
    rest.parse().ok().map(ConnId)
}

/// The record of a session that just ended (its socket's pump is done), and its id.
pub fn record(draft: Draft, pump: &Pump) -> (String, Record) {
    let written = pump.written();
    let rooms = draft
        .rooms
        .into_iter()
        .map(|mut at| {
            if let Some(stamp) = written.iter().find(|s| *s.room == *at.room) {
                at.position = Some(stamp.position.clone());
            }
            at
        })
        .collect();
    let (tail, tail_floor) = pump.tail();
    let record = Record {
        user: draft.user,
        seq: pump.seq(),
        rooms,
        tail: tail
            .into_iter()
            .map(|(seq, stamp)| Written {
                seq,
                room: stamp.room.to_string(),
                position: stamp.position.clone(),
            })
            .collect(),
        tail_floor,
    };
    (draft.id, record)
}

/// Keeps a session's record for resuming it: at once when another node is waiting for it
/// (`taken_over`: the session was closed for a RESUME elsewhere), otherwise once one of the
/// node's permits for records is free ([`Node::endings`]; the semaphore is never closed).
pub async fn save(node: &Node, id: String, record: Record, taken_over: bool) {
    let _permit = if taken_over {
        None
    } else {
        node.endings.records.acquire().await.ok()
    };
    let json = serde_json::to_string(&record).expect("a record serializes");
    let ttl = Duration::from_secs(node.config.limits.resume_ttl_secs);
    let saved = tokio::time::timeout(SAVE_TIMEOUT, node.broker.session_save(&id, &json, ttl)).await;
    if !matches!(saved, Ok(Ok(()))) {
        node.metrics.broker_errors.inc();
        tracing::warn!(
            session = id,
            "could not keep the session's record for resuming"
        );
    }
}

/// The record of session `id`; when there is none yet, asks whichever node holds the session
/// to close it, and waits a moment for its record.
async fn load(node: &Node, user: &Id, id: &str) -> Result<Option<Record>, ResumeError> {
    if let Some(record) = get(node, id).await? {
        return Ok(Some(record));
    }
    match local_conn(node, id) {
        Some(conn) => {
            node.hub.close_session(conn, user, CloseReason::Superseded);
        }
        None => {
            let ask = serde_json::json!({"type": TAKEOVER, "session_id": id}).to_string();
            node.broker
                .publish_control(&Room::User(user.clone()), ask)
                .await
                .map_err(|_| ResumeError::Unavailable)?;
        }
    }
    let deadline = tokio::time::Instant::now() + TAKEOVER_WAIT;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(POLL_EVERY).await;
        if let Some(record) = get(node, id).await? {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

async fn get(node: &Node, id: &str) -> Result<Option<Record>, ResumeError> {
    let json = node
        .broker
        .session_get(id)
        .await
        .map_err(|_| ResumeError::Unavailable)?;
    Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(room: &str, offset: u64) -> RoomAt {
        RoomAt {
            room: room.into(),
            position: Some(Position {
                offset,
                epoch: "e".into(),
            }),
        }
    }

    fn written(seq: u64, room: &str, offset: u64) -> Written {
        Written {
            seq,
            room: room.into(),
            position: Position {
                offset,
                epoch: "e".into(),
            },
        }
    }

    fn record() -> Record {
        // Frames 1..=9: events of a at offsets 5, 6 (frames 4, 7) and of b at 11 (frame 8);
        // the others were replies.
        Record {
            user: Id::parse("7").unwrap(),
            seq: 9,
            rooms: vec![at("channel:a", 6), at("channel:b", 11)],
            tail: vec![
                written(4, "channel:a", 5),
                written(7, "channel:a", 6),
                written(8, "channel:b", 11),
            ],
            tail_floor: 0,
        }
    }

    #[test]
    fn a_client_that_read_everything_continues_from_the_last_events() {
        assert_eq!(record().positions_at(9), Some(record().rooms));
    }

    #[test]
    fn a_client_that_missed_frames_gets_their_events_again() {
        assert_eq!(
            record().positions_at(6),
            Some(vec![at("channel:a", 5), at("channel:b", 10)])
        );
        assert_eq!(
            record().positions_at(3),
            Some(vec![at("channel:a", 4), at("channel:b", 10)])
        );
    }

    #[test]
    fn a_client_behind_the_tail_cannot_resume() {
        let mut record = record();
        record.tail.remove(0);
        record.tail_floor = 4;
        assert_eq!(record.positions_at(3), None);
        assert!(record.positions_at(4).is_some());
    }
}
