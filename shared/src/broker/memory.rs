//! The in-process broker behind `memory://`: the same semantics as the Redis broker, held in
//! one process, for the one-command local start. Not for production and not used by tests
//! that stand in for Redis.

use super::change::{Change, Committed, Refusal};
use super::{BrokerError, BrokerMessage, RecvError};
use crate::{
    acl::{Channel, Role, Standing},
    fleet::NodeInfo,
    history::{HistoryOptions, HistoryRead, Position, new_epoch},
    id::Id,
    room::Room,
};
use bytes::Bytes;
use std::{
    collections::{BTreeSet, HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex, PoisonError},
};
use tokio::sync::broadcast;

#[derive(Default)]
pub(super) struct State {
    channels: HashMap<Id, Channel>,
    members: HashMap<Id, HashMap<Id, Role>>,
    bans: HashMap<Id, HashSet<Id>>,
    messages: HashMap<Id, HashMap<Id, Id>>,
    dms: HashMap<Id, BTreeSet<Id>>,
    usernames: HashMap<Id, String>,
    histories: HashMap<String, RoomHistory>,
    nodes: HashMap<String, (NodeInfo, std::time::Instant)>,
    idempotency: Expiring,
    sessions: Expiring,
    pub(super) live: HashMap<String, super::memory_live::LiveMap>,
    pub(super) live_index: HashMap<&'static str, HashMap<String, u64>>,
    pub(super) incarnations: super::memory_live::Incarnations,
}

impl State {
    pub(super) fn channels_of<'a>(&'a self, user: &'a Id) -> impl Iterator<Item = Id> + 'a {
        self.members
            .iter()
            .filter(move |(_, members)| members.contains_key(user))
            .map(|(channel, _)| channel.clone())
    }

    pub(super) fn dms_of<'a>(&'a self, user: &'a Id) -> impl Iterator<Item = Id> + 'a {
        self.dms
            .iter()
            .filter(move |(_, participants)| participants.contains(user))
            .map(|(dm, _)| dm.clone())
    }

    pub(super) fn public_channels(&self) -> impl Iterator<Item = &Channel> {
        self.channels.values().filter(|c| c.public)
    }

    pub(super) fn members_of(&self, channel: &Id) -> Vec<(Id, Role)> {
        self.members
            .get(channel)
            .map(|m| m.iter().map(|(u, r)| (u.clone(), *r)).collect())
            .unwrap_or_default()
    }

    pub(super) fn username_of(&self, user: &Id) -> Option<String> {
        self.usernames.get(user).cloned()
    }
}

/// One room's history: its epoch, newest offset and the retained events (count-bounded;
/// the in-process broker keeps them until it stops, it has no TTL).
struct RoomHistory {
    epoch: String,
    top: u64,
    events: VecDeque<(u64, Bytes)>,
}

impl RoomHistory {
    fn new() -> Self {
        RoomHistory {
            epoch: new_epoch(),
            top: 0,
            events: VecDeque::new(),
        }
    }
}

#[derive(Clone)]
pub struct MemoryBroker {
    state: Arc<Mutex<State>>,
    bus: broadcast::Sender<BrokerMessage>,
    max_len: usize,
}

impl Default for MemoryBroker {
    fn default() -> Self {
        Self::new(&HistoryOptions::default())
    }
}

impl MemoryBroker {
    pub fn new(history: &HistoryOptions) -> Self {
        MemoryBroker {
            state: Arc::default(),
            bus: broadcast::channel(1 << 16).0,
            max_len: usize::try_from(history.history_max_len).unwrap_or(usize::MAX),
        }
    }

    pub(super) fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn subscriber(&self) -> MemorySubscriber {
        MemorySubscriber {
            bus: self.bus.clone(),
            channels: Arc::default(),
        }
    }

    pub async fn publish(&self, room: &Room, payload: String) -> Result<Position, BrokerError> {
        match self.commit(None, &[(room.clone(), payload)]).await? {
            Committed::Done(mut positions) if positions.len() == 1 => {
                Ok(positions.pop().expect("one position"))
            }
            _ => Err(BrokerError::Corrupt {
                key: room.to_string(),
                detail: "a publication answered no position".into(),
            }),
        }
    }

    /// Checks and makes `change` and publishes `publications`, all under the state lock (so
    /// publication order is offset order, as in Redis).
    pub async fn commit(
        &self,
        change: Option<&Change>,
        publications: &[(Room, String)],
    ) -> Result<Committed, BrokerError> {
        let max_len = self.max_len;
        Ok(self.with(|s| {
            if let Some(change) = change
                && let Err(refusal) = check(s, change)
            {
                return Committed::Refused(refusal);
            }
            let positions = publications
                .iter()
                .map(|(room, payload)| {
                    let channel = room.to_string();
                    let (position, body) = append(s, &channel, payload, max_len);
                    self.send(&channel, body);
                    position
                })
                .collect();
            if let Some(change) = change {
                apply(s, change);
            }
            Committed::Done(positions)
        }))
    }

