//! The Redis broker (fred): one multiplexed client for commands, one subscriber connection
//! per [`RedisSubscriber`]. Writes that must be atomic run as Lua scripts.

use super::change::Committed;
use super::{BrokerError, BrokerMessage, Keys, RecvError};
use crate::{
    acl::{Channel, Standing},
    event::ChannelKind,
    fleet::NodeInfo,
    history::{HistoryOptions, HistoryRead, Position},
    id::Id,
    options::BrokerOptions,
    room::Room,
};
use bytes::Bytes;
use fred::{clients::SubscriberClient, prelude::*, types::scripts::Script};
use std::{collections::HashMap, sync::LazyLock, time::Duration};
use tokio::sync::broadcast;

/// Reads history after an offset (a read only: a room with no history yet answers epoch ''
/// and offset 0). KEYS[1] stream, KEYS[2] meta; ARGV after, limit.
/// Returns {epoch, newest offset, entries}.
static HISTORY_AFTER: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then return {'', 0, {}} end
local top = tonumber(redis.call('HGET', KEYS[2], 's') or '0')
local entries = {}
if tonumber(ARGV[1]) < top and tonumber(ARGV[2]) > 0 then
  entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
end
return {epoch, top, entries}
"#,
    )
});

/// KEYS[1] participants set; ARGV the participants. Returns 0 when the thread exists.
static CREATE_DM: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SADD', KEYS[1], unpack(ARGV))
return 1
"#,
    )
});

#[derive(Clone)]
pub struct RedisBroker {
    client: Client,
    keys: Keys,
    builder_config: Config,
    command_timeout: Duration,
    /// On a Redis Cluster, pub/sub is sharded (SPUBLISH/SSUBSCRIBE).
    sharded: bool,
    history: HistoryOptions,
}

/// Slots of the command client's notification channels (fred's default).
const COMMAND_BROADCAST_CAPACITY: usize = 32;
/// Pub/sub messages that may wait for the gateway's fan-out task before it lags (a lag is
/// counted there). fred allocates every slot up front, for each of its notification channels.
const SUBSCRIBER_BROADCAST_CAPACITY: usize = 8192;

fn builder(config: &Config, command_timeout: Duration, broadcast_capacity: usize) -> Builder {
    let mut builder = Builder::from_config(config.clone());
    builder
        .with_performance_config(|perf| {
            perf.default_command_timeout = command_timeout;
            perf.broadcast_channel_capacity = broadcast_capacity;
        })
        .with_connection_config(|conn| {
            conn.connection_timeout = Duration::from_secs(2);
            conn.internal_command_timeout = Duration::from_secs(2);
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 1000, 2));
    builder
}

impl RedisBroker {
    pub async fn connect(opts: &BrokerOptions) -> Result<Self, BrokerError> {
        let config = super::redis_config::from_options(opts)?;
        let command_timeout = Duration::from_millis(opts.redis_command_timeout_ms);
        let client = builder(&config, command_timeout, COMMAND_BROADCAST_CAPACITY).build()?;
        client.init().await?;
        Ok(RedisBroker {
            client,
            keys: Keys::new(&opts.redis_key_prefix),
            sharded: config.server.is_clustered(),
            builder_config: config,
            command_timeout,
            history: opts.history.clone(),
        })
    }

    pub async fn subscriber(&self) -> Result<RedisSubscriber, BrokerError> {
        let client = builder(
            &self.builder_config,
            self.command_timeout,
            SUBSCRIBER_BROADCAST_CAPACITY,
        )
        .build_subscriber_client()?;
        client.init().await?;
        Ok(RedisSubscriber {
            client,
            sharded: self.sharded,
        })
    }

    pub async fn publish(&self, room: &Room, payload: String) -> Result<Position, BrokerError> {
        match self.commit(None, &[(room.clone(), payload)]).await? {
            Committed::Done(mut positions) if positions.len() == 1 => {
                Ok(positions.pop().expect("one position"))
            }
            _ => Err(BrokerError::Corrupt {
                key: self.keys.room_history(room),
                detail: "a publication answered no position".into(),
            }),
        }
    }

