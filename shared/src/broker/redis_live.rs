//! Live maps on Redis (see `crate::live`): two Lua scripts, one to apply a change and one to
//! commit the aggregate, each touching only the room's own hash slot; and the incarnation
//! leases, renewed and claimed by two more scripts on the `{live}` slot.

use super::{BrokerError, redis::RedisBroker};
use crate::live::{LeaseOp, LiveKind, LiveSnapshot, now_ms};
use fred::{prelude::*, types::scripts::Script};
use std::{sync::LazyLock, time::Duration};

/// KEYS entries, version. ARGV op, op arguments ('set' field value | 'remove' field |
/// 'sweep' incarnation). Returns {version, entries...}, or {-1, entry count} when nothing
/// changed.
static APPLY: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local op = ARGV[1]
local changed = false
if op == 'set' then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  changed = true
elseif op == 'remove' then
  changed = redis.call('HDEL', KEYS[1], ARGV[2]) == 1
elseif op == 'sweep' then
  local prefix = ARGV[2] .. '|'
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(field, 1, #prefix) == prefix then
      redis.call('HDEL', KEYS[1], field)
      changed = true
    end
  end
end
if not changed then return {-1, redis.call('HLEN', KEYS[1])} end
local reply = {redis.call('INCR', KEYS[2])}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries do reply[i + 1] = entries[i] end
return reply
"#,
    )
});

/// KEYS version, current. ARGV version, canonical ('' = nothing), channel, payload ('' = none),
/// publish command. Returns 1 when it stored and published.
static COMMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local current = redis.call('GET', KEYS[2]) or ''
if current == ARGV[2] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], ARGV[2]) end
if ARGV[4] ~= '' then redis.call(ARGV[5], ARGV[3], ARGV[4]) end
return 1
"#,
    )
});

/// KEYS nodes, dead. ARGV incarnation, now, ttl, known ('1': it renewed before). Renews the
/// incarnation's lease; returns 0 instead when a sweep claimed it, or when a known
/// incarnation is gone (a sweep finished with it): its entries may be gone.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
if ARGV[4] == '1' and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return 1
"#,
    )
});

/// KEYS nodes, dead. ARGV now, ttl, limit. Claims up to `limit` incarnations whose lease
/// lapsed: marks them dead (their renewals now fail) and leases them to the sweeper for a
/// ttl, so that a sweeper that dies is followed by another. Returns them.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local now = tonumber(ARGV[1])
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, incarnation in ipairs(lapsed) do
  redis.call('SADD', KEYS[2], incarnation)
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), incarnation)
end
return lapsed
"#,
    )
});

impl RedisBroker {
    pub async fn live_apply(&self, room: &str, op: &LeaseOp) -> Result<LiveSnapshot, BrokerError> {
        let call = || {
            let keys = self.keys().live(room);
            let args = match op {
                LeaseOp::Set { field, value } => vec!["set".into(), field.clone(), value.clone()],
                LeaseOp::Remove { field } => vec!["remove".into(), field.clone()],
                LeaseOp::Sweep { dead } => vec!["sweep".into(), dead.clone()],
            };
            (vec![keys.entries, keys.version], args)
        };
        let reply: Vec<fred::types::Value> = self.run_script(&APPLY, call).await?;
        let mut reply = reply.into_iter();
        let version = reply.next().and_then(|v| v.as_i64()).unwrap_or(-1);
        if version < 0 {
            let live_entries = reply.next().and_then(|v| v.as_i64()).unwrap_or(0) as usize;
            return Ok(LiveSnapshot {
                live_entries,
                ..LiveSnapshot::default()
            });
        }
        let strings: Vec<String> = reply.filter_map(|v| v.into_string()).collect();
        let entries: Vec<(String, String)> = strings
            .chunks_exact(2)
            .map(|kv| (kv[0].clone(), kv[1].clone()))
            .collect();
        Ok(LiveSnapshot {
            version: version as u64,
            live_entries: entries.len(),
            entries,
            changed: true,
        })
    }

    pub async fn live_commit(
        &self,
        room: &str,
        version: u64,
        canonical: &str,
        payload: Option<&str>,
    ) -> Result<bool, BrokerError> {
        let call = || {
            let keys = self.keys().live(room);
            let args = vec![
                version.to_string(),
                canonical.to_owned(),
                room.to_owned(),
                payload.unwrap_or_default().to_owned(),
                self.publish_command().to_owned(),
            ];
            (vec![keys.version, keys.current], args)
        };
        let stored: i64 = self.run_script(&COMMIT, call).await?;
        if stored == 1
            && self.is_sharded()
            && room.starts_with("presence:")
            && let Some(payload) = payload
        {
            // The fan-in for followers of everyone (another slot: its own step). If it fails,
            // they miss this change until the user's next one; the room's own copy is out.
            let copy = format!("{room}\n{payload}");
            if let Err(error) = self
                .client()
                .spublish::<i64, _, _>(super::PRESENCE_FAN_IN, copy)
                .await
            {
                tracing::warn!(%error, room, "publishing a presence change to the fan-in failed");
            }
        }
        Ok(stored == 1)
    }