    pub async fn history_back(
        &self,
        room: &str,
        at_most: u64,
        count: usize,
    ) -> Result<Vec<(u64, Bytes)>, BrokerError> {
        Ok(self.with(|s| {
            s.histories.get(room).map_or_else(Vec::new, |h| {
                h.events
                    .iter()
                    .rev()
                    .filter(|(offset, _)| *offset <= at_most)
                    .take(count)
                    .cloned()
                    .collect()
            })
        }))
    }

    pub async fn history_after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<HistoryRead, BrokerError> {
        Ok(self.with(|s| {
            let Some(history) = s.histories.get(room) else {
                return HistoryRead {
                    top: Position::none(),
                    events: Vec::new(),
                };
            };
            HistoryRead {
                top: Position {
                    offset: history.top,
                    epoch: history.epoch.clone(),
                },
                events: history
                    .events
                    .iter()
                    .filter(|(offset, _)| *offset > after)
                    .take(limit)
                    .cloned()
                    .collect(),
            }
        }))
    }

    /// Hands a payload to every subscriber of `channel`.
    pub(super) fn send(&self, channel: &str, payload: String) {
        // No receiver is not an error: nobody listens to that room right now.
        let _ = self.bus.send(BrokerMessage {
            channel: Bytes::from(channel.to_owned()),
            payload: payload.into(),
            via_pattern: false,
        });
    }

    pub async fn publish_transient(
        &self,
        channel: &str,
        payload: String,
    ) -> Result<(), BrokerError> {
        self.send(channel, payload);
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    pub async fn channel(&self, id: &Id) -> Result<Option<Channel>, BrokerError> {
        Ok(self.with(|s| s.channels.get(id).cloned()))
    }

    pub async fn standing(&self, channel: &Id, user: &Id) -> Result<Standing, BrokerError> {
        Ok(self.with(|s| Standing {
            role: s.members.get(channel).and_then(|m| m.get(user)).copied(),
            banned: s.bans.get(channel).is_some_and(|b| b.contains(user)),
        }))
    }

    pub async fn set_username(&self, user: &Id, name: &str) -> Result<(), BrokerError> {
        self.with(|s| s.usernames.insert(user.clone(), name.to_owned()));
        Ok(())
    }

    pub async fn username(&self, user: &Id) -> Result<Option<String>, BrokerError> {
        Ok(self.with(|s| s.usernames.get(user).cloned()))
    }

    pub async fn message_author(
        &self,
        channel: &Id,
        message: &Id,
    ) -> Result<Option<Id>, BrokerError> {
        Ok(self.with(|s| {
            s.messages
                .get(channel)
                .and_then(|m| m.get(message))
                .cloned()
        }))
    }

    pub async fn create_dm(&self, id: &Id, participants: &[Id]) -> Result<bool, BrokerError> {
        Ok(self.with(|s| {
            if s.dms.contains_key(id) {
                return false;
            }
            s.dms
                .insert(id.clone(), participants.iter().cloned().collect());
            true
        }))
    }

    pub async fn dm_participants(&self, id: &Id) -> Result<Option<Vec<Id>>, BrokerError> {
        Ok(self.with(|s| s.dms.get(id).map(|p| p.iter().cloned().collect())))
    }

    pub async fn is_dm_participant(&self, id: &Id, user: &Id) -> Result<bool, BrokerError> {
        Ok(self.with(|s| s.dms.get(id).is_some_and(|p| p.contains(user))))
    }
}

/// String values that expire, as Redis keys with a TTL do.
#[derive(Default)]
pub(super) struct Expiring(HashMap<String, (String, std::time::Instant)>);

impl Expiring {
    fn get(&mut self, key: &str) -> Option<String> {
        let now = std::time::Instant::now();
        self.0.retain(|_, (_, expires)| *expires > now);
        self.0.get(key).map(|(value, _)| value.clone())
    }

    fn insert(&mut self, key: &str, value: &str, ttl: std::time::Duration) {
        let expires = std::time::Instant::now() + ttl;
        self.0.insert(key.to_owned(), (value.to_owned(), expires));
    }

    fn remove(&mut self, key: &str) {
        self.0.remove(key);
    }
}

impl MemoryBroker {
    pub async fn session_save(
        &self,
        id: &str,
        record: &str,
        ttl: std::time::Duration,
    ) -> Result<(), BrokerError> {
        self.with(|s| s.sessions.insert(id, record, ttl));
        Ok(())
    }

    pub async fn session_get(&self, id: &str) -> Result<Option<String>, BrokerError> {
        Ok(self.with(|s| s.sessions.get(id)))
    }