    pub async fn history_after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<HistoryRead, BrokerError> {
        let call = || {
            let keys = vec![self.keys.history(room), self.keys.history_meta(room)];
            (keys, vec![after.to_string(), limit.to_string()])
        };
        let reply: Value = self.run_script(&HISTORY_AFTER, call).await?;
        let corrupt = |detail: &str| BrokerError::Corrupt {
            key: self.keys.history(room),
            detail: detail.to_owned(),
        };
        let Value::Array(mut parts) = reply else {
            return Err(corrupt("history read answered no array"));
        };
        if parts.len() != 3 {
            return Err(corrupt("history read answered the wrong shape"));
        }
        let entries = parts.pop().expect("three parts");
        let offset = parts
            .pop()
            .and_then(|v| v.as_u64())
            .ok_or_else(|| corrupt("no offset"))?;
        let epoch = parts
            .pop()
            .and_then(|v| v.into_string())
            .ok_or_else(|| corrupt("no epoch"))?;
        let events = match entries {
            Value::Array(entries) => entries
                .into_iter()
                .map(|entry| stream_entry(entry).ok_or_else(|| corrupt("unreadable entry")))
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        Ok(HistoryRead {
            top: Position { offset, epoch },
            events,
        })
    }

    pub async fn history_back(
        &self,
        room: &str,
        at_most: u64,
        count: usize,
    ) -> Result<Vec<(u64, Bytes)>, BrokerError> {
        if at_most == 0 || count == 0 {
            return Ok(Vec::new());
        }
        let entries: Value = self
            .client
            .xrevrange(
                self.keys.history(room),
                format!("{at_most}-0"),
                "-",
                Some(count as u64),
            )
            .await?;
        let Value::Array(entries) = entries else {
            return Ok(Vec::new());
        };
        entries
            .into_iter()
            .map(|entry| {
                stream_entry(entry).ok_or_else(|| BrokerError::Corrupt {
                    key: self.keys.history(room),
                    detail: "unreadable entry".into(),
                })
            })
            .collect()
    }

    pub async fn ping(&self) -> Result<(), BrokerError> {
        let _: String = self.client.ping(None).await?;
        Ok(())
    }

    pub async fn channel(&self, id: &Id) -> Result<Option<Channel>, BrokerError> {
        let key = self.keys.channel(id);
        let fields: HashMap<String, String> = self.client.hgetall(&key).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let corrupt = |detail: &str| BrokerError::Corrupt {
            key: key.clone(),
            detail: detail.to_owned(),
        };
        let kind = match fields.get("kind").map(String::as_str) {
            Some("voice") => ChannelKind::Voice,
            Some("text") | None => ChannelKind::Text,
            Some(_) => return Err(corrupt("unknown kind")),
        };
        Ok(Some(Channel {
            id: id.clone(),
            name: fields
                .get("name")
                .cloned()
                .ok_or_else(|| corrupt("no name"))?,
            kind,
            public: fields.get("public").is_some_and(|p| p == "1"),
            created_at: fields.get("created_at").cloned().unwrap_or_default(),
        }))
    }

    pub async fn standing(&self, channel: &Id, user: &Id) -> Result<Standing, BrokerError> {
        let pipeline = self.client.pipeline();
        let _: () = pipeline
            .hget(self.keys.members(channel), user.as_str())
            .await?;
        let _: () = pipeline
            .hexists(self.keys.bans(channel), user.as_str())
            .await?;
        let (role, banned): (Option<String>, bool) = pipeline.all().await?;
        let role = match role {
            None => None,
            Some(r) => Some(r.parse().map_err(|_| BrokerError::Corrupt {
                key: self.keys.members(channel),
                detail: format!("unknown role {r:?}"),
            })?),
        };
        Ok(Standing { role, banned })
    }

    pub async fn set_username(&self, user: &Id, name: &str) -> Result<(), BrokerError> {
        let _: () = self
            .client
            .hset(self.keys.usernames(), (user.as_str(), name))
            .await?;
        Ok(())
    }

    pub async fn username(&self, user: &Id) -> Result<Option<String>, BrokerError> {
        Ok(self
            .client
            .hget(self.keys.usernames(), user.as_str())
            .await?)
    }

    pub async fn message_author(
        &self,
        channel: &Id,
        message: &Id,
    ) -> Result<Option<Id>, BrokerError> {
        let author: Option<String> = self
            .client
            .hget(self.keys.messages(channel), message.as_str())
            .await?;
        Ok(author.and_then(|a| Id::parse(&a).ok()))
    }

    pub async fn create_dm(&self, id: &Id, participants: &[Id]) -> Result<bool, BrokerError> {
        let call = || {
            let args: Vec<String> = participants.iter().map(Id::to_string).collect();
            (vec![self.keys.dm_participants(id)], args)
        };
        let created: i64 = self.run_script(&CREATE_DM, call).await?;
        Ok(created == 1)
    }

    pub async fn dm_participants(&self, id: &Id) -> Result<Option<Vec<Id>>, BrokerError> {
        let members: Vec<String> = self.client.smembers(self.keys.dm_participants(id)).await?;
        if members.is_empty() {
            return Ok(None);
        }
        let mut ids: Vec<Id> = members.iter().filter_map(|m| Id::parse(m).ok()).collect();
        ids.sort();
        Ok(Some(ids))
    }

    pub async fn is_dm_participant(&self, id: &Id, user: &Id) -> Result<bool, BrokerError> {
        Ok(self
            .client
            .sismember(self.keys.dm_participants(id), user.as_str())
            .await?)
    }
}

impl RedisBroker {
    /// `SET key value EX ttl`.
    async fn set_expiring(
        &self,
        key: String,
        value: &str,
        ttl: Duration,
    ) -> Result<(), BrokerError> {
        let expiry = Some(fred::types::Expiration::EX(ttl.as_secs().max(1) as i64));
        let _: () = self.client.set(key, value, expiry, None, false).await?;
        Ok(())
    }

