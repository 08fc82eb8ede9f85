//! Who belongs where, read the other way round from the access-control state: the rooms a
//! user belongs to (their channels and DMs), a channel's members, display names. A dialect
//! with implicit subscriptions (Discord v3) reads it at identify.
//!
//! On Redis the per-user index `Puser-rooms:{user:<id>}` (a set of room names) is kept as a
//! **superset** of the truth, so no failure between two steps can hide a room: entries are
//! added before the change that grants the room commits and removed after the change that
//! takes it away. Readers check access to each room before using it, so a stale entry costs
//! one refused check, never a leak. The set of public channels `Ppublic-channels` is kept the
//! same way (added before a channel becomes public, removed after it stops being public or is
//! deleted); readers keep only the channels that exist and are public. The in-process broker
//! answers from its tables directly.

use super::{Broker, BrokerError, change::Change, memory::MemoryBroker, redis::RedisBroker};
use crate::{
    acl::{Channel, Role},
    id::Id,
    room::Room,
};
use fred::interfaces::{HashesInterface, SetsInterface};

// Redis calls are boxed here as in `dispatch!` (see there why).
impl Broker {
    /// The channels and DMs `user` belongs to (a superset on Redis: check access before use).
    pub async fn user_rooms(&self, user: &Id) -> Result<Vec<Room>, BrokerError> {
        match self {
            Broker::Redis(b) => Box::pin(b.user_rooms(user)).await,
            Broker::Memory(b) => Ok(b.user_rooms(user)),
        }
    }

    /// A channel's members and their roles, up to `limit`, in id order.
    pub async fn members(
        &self,
        channel: &Id,
        limit: usize,
    ) -> Result<Vec<(Id, Role)>, BrokerError> {
        let mut members = match self {
            Broker::Redis(b) => Box::pin(b.members(channel)).await?,
            Broker::Memory(b) => b.members(channel),
        };
        members.sort_unstable();
        members.truncate(limit);
        Ok(members)
    }

    /// The public channels, in id order (at most `limit`), read and checked one by one.
    pub async fn public_channels(&self, limit: usize) -> Result<Vec<Channel>, BrokerError> {
        let mut channels = match self {
            Broker::Redis(b) => Box::pin(b.public_channels(limit)).await?,
            Broker::Memory(b) => b.public_channels(),
        };
        channels.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        channels.truncate(limit);
        Ok(channels)
    }

    /// The display names of `users`, in order (None: never named).
    pub async fn usernames(&self, users: &[Id]) -> Result<Vec<Option<String>>, BrokerError> {
        match self {
            Broker::Redis(b) => Box::pin(b.usernames(users)).await,
            Broker::Memory(b) => Ok(b.usernames(users)),
        }
    }

    /// Before `change` commits: index the room it grants, and remember whom it will take a
    /// room from (a deleted channel's members). Returns the users to unindex after.
    pub(super) async fn index_before(&self, change: &Change) -> Result<Vec<Id>, BrokerError> {
        let Broker::Redis(b) = self else {
            return Ok(Vec::new());
        };
        if let Change::CreateChannel { channel, .. } | Change::UpdateChannel(channel) = change
            && channel.public
        {
            Box::pin(b.public_add(&channel.id)).await?;
        }
        match change {
            Change::CreateChannel {
                channel,
                owner: Some(owner),
            } => {
                Box::pin(b.index_add(
                    std::slice::from_ref(owner),
                    &Room::Channel(channel.id.clone()),
                ))
                .await?
            }
            Change::SetMember { channel, user, .. } => {
                Box::pin(b.index_add(std::slice::from_ref(user), &Room::Channel(channel.clone())))
                    .await?
            }
            Change::RemoveMember { user, .. } | Change::Ban { user, .. } => {
                return Ok(vec![user.clone()]);
            }
            Change::DeleteChannel(channel) => {
                return Ok(Box::pin(b.members(channel))
                    .await?
                    .into_iter()
                    .map(|(u, _)| u)
                    .collect());
            }
            _ => {}
        }
        Ok(Vec::new())
    }