    pub async fn session_delete(&self, id: &str) -> Result<(), BrokerError> {
        self.with(|s| s.sessions.remove(id));
        Ok(())
    }

    pub async fn idempotency_claim(
        &self,
        key: &str,
        pending: &str,
        in_flight: std::time::Duration,
    ) -> Result<Option<String>, BrokerError> {
        Ok(self.with(|s| {
            let previous = s.idempotency.get(key);
            if previous.is_none() {
                s.idempotency.insert(key, pending, in_flight);
            }
            previous
        }))
    }

    pub async fn idempotency_store(
        &self,
        key: &str,
        record: &str,
        ttl: std::time::Duration,
    ) -> Result<(), BrokerError> {
        self.with(|s| s.idempotency.insert(key, record, ttl));
        Ok(())
    }

    pub async fn idempotency_release(&self, key: &str) -> Result<(), BrokerError> {
        self.with(|s| s.idempotency.remove(key));
        Ok(())
    }

    pub async fn register_node(
        &self,
        node: &NodeInfo,
        ttl: std::time::Duration,
    ) -> Result<(), BrokerError> {
        let expires = std::time::Instant::now() + ttl;
        self.with(|s| s.nodes.insert(node.id.clone(), (node.clone(), expires)));
        Ok(())
    }

    pub async fn deregister_node(&self, id: &str) -> Result<(), BrokerError> {
        self.with(|s| s.nodes.remove(id));
        Ok(())
    }

    pub async fn live_nodes(&self) -> Result<Vec<NodeInfo>, BrokerError> {
        let now = std::time::Instant::now();
        Ok(self.with(|s| {
            s.nodes.retain(|_, (_, expires)| *expires > now);
            let mut live: Vec<NodeInfo> = s.nodes.values().map(|(n, _)| n.clone()).collect();
            live.sort_by(|a, b| a.id.cmp(&b.id));
            live
        }))
    }
}

/// Appends a payload to the room's history (a new epoch when it has none): its position and
/// the payload with `offset` and `epoch` spliced in.
fn append(s: &mut State, channel: &str, payload: &str, max_len: usize) -> (Position, String) {
    let history = s
        .histories
        .entry(channel.to_owned())
        .or_insert_with(RoomHistory::new);
    history.top += 1;
    let body = format!(
        "{},\"offset\":{},\"epoch\":\"{}\"}}",
        &payload[..payload.len() - 1],
        history.top,
        history.epoch
    );
    history
        .events
        .push_back((history.top, Bytes::from(body.clone())));
    while history.events.len() > max_len {
        history.events.pop_front();
    }
    let position = Position {
        offset: history.top,
        epoch: history.epoch.clone(),
    };
    (position, body)
}

/// Whether `change` may be made: the first of its conditions that fails (see [`Change`]).
fn check(s: &State, change: &Change) -> Result<(), Refusal> {
    let channel_exists = |id: &Id| s.channels.contains_key(id);
    let is_member =
        |channel: &Id, user: &Id| s.members.get(channel).is_some_and(|m| m.contains_key(user));
    let is_banned = |channel: &Id, user: &Id| s.bans.get(channel).is_some_and(|b| b.contains(user));
    let is_message = |channel: &Id, message: &Id| {
        s.messages
            .get(channel)
            .is_some_and(|m| m.contains_key(message))
    };
    let holds = |condition: bool, refusal: Refusal| if condition { Ok(()) } else { Err(refusal) };
    match change {
        Change::CreateChannel { channel, .. } => {
            holds(!channel_exists(&channel.id), Refusal::Taken)
        }
        Change::UpdateChannel(channel) => holds(channel_exists(&channel.id), Refusal::NoChannel),
        Change::RecordMessage {
            channel,
            message,
            author,
            parent,
            as_member,
        } => {
            holds(channel_exists(channel), Refusal::NoChannel)?;
            if *as_member {
                holds(!is_banned(channel, author), Refusal::Banned)?;
                holds(is_member(channel, author), Refusal::NotMember)?;
            }
            if let Some(parent) = parent {
                holds(is_message(channel, parent), Refusal::NoMessage)?;
            }
            holds(!is_message(channel, message), Refusal::Taken)
        }
        Change::EditMessage {
            channel,
            message,
            editor: by,
        }
        | Change::ForgetMessage {
            channel,
            message,
            author: by,
        } => {
            holds(channel_exists(channel), Refusal::NoChannel)?;
            if let Some(user) = by {
                holds(!is_banned(channel, user), Refusal::Banned)?;
                holds(is_member(channel, user), Refusal::NotMember)?;
            }
            let author = s.messages.get(channel).and_then(|m| m.get(message));
            holds(author.is_some(), Refusal::NoMessage)?;
            match by {
                Some(user) => holds(author == Some(user), Refusal::NotAuthor),
                None => Ok(()),
            }
        }
        Change::RemoveMember { channel, user } => {
            holds(is_member(channel, user), Refusal::NotMember)
        }
        Change::Unban { channel, user } => holds(is_banned(channel, user), Refusal::NotBanned),
        Change::SetMember {
            channel,
            user,
            existing,
            ..
        } => {
            holds(channel_exists(channel), Refusal::NoChannel)?;
            holds(!is_banned(channel, user), Refusal::Banned)?;
            match existing {
                true => holds(is_member(channel, user), Refusal::NotMember),
                false => holds(!is_member(channel, user), Refusal::AlreadyMember),
            }
        }
        Change::Ban { channel, .. } => holds(channel_exists(channel), Refusal::NoChannel),
        Change::DeleteChannel(_) => Ok(()),
    }
}

/// Makes `change` (its conditions were checked).
fn apply(s: &mut State, change: &Change) {
    match change {
        Change::CreateChannel { channel, owner } => {
            s.channels.insert(channel.id.clone(), channel.clone());
            if let Some(owner) = owner {
                s.members
                    .entry(channel.id.clone())
                    .or_default()
                    .insert(owner.clone(), Role::Owner);
            }
        }
        Change::UpdateChannel(channel) => {
            s.channels.insert(channel.id.clone(), channel.clone());
        }
        Change::DeleteChannel(id) => {
            s.members.remove(id);
            s.bans.remove(id);
            s.messages.remove(id);
            s.histories.remove(&format!("channel:{id}"));
            s.channels.remove(id);
        }
        Change::RecordMessage {
            channel,
            message,
            author,
            ..
        } => {
            let messages = s.messages.entry(channel.clone()).or_default();
            messages.insert(message.clone(), author.clone());
        }
        Change::EditMessage { .. } => {}
        Change::ForgetMessage {
            channel, message, ..
        } => {
            s.messages.get_mut(channel).map(|m| m.remove(message));
        }
        Change::SetMember {
            channel,
            user,
            role,
            ..
        } => {
            s.members
                .entry(channel.clone())
                .or_default()
                .insert(user.clone(), *role);
        }
        Change::RemoveMember { channel, user } => {
            s.members.get_mut(channel).map(|m| m.remove(user));
        }
        Change::Ban { channel, user } => {
            s.members.get_mut(channel).map(|m| m.remove(user));
            s.bans
                .entry(channel.clone())
                .or_default()
                .insert(user.clone());
        }
        Change::Unban { channel, user } => {
            s.bans.get_mut(channel).map(|b| b.remove(user));
        }
    }
}

pub struct MemorySubscriber {
    bus: broadcast::Sender<BrokerMessage>,
    channels: Arc<Mutex<HashSet<Bytes>>>,
}

impl MemorySubscriber {
    fn channels(&self) -> std::sync::MutexGuard<'_, HashSet<Bytes>> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn subscribe(&self, channels: &[String]) {
        self.channels()
            .extend(channels.iter().map(|c| Bytes::from(c.clone())));
    }