    pub async fn session_save(
        &self,
        id: &str,
        record: &str,
        ttl: Duration,
    ) -> Result<(), BrokerError> {
        self.set_expiring(self.keys.session(id), record, ttl).await
    }

    pub async fn session_get(&self, id: &str) -> Result<Option<String>, BrokerError> {
        Ok(self.client.get(self.keys.session(id)).await?)
    }

    pub async fn session_delete(&self, id: &str) -> Result<(), BrokerError> {
        let _: i64 = self.client.del(self.keys.session(id)).await?;
        Ok(())
    }

    pub async fn idempotency_claim(
        &self,
        key: &str,
        pending: &str,
        in_flight: Duration,
    ) -> Result<Option<String>, BrokerError> {
        let expiry = Some(fred::types::Expiration::PX(
            in_flight.as_millis().max(1) as i64
        ));
        // SET NX GET: claims the key, or answers what is there (and leaves it).
        let previous: Option<String> = self
            .client
            .set(
                self.keys.idempotency(key),
                pending,
                expiry,
                Some(fred::types::SetOptions::NX),
                true,
            )
            .await?;
        Ok(previous)
    }

    pub async fn idempotency_store(
        &self,
        key: &str,
        record: &str,
        ttl: Duration,
    ) -> Result<(), BrokerError> {
        self.set_expiring(self.keys.idempotency(key), record, ttl)
            .await
    }

    pub async fn idempotency_release(&self, key: &str) -> Result<(), BrokerError> {
        let _: i64 = self.client.del(self.keys.idempotency(key)).await?;
        Ok(())
    }

    pub async fn register_node(&self, node: &NodeInfo, ttl: Duration) -> Result<(), BrokerError> {
        let entry = serde_json::to_string(node).expect("a node entry always serializes");
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_millis() as f64);
        let pipeline = self.client.pipeline();
        let expiry = Some(fred::types::Expiration::PX(ttl.as_millis().max(1) as i64));
        let _: () = pipeline
            .set(self.keys.node(&node.id), entry, expiry, None, false)
            .await?;
        let _: () = pipeline
            .zadd(
                self.keys.nodes(),
                None,
                None,
                false,
                false,
                (now_ms, node.id.as_str()),
            )
            .await?;
        let _: ((), i64) = pipeline.all().await?;
        Ok(())
    }

