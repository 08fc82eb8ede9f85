//! Live maps on Redis (see `crate::live`): two Lua scripts, one to apply a change and one to
//! commit the aggregate, each touching only the room's own hash slot.

use super::{BrokerError, redis::RedisBroker};
use crate::live::{LeaseOp, LiveKind, LiveSnapshot, now_ms};
use fred::{prelude::*, types::scripts::Script};
use std::{sync::LazyLock, time::Duration};

/// KEYS entries, expiries, version, current. ARGV now, ttl, op, op arguments.
/// Returns {version, entries...}, or {-1, entry count} when a touch or sweep changed nothing.
static APPLY: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local op = ARGV[3]
local changed = false
if op == 'set' then
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
  redis.call('HSET', KEYS[2], ARGV[4], now + ttl)
  changed = true
elseif op == 'remove' then
  changed = redis.call('HDEL', KEYS[1], ARGV[4]) == 1
  redis.call('HDEL', KEYS[2], ARGV[4])
elseif op == 'touch' then
  for i = 4, #ARGV do
    if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then redis.call('HSET', KEYS[2], ARGV[i], now + ttl) end
  end
end
local leases = redis.call('HGETALL', KEYS[2])
for i = 1, #leases, 2 do
  if tonumber(leases[i + 1]) <= now then
    redis.call('HDEL', KEYS[1], leases[i])
    redis.call('HDEL', KEYS[2], leases[i])
    changed = true
  end
end
local version = -1
if changed then version = redis.call('INCR', KEYS[3]) end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl * 4) end
if not changed then return {-1, redis.call('HLEN', KEYS[1])} end
local reply = {version}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries do reply[i + 1] = entries[i] end
return reply
"#,
    )
});

/// KEYS version, current. ARGV version, canonical ('' = nothing), channel, payload ('' = none),
/// publish command, key ttl. Returns 1 when it stored and published.
static COMMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local current = redis.call('GET', KEYS[2]) or ''
if current == ARGV[2] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[6]) end
if ARGV[4] ~= '' then redis.call(ARGV[5], ARGV[3], ARGV[4]) end
return 1
"#,
    )
});

impl RedisBroker {
    pub async fn live_apply(
        &self,
        room: &str,
        op: &LeaseOp,
        ttl: Duration,
    ) -> Result<LiveSnapshot, BrokerError> {
        let keys = self.keys().live(room);
        let mut args = vec![now_ms().to_string(), ttl.as_millis().to_string()];
        match op {
            LeaseOp::Set { field, value } => {
                args.extend(["set".into(), field.clone(), value.clone()])
            }
            LeaseOp::Remove { field } => args.extend(["remove".into(), field.clone()]),
            LeaseOp::Touch { fields } => {
                args.push("touch".into());
                args.extend(fields.iter().cloned());
            }
            LeaseOp::Sweep => args.push("sweep".into()),
        }
        let reply: Vec<fred::types::Value> = APPLY
            .evalsha_with_reload(
                self.client(),
                vec![keys.entries, keys.expiries, keys.version, keys.current],
                args,
            )
            .await?;
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
        ttl: Duration,
    ) -> Result<bool, BrokerError> {
        let keys = self.keys().live(room);
        let args = vec![
            version.to_string(),
            canonical.to_owned(),
            room.to_owned(),
            payload.unwrap_or_default().to_owned(),
            self.publish_command().to_owned(),
            (ttl.as_millis() * 4).to_string(),
        ];
        let stored: i64 = COMMIT
            .evalsha_with_reload(self.client(), vec![keys.version, keys.current], args)
            .await?;
        Ok(stored == 1)
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

    pub async fn live_stale(
        &self,
        kind: LiveKind,
        older_than: Duration,
        limit: usize,
    ) -> Result<Vec<String>, BrokerError> {
        let before = now_ms().saturating_sub(older_than.as_millis() as u64) as f64;
        let limit = Some((0, limit as i64));
        Ok(self
            .client()
            .zrangebyscore(
                self.keys().live_index(kind),
                f64::NEG_INFINITY,
                before,
                false,
                limit,
            )
            .await?)
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