    pub async fn live_renew(
        &self,
        incarnation: &str,
        ttl: Duration,
        known: bool,
    ) -> Result<bool, BrokerError> {
        let call = || {
            let args = vec![
                incarnation.to_owned(),
                now_ms().to_string(),
                ttl.as_millis().to_string(),
                if known { "1" } else { "0" }.to_owned(),
            ];
            (self.keys().live_nodes().to_vec(), args)
        };
        let renewed: i64 = self.run_script(&RENEW, call).await?;
        Ok(renewed == 1)
    }

    pub async fn live_claim(
        &self,
        ttl: Duration,
        limit: usize,
    ) -> Result<Vec<String>, BrokerError> {
        let call = || {
            let args = vec![
                now_ms().to_string(),
                ttl.as_millis().to_string(),
                limit.to_string(),
            ];
            (self.keys().live_nodes().to_vec(), args)
        };
        Ok(self.run_script(&CLAIM, call).await?)
    }

    pub async fn live_extend_claim(
        &self,
        incarnation: &str,
        ttl: Duration,
    ) -> Result<(), BrokerError> {
        let [nodes, _] = self.keys().live_nodes();
        let until = (now_ms() + ttl.as_millis() as u64) as f64;
        let only_existing = Some(fred::types::SetOptions::XX);
        let _: i64 = self
            .client()
            .zadd(
                nodes,
                only_existing,
                None,
                false,
                false,
                (until, incarnation),
            )
            .await?;
        Ok(())
    }

    pub async fn live_buried(&self, incarnation: &str) -> Result<(), BrokerError> {
        let _: i64 = self
            .client()
            .del(self.keys().live_held(incarnation))
            .await?;
        let [nodes, dead] = self.keys().live_nodes();
        let _: i64 = self.client().zrem(nodes, incarnation).await?;
        let _: i64 = self.client().srem(dead, incarnation).await?;
        Ok(())
    }

    pub async fn live_hold(&self, incarnation: &str, room: &str) -> Result<(), BrokerError> {
        let _: i64 = self
            .client()
            .sadd(self.keys().live_held(incarnation), room)
            .await?;
        Ok(())
    }

    pub async fn live_unhold(&self, incarnation: &str, room: &str) -> Result<(), BrokerError> {
        let _: i64 = self
            .client()
            .srem(self.keys().live_held(incarnation), room)
            .await?;
        Ok(())
    }

    pub async fn live_held(&self, incarnation: &str) -> Result<Vec<String>, BrokerError> {
        Ok(self
            .client()
            .smembers(self.keys().live_held(incarnation))
            .await?)
    }

    pub async fn live_current(&self, rooms: &[String]) -> Result<Vec<Option<String>>, BrokerError> {
        // One GET each: on a cluster the keys live in different slots.
        let pipeline = self.client().pipeline();
        for room in rooms {
            let _: () = pipeline.get(self.keys().live(room).current).await?;
        }
        let values: Vec<Option<String>> = if rooms.is_empty() {
            Vec::new()
        } else {
            pipeline.all().await?
        };
        Ok(values)
    }

    pub async fn live_index(&self, kind: LiveKind, rooms: &[String]) -> Result<(), BrokerError> {
        if rooms.is_empty() {
            return Ok(());
        }
        let now = now_ms() as f64;
        let members: Vec<(f64, String)> = rooms.iter().map(|r| (now, r.clone())).collect();
        let _: i64 = self
            .client()
            .zadd(
                self.keys().live_index(kind),
                None,
                None,
                false,
                false,
                members,
            )
            .await?;
        Ok(())
    }

    pub async fn live_unindex(&self, kind: LiveKind, room: &str) -> Result<(), BrokerError> {
        let _: i64 = self
            .client()
            .zrem(self.keys().live_index(kind), room)
            .await?;
        Ok(())
    }

    pub async fn live_indexed(
        &self,
        kind: LiveKind,
        limit: usize,
    ) -> Result<Vec<String>, BrokerError> {
        Ok(self
            .client()
            .zrange(
                self.keys().live_index(kind),
                0,
                limit as i64 - 1,
                None,
                false,
                None,
                false,
            )
            .await?)
    }
}