    pub fn unsubscribe(&self, channels: &[String]) {
        let mut set = self.channels();
        for c in channels {
            set.remove(c.as_bytes());
        }
    }

    pub fn messages(&self) -> MemoryMessages {
        MemoryMessages {
            rx: self.bus.subscribe(),
            channels: self.channels.clone(),
            pending: None,
        }
    }
}

pub struct MemoryMessages {
    rx: broadcast::Receiver<BrokerMessage>,
    channels: Arc<Mutex<HashSet<Bytes>>>,
    /// A message that matched both a channel and the pattern is delivered twice, as Redis does.
    pending: Option<BrokerMessage>,
}

impl MemoryMessages {
    pub fn backlog(&self) -> usize {
        self.rx.len() + usize::from(self.pending.is_some())
    }

    pub async fn recv(&mut self) -> Result<BrokerMessage, RecvError> {
        if let Some(message) = self.pending.take() {
            return Ok(message);
        }
        loop {
            let message = match self.rx.recv().await {
                Ok(m) => m,
                Err(broadcast::error::RecvError::Lagged(n)) => return Err(RecvError::Lagged(n)),
                Err(broadcast::error::RecvError::Closed) => return Err(RecvError::Closed),
            };
            let (direct, pattern) = {
                let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
                let pattern = message.channel.starts_with(b"presence:")
                    && channels.contains(super::ALL_PRESENCE.as_bytes());
                (channels.contains(&message.channel), pattern)
            };
            let via_pattern = BrokerMessage {
                via_pattern: true,
                ..message.clone()
            };
            match (direct, pattern) {
                (true, true) => {
                    self.pending = Some(via_pattern);
                    return Ok(message);
                }
                (true, false) => return Ok(message),
                (false, true) => return Ok(via_pattern),
                (false, false) => {}
            }
        }
    }
}