    pub async fn deregister_node(&self, id: &str) -> Result<(), BrokerError> {
        let pipeline = self.client.pipeline();
        let _: () = pipeline.del(self.keys.node(id)).await?;
        let _: () = pipeline.zrem(self.keys.nodes(), id).await?;
        let _: (i64, i64) = pipeline.all().await?;
        Ok(())
    }

    pub async fn live_nodes(&self) -> Result<Vec<NodeInfo>, BrokerError> {
        let ids: Vec<String> = self
            .client
            .zrange(self.keys.nodes(), 0, -1, None, false, None, false)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.node(id)).collect();
        let entries: Vec<Option<String>> = self.client.mget(keys).await?;
        let mut live = Vec::with_capacity(ids.len());
        let mut expired = Vec::new();
        for (id, entry) in ids.into_iter().zip(entries) {
            match entry.and_then(|e| serde_json::from_str::<NodeInfo>(&e).ok()) {
                Some(node) => live.push(node),
                None => expired.push(id),
            }
        }
        if !expired.is_empty() {
            // Entries expired (the node died without leaving): tidy the index.
            let _: i64 = self.client.zrem(self.keys.nodes(), expired).await?;
        }
        live.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(live)
    }
}

impl RedisBroker {
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `script` by its hash, loading it first when Redis does not know it (after a
    /// restart or a `SCRIPT FLUSH`) and running it again. `call` gives the keys and the
    /// arguments, a second time only for that retry (fred's `Script::evalsha_with_reload`
    /// clones both lists on every call for it).
    pub(super) async fn run_script<R, V>(
        &self,
        script: &Script,
        call: impl Fn() -> (Vec<String>, V),
    ) -> Result<R, fred::error::Error>
    where
        R: FromValue,
        V: TryInto<fred::types::MultipleValues> + Send,
        V::Error: Into<fred::error::Error> + Send,
    {
        let (keys, args) = call();
        match self.client.evalsha(script.sha1().clone(), keys, args).await {
            Err(error) if error.details().starts_with("NOSCRIPT") => {
                script.load(&self.client).await?;
                let (keys, args) = call();
                self.client.evalsha(script.sha1().clone(), keys, args).await
            }
            result => result,
        }
    }

    pub(super) fn keys(&self) -> &Keys {
        &self.keys
    }

    pub(super) fn is_sharded(&self) -> bool {
        self.sharded
    }

    pub(super) fn history_options(&self) -> &HistoryOptions {
        &self.history
    }

    pub async fn publish_transient(
        &self,
        channel: &str,
        payload: String,
    ) -> Result<(), BrokerError> {
        let _: i64 = if self.sharded {
            self.client.spublish(channel, payload).await?
        } else {
            self.client.publish(channel, payload).await?
        };
        Ok(())
    }

    /// PUBLISH, or SPUBLISH on a cluster.
    pub(super) fn publish_command(&self) -> &'static str {
        if self.sharded { "SPUBLISH" } else { "PUBLISH" }
    }
}

/// One XRANGE entry `[id, [field, value]]` as (offset, payload): the id is `<offset>-0`.
fn stream_entry(entry: Value) -> Option<(u64, Bytes)> {
    let Value::Array(mut parts) = entry else {
        return None;
    };
    let Value::Array(fields) = parts.pop()? else {
        return None;
    };
    let id = parts.pop()?.into_string()?;
    let offset = id.strip_suffix("-0")?.parse().ok()?;
    let payload = fields.into_iter().nth(1)?.into_bytes()?;
    Some((offset, payload))
}

pub struct RedisSubscriber {
    client: SubscriberClient,
    sharded: bool,
}