    /// After `change` committed: unindex the room for the users it took it from. A failure
    /// only leaves a stale entry (see the module docs), so it is logged, not returned.
    pub(super) async fn index_after(&self, change: &Change, users: &[Id]) {
        let Broker::Redis(b) = self else { return };
        let no_longer_public = match change {
            Change::DeleteChannel(_) => true,
            Change::UpdateChannel(channel) => !channel.public,
            _ => false,
        };
        if no_longer_public && let Err(error) = Box::pin(b.public_remove(change.channel())).await {
            tracing::warn!(%error, "unindexing a public channel failed; the index keeps a stale entry");
        }
        if users.is_empty() {
            return;
        }
        let room = Room::Channel(change.channel().clone());
        if let Err(error) = Box::pin(b.index_remove(users, &room)).await {
            tracing::warn!(%error, %room, "unindexing a room failed; the index keeps a stale entry");
        }
    }

    /// Indexes a DM for its participants (before the thread is created).
    pub(super) async fn index_dm(&self, dm: &Id, participants: &[Id]) -> Result<(), BrokerError> {
        match self {
            Broker::Redis(b) => Box::pin(b.index_add(participants, &Room::Dm(dm.clone()))).await,
            Broker::Memory(_) => Ok(()),
        }
    }
}

impl RedisBroker {
    async fn user_rooms(&self, user: &Id) -> Result<Vec<Room>, BrokerError> {
        let names: Vec<String> = self.client().smembers(self.keys().user_rooms(user)).await?;
        let mut rooms: Vec<Room> = names.iter().filter_map(|n| n.parse().ok()).collect();
        rooms.sort_unstable_by_key(|r| r.to_string());
        Ok(rooms)
    }

    async fn members(&self, channel: &Id) -> Result<Vec<(Id, Role)>, BrokerError> {
        let all: std::collections::HashMap<String, String> =
            self.client().hgetall(self.keys().members(channel)).await?;
        Ok(all
            .into_iter()
            .filter_map(|(user, role)| Some((Id::parse(&user).ok()?, role.parse().ok()?)))
            .collect())
    }

    async fn usernames(&self, users: &[Id]) -> Result<Vec<Option<String>>, BrokerError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let fields: Vec<&str> = users.iter().map(Id::as_str).collect();
        let names: Vec<Option<String>> =
            self.client().hmget(self.keys().usernames(), fields).await?;
        Ok(names)
    }

    async fn public_channels(&self, limit: usize) -> Result<Vec<Channel>, BrokerError> {
        let ids: Vec<String> = self
            .client()
            .smembers(self.keys().public_channels())
            .await?;
        let mut ids: Vec<Id> = ids.iter().filter_map(|id| Id::parse(id).ok()).collect();
        ids.sort_unstable();
        let mut channels = Vec::new();
        for id in ids {
            if channels.len() == limit {
                break;
            }
            if let Some(channel) = self.channel(&id).await?
                && channel.public
            {
                channels.push(channel);
            }
        }
        Ok(channels)
    }

    async fn public_add(&self, channel: &Id) -> Result<(), BrokerError> {
        let key = self.keys().public_channels();
        let _: () = self.client().sadd(key, channel.as_str()).await?;
        Ok(())
    }

    async fn public_remove(&self, channel: &Id) -> Result<(), BrokerError> {
        let key = self.keys().public_channels();
        let _: () = self.client().srem(key, channel.as_str()).await?;
        Ok(())
    }

    async fn index_add(&self, users: &[Id], room: &Room) -> Result<(), BrokerError> {
        let name = room.to_string();
        for user in users {
            let _: () = self
                .client()
                .sadd(self.keys().user_rooms(user), name.as_str())
                .await?;
        }
        Ok(())
    }

    async fn index_remove(&self, users: &[Id], room: &Room) -> Result<(), BrokerError> {
        let name = room.to_string();
        for user in users {
            let _: () = self
                .client()
                .srem(self.keys().user_rooms(user), name.as_str())
                .await?;
        }
        Ok(())
    }
}

impl MemoryBroker {
    fn user_rooms(&self, user: &Id) -> Vec<Room> {
        self.with(|s| {
            let mut rooms: Vec<Room> = s
                .channels_of(user)
                .map(Room::Channel)
                .chain(s.dms_of(user).map(Room::Dm))
                .collect();
            rooms.sort_unstable_by_key(|r| r.to_string());
            rooms
        })
    }

    fn members(&self, channel: &Id) -> Vec<(Id, Role)> {
        self.with(|s| s.members_of(channel))
    }

    fn public_channels(&self) -> Vec<Channel> {
        self.with(|s| s.public_channels().cloned().collect())
    }

    fn usernames(&self, users: &[Id]) -> Vec<Option<String>> {
        self.with(|s| users.iter().map(|u| s.username_of(u)).collect())
    }
}