impl RedisSubscriber {
    /// Returns once Redis has applied the subscription.
    ///
    /// Plain Redis: fred resolves SUBSCRIBE when it is written (the confirmation arrives out
    /// of band), so a PING on the same connection, which Redis answers in order, is the
    /// barrier. Cluster: SSUBSCRIBE is answered by the shard that owns the slot, one
    /// command per slot.
    pub async fn subscribe(&self, channels: &[String]) -> Result<(), BrokerError> {
        if self.sharded {
            for group in by_slot(&fan_in(channels)) {
                self.client.ssubscribe(group).await?;
            }
        } else {
            let (patterns, channels) = split_patterns(channels);
            if !channels.is_empty() {
                self.client.subscribe(channels).await?;
            }
            if !patterns.is_empty() {
                self.client.psubscribe(patterns).await?;
            }
            let _: fred::types::Value = self.client.ping(None).await?;
        }
        Ok(())
    }

    /// Plain Redis: returns once applied (the same PING barrier). Cluster: returns once sent
    /// (fred does not wait for SUNSUBSCRIBE's answer); messages that still arrive for the room
    /// find no local socket and are dropped.
    pub async fn unsubscribe(&self, channels: &[String]) -> Result<(), BrokerError> {
        if self.sharded {
            for group in by_slot(&fan_in(channels)) {
                self.client.sunsubscribe(group).await?;
            }
        } else {
            let (patterns, channels) = split_patterns(channels);
            if !channels.is_empty() {
                self.client.unsubscribe(channels).await?;
            }
            if !patterns.is_empty() {
                self.client.punsubscribe(patterns).await?;
            }
            let _: fred::types::Value = self.client.ping(None).await?;
        }
        Ok(())
    }

    pub fn messages(&self) -> RedisMessages {
        RedisMessages(self.client.message_rx())
    }

    pub fn reconnections(&self) -> broadcast::Receiver<fred::types::config::Server> {
        self.client.reconnect_rx()
    }
}

/// Splits subscription names into patterns ([`super::ALL_PRESENCE`]) and plain channels.
fn split_patterns(names: &[String]) -> (Vec<String>, Vec<String>) {
    names
        .iter()
        .cloned()
        .partition(|n| n == super::ALL_PRESENCE)
}

/// On a cluster, [`super::ALL_PRESENCE`] is subscribed as [`super::PRESENCE_FAN_IN`].
fn fan_in(channels: &[String]) -> Vec<String> {
    channels
        .iter()
        .map(|c| match c.as_str() {
            super::ALL_PRESENCE => super::PRESENCE_FAN_IN.to_owned(),
            _ => c.clone(),
        })
        .collect()
}

/// Channels grouped by cluster hash slot (a sharded command may only name one slot).
fn by_slot(channels: &[String]) -> Vec<Vec<String>> {
    let mut groups: std::collections::BTreeMap<u16, Vec<String>> = Default::default();
    for channel in channels {
        groups
            .entry(fred::util::redis_keyslot(channel.as_bytes()))
            .or_default()
            .push(channel.clone());
    }
    groups.into_values().collect()
}

pub struct RedisMessages(broadcast::Receiver<fred::types::Message>);

impl RedisMessages {
    pub fn backlog(&self) -> usize {
        self.0.len()
    }

    pub async fn recv(&mut self) -> Result<BrokerMessage, RecvError> {
        loop {
            match self.0.recv().await {
                Ok(message) => {
                    // A payload that is not a string or bytes is not ours; skip it.
                    let Some(payload) = message.value.into_bytes() else {
                        continue;
                    };
                    let channel = message.channel.into_inner();
                    // The fan-in's `<room>\n<payload>` is delivered as the pattern's would be.
                    // (Without the newline it stays on the fan-in channel, which is no room:
                    // the fan-out counts and logs it as unroutable.)
                    if channel == super::PRESENCE_FAN_IN.as_bytes()
                        && let Some(split) = payload.iter().position(|&b| b == b'\n')
                    {
                        return Ok(BrokerMessage {
                            channel: payload.slice(..split),
                            payload: payload.slice(split + 1..),
                            via_pattern: true,
                        });
                    }
                    return Ok(BrokerMessage {
                        channel,
                        payload,
                        via_pattern: message.kind == fred::types::MessageKind::PMessage,
                    });
                }
                Err(broadcast::error::RecvError::Lagged(n)) => return Err(RecvError::Lagged(n)),
                Err(broadcast::error::RecvError::Closed) => return Err(RecvError::Closed),
            }
        }
    }
}
