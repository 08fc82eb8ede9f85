//! The Redis side of [`super::Broker::commit`] and of plain publication: one Lua script that
//! checks the change's conditions, appends each publication to its room's history and publishes
//! it, then writes the change. A [`Change`] is turned into key operations here.
//!
//! Every key one script touches must share a hash slot on a Redis Cluster: a channel's state
//! keys carry the hash tag `{channel:<id>}`, the slot of the channel's room, its history and
//! its sharded pub/sub channel. A publication on another room (`global` for a new channel,
//! `user:<id>` for the personal copy of a moderation event) cannot join that step on a
//! cluster; it is published right after, in its own step.

use super::{
    BrokerError, Keys,
    change::{Change, Committed, Refusal},
};
use crate::{history::Position, id::Id, room::Room};
use fred::{prelude::*, types::scripts::Script};
use std::sync::LazyLock;

/// KEYS: each publication's stream and meta (two per publication), then the change's keys.
/// ARGV: maxlen, ttl, publish command, publication count; per publication: channel, payload
/// (a JSON object), a fresh epoch; then the conditions (count; each: kind, key index, field,
/// value: the value a `field-equals` condition wants, else empty);
/// then the writes (count; each: op, key index, argument count, arguments).
///
/// A publication: a room whose meta hash is missing, or whose stream was lost while the meta
/// says events were written, starts a new epoch (the fresh one given) from offset 0; the next
/// offset and the epoch are spliced into the payload, stored as stream entry `<offset>-0` and
/// published. Returns `{offset, epoch, ...}` per publication, or the number (from 1) of the
/// first condition that failed (nothing written).
static COMMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local maxlen, ttl, cmd, npub = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local a = 5 + npub * 3
local nc = tonumber(ARGV[a])
for c = 0, nc - 1 do
  local kind, gk, gf = ARGV[a + 1 + c * 4], tonumber(ARGV[a + 2 + c * 4]), ARGV[a + 3 + c * 4]
  local holds
  if kind == 'absent-field' then holds = redis.call('HEXISTS', KEYS[gk], gf) == 0
  elseif kind == 'present-field' then holds = redis.call('HEXISTS', KEYS[gk], gf) == 1
  elseif kind == 'field-equals' then holds = redis.call('HGET', KEYS[gk], gf) == ARGV[a + 4 + c * 4]
  elseif kind == 'absent-key' then holds = redis.call('EXISTS', KEYS[gk]) == 0
  elseif kind == 'present-key' then holds = redis.call('EXISTS', KEYS[gk]) == 1
  else return redis.error_reply('unknown condition ' .. kind) end
  if not holds then return c + 1 end
end
local positions = {}
for i = 0, npub - 1 do
  local stream, meta = KEYS[i * 2 + 1], KEYS[i * 2 + 2]
  local channel, payload, fresh = ARGV[5 + i * 3], ARGV[6 + i * 3], ARGV[7 + i * 3]
  local epoch = redis.call('HGET', meta, 'e')
  if not epoch or (redis.call('EXISTS', stream) == 0 and tonumber(redis.call('HGET', meta, 's') or '0') > 0) then
    epoch = fresh
    redis.call('DEL', stream)
    redis.call('HSET', meta, 'e', epoch, 's', 0)
  end
  local offset = redis.call('HINCRBY', meta, 's', 1)
  local body = string.sub(payload, 1, -2) .. ',"offset":' .. offset .. ',"epoch":"' .. epoch .. '"}'
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, offset .. '-0', 'e', body)
  redis.call('EXPIRE', stream, ttl)
  redis.call('EXPIRE', meta, ttl)
  redis.call(cmd, channel, body)
  positions[#positions + 1] = offset
  positions[#positions + 1] = epoch
end
local w = a + 1 + nc * 4
local nw = tonumber(ARGV[w])
w = w + 1
for _ = 1, nw do
  local op, key, argc = ARGV[w], KEYS[tonumber(ARGV[w + 1])], tonumber(ARGV[w + 2])
  local args = {}
  for j = 1, argc do args[j] = ARGV[w + 2 + j] end
  if op == 'HSET' then redis.call('HSET', key, unpack(args))
  elseif op == 'HDEL' then redis.call('HDEL', key, unpack(args))
  elseif op == 'DEL' then redis.call('DEL', key) end
  w = w + 3 + argc
end
return positions
"#,
    )
});

/// A change as key operations: the keys, the conditions (all must hold, checked in order),
/// the writes (key indexes count from 0 within `keys`).
struct Plan {
    keys: Vec<String>,
    conditions: Vec<Condition>,
    writes: Vec<(&'static str, usize, Vec<String>)>,
}

/// One condition of a change, with the refusal it stands for.
struct Condition {
    kind: &'static str,
    key: usize,
    field: String,
    /// The value a `field-equals` condition wants.
    value: String,
    refusal: Refusal,
}

fn when(kind: &'static str, key: usize, field: impl ToString, refusal: Refusal) -> Condition {
    Condition {
        kind,
        key,
        field: field.to_string(),
        value: String::new(),
        refusal,
    }
}

fn plan(change: &Change, keys: &Keys) -> Plan {
    let s = |v: &dyn ToString| v.to_string();
    match change {
        Change::CreateChannel { channel, owner } => {
            let mut writes = vec![("HSET", 0, channel_fields(channel))];
            if let Some(owner) = owner {
                writes.push(("HSET", 1, vec![s(owner), "owner".into()]));
            }
            Plan {
                keys: vec![keys.channel(&channel.id), keys.members(&channel.id)],
                conditions: vec![when("absent-key", 0, "", Refusal::Taken)],
                writes,
            }
        }
        Change::UpdateChannel(channel) => Plan {
            keys: vec![keys.channel(&channel.id)],
            // Not a deleted channel brought back (without members) by a racing update.
            conditions: vec![when("present-key", 0, "", Refusal::NoChannel)],
            writes: vec![("HSET", 0, channel_fields(channel))],
        },
        Change::DeleteChannel(id) => {
            let room = format!("channel:{id}");
            let all = vec![
                keys.channel(id),
                keys.members(id),
                keys.bans(id),
                keys.messages(id),
                keys.history(&room),
                keys.history_meta(&room),
            ];
            Plan {
                writes: (0..all.len()).map(|i| ("DEL", i, Vec::new())).collect(),
                keys: all,
                conditions: Vec::new(),
            }
        }
        Change::RecordMessage {
            channel,
            message,
            author,
            parent,
            as_member,
        } => {
            // Checked here, not in the handler: a post races a deletion, a ban or a kick in
            // this step, and a post costs one Redis call.
            let mut record = Plan {
                keys: vec![keys.messages(channel), keys.channel(channel)],
                conditions: vec![when("present-key", 1, "", Refusal::NoChannel)],
                writes: vec![("HSET", 0, vec![s(message), s(author)])],
            };
            if *as_member {
                record
                    .keys
                    .extend([keys.bans(channel), keys.members(channel)]);
                record.conditions.extend([
                    when("absent-field", 2, author, Refusal::Banned),
                    when("present-field", 3, author, Refusal::NotMember),
                ]);
            }
            if let Some(parent) = parent {
                record
                    .conditions
                    .push(when("present-field", 0, parent, Refusal::NoMessage));
            }
            record
                .conditions
                .push(when("absent-field", 0, message, Refusal::Taken));
            record
        }
        Change::EditMessage {
            channel,
            message,
            editor,
        } => by_author(keys, channel, message, editor.as_ref()),
        Change::ForgetMessage {
            channel,
            message,
            author,
        } => Plan {
            writes: vec![("HDEL", 0, vec![s(message)])],
            ..by_author(keys, channel, message, author.as_ref())
        },
        Change::SetMember {
            channel,
            user,
            role,
            existing,
        } => Plan {
            // Not a deleted channel's members brought back by a racing join, nor a kicked
            // member by a racing role change, nor a banned user let in by a racing join, nor
            // one join announced twice.
            keys: vec![
                keys.members(channel),
                keys.channel(channel),
                keys.bans(channel),
            ],
            conditions: match existing {
                true => vec![
                    when("present-key", 1, "", Refusal::NoChannel),
                    when("absent-field", 2, user, Refusal::Banned),
                    when("present-field", 0, user, Refusal::NotMember),
                ],
                false => vec![
                    when("present-key", 1, "", Refusal::NoChannel),
                    when("absent-field", 2, user, Refusal::Banned),
                    when("absent-field", 0, user, Refusal::AlreadyMember),
                ],
            },
            writes: vec![("HSET", 0, vec![s(user), role.as_str().into()])],
        },
        Change::RemoveMember { channel, user } => Plan {
            keys: vec![keys.members(channel)],
            conditions: vec![when("present-field", 0, user, Refusal::NotMember)],
            writes: vec![("HDEL", 0, vec![s(user)])],
        },
        Change::Ban { channel, user } => Plan {
            keys: vec![
                keys.bans(channel),
                keys.members(channel),
                keys.channel(channel),
            ],
            conditions: vec![when("present-key", 2, "", Refusal::NoChannel)],
            writes: vec![
                ("HDEL", 1, vec![s(user)]),
                ("HSET", 0, vec![s(user), "1".into()]),
            ],
        },
        Change::Unban { channel, user } => Plan {
            keys: vec![keys.bans(channel)],
            conditions: vec![when("present-field", 0, user, Refusal::NotBanned)],
            writes: vec![("HDEL", 0, vec![s(user)])],
        },
    }
}

/// The conditions of acting on a message of `channel`, with `by` a user who must be an
/// unbanned member and its author (see [`Change::EditMessage`]); no writes.
fn by_author(keys: &Keys, channel: &Id, message: &Id, by: Option<&Id>) -> Plan {
    let mut plan = Plan {
        keys: vec![keys.messages(channel), keys.channel(channel)],
        conditions: vec![when("present-key", 1, "", Refusal::NoChannel)],
        writes: Vec::new(),
    };
    if let Some(user) = by {
        plan.keys
            .extend([keys.bans(channel), keys.members(channel)]);
        plan.conditions.extend([
            when("absent-field", 2, user, Refusal::Banned),
            when("present-field", 3, user, Refusal::NotMember),
        ]);
    }
    plan.conditions
        .push(when("present-field", 0, message, Refusal::NoMessage));
    if let Some(user) = by {
        plan.conditions.push(Condition {
            value: user.to_string(),
            ..when("field-equals", 0, message, Refusal::NotAuthor)
        });
    }
    plan
}

fn channel_fields(channel: &crate::acl::Channel) -> Vec<String> {
    let kind = match channel.kind {
        crate::event::ChannelKind::Text => "text",
        crate::event::ChannelKind::Voice => "voice",
    };
    vec![
        "name".into(),
        channel.name.clone(),
        "kind".into(),
        kind.into(),
        "public".into(),
        if channel.public { "1" } else { "0" }.into(),
        "created_at".into(),
        channel.created_at.clone(),
    ]
}

impl super::redis::RedisBroker {
    /// Commits `change` (if any) with `publications`, in one step where the keys allow it.
    pub async fn commit(
        &self,
        change: Option<&Change>,
        publications: &[(Room, String)],
    ) -> Result<Committed, BrokerError> {
        let plan = change.map(|c| plan(c, self.keys()));
        if !self.is_sharded() {
            return self.run(plan.as_ref(), publications).await;
        }
        // A cluster: only keys of one slot go together. The publications on the change's own
        // room join it; the others follow, each in its own step.
        let slot_of = |key: &str| fred::util::redis_keyslot(key.as_bytes());
        let home = plan
            .as_ref()
            .and_then(|p| p.keys.first())
            .map(|k| slot_of(k));
        let (mut together, mut after) = (Vec::new(), Vec::new());
        for (i, publication) in publications.iter().enumerate() {
            let slot = slot_of(&self.keys().room_history(&publication.0));
            let joins = match home {
                Some(home) => slot == home,
                None => together.is_empty(),
            };
            if joins {
                together.push((i, publication.clone()));
            } else {
                after.push((i, publication.clone()));
            }
        }
        let first: Vec<(Room, String)> = together.iter().map(|(_, p)| p.clone()).collect();
        let positions = match self.run(plan.as_ref(), &first).await? {
            Committed::Done(positions) => positions,
            refused @ Committed::Refused(_) => return Ok(refused),
        };
        let mut ordered: Vec<Option<Position>> = vec![None; publications.len()];
        for ((i, _), position) in together.iter().zip(positions) {
            ordered[*i] = Some(position);
        }
        for (i, publication) in after {
            if let Committed::Done(mut more) = self.run(None, &[publication]).await? {
                ordered[i] = more.pop();
            }
        }
        Ok(Committed::Done(ordered.into_iter().flatten().collect()))
    }

    async fn run(
        &self,
        plan: Option<&Plan>,
        publications: &[(Room, String)],
    ) -> Result<Committed, BrokerError> {
        let reply: Value = self
            .run_script(&COMMIT, || self.script_call(plan, publications))
            .await?;
        let conditions = plan.map_or(&[][..], |p| &p.conditions[..]);
        match reply {
            Value::Integer(failed) => {
                let refusal = usize::try_from(failed - 1)
                    .ok()
                    .and_then(|i| conditions.get(i))
                    .map(|condition| condition.refusal);
                refusal
                    .map(Committed::Refused)
                    .ok_or_else(|| BrokerError::Corrupt {
                        key: "commit".into(),
                        detail: format!("no condition {failed}"),
                    })
            }
            Value::Array(parts) => {
                let corrupt = || BrokerError::Corrupt {
                    key: "commit".into(),
                    detail: "unexpected reply".into(),
                };
                let mut positions = Vec::new();
                for pair in parts.chunks(2) {
                    let [offset, epoch] = pair else {
                        return Err(corrupt());
                    };
                    positions.push(Position {
                        offset: offset.as_u64().ok_or_else(corrupt)?,
                        epoch: epoch.clone().into_string().ok_or_else(corrupt)?,
                    });
                }
                Ok(Committed::Done(positions))
            }
            _ => Err(BrokerError::Corrupt {
                key: "commit".into(),
                detail: "unexpected reply".into(),
            }),
        }
    }

    /// The commit script's keys and arguments (see [`COMMIT`]). Numbers and fixed words go
    /// as such, not as strings: fred writes them without allocating.
    fn script_call(
        &self,
        plan: Option<&Plan>,
        publications: &[(Room, String)],
    ) -> (Vec<String>, Vec<Value>) {
        let keys = self.keys();
        let history = &self.history_options();
        let conditions = plan.map_or(&[][..], |p| &p.conditions[..]);
        let writes = plan.map_or(&[][..], |p| &p.writes[..]);
        let plan_keys = plan.map_or(&[][..], |p| &p.keys[..]);
        let count = |n: usize| Value::Integer(n as i64);
        let word = Value::from_static_str;
        let mut all_keys = Vec::with_capacity(publications.len() * 2 + plan_keys.len());
        let mut args = Vec::with_capacity(
            6 + publications.len() * 3
                + conditions.len() * 4
                + writes.iter().map(|(_, _, a)| 3 + a.len()).sum::<usize>(),
        );
        args.extend([
            Value::Integer(history.history_max_len as i64),
            Value::Integer(history.history_ttl_secs as i64),
            word(self.publish_command()),
            count(publications.len()),
        ]);
        for (room, payload) in publications {
            all_keys.push(keys.room_history(room));
            all_keys.push(keys.history_meta(&room.to_string()));
            args.extend([
                room.to_string().into(),
                payload.as_str().into(),
                crate::history::new_epoch().into(),
            ]);
        }
        let base = all_keys.len() + 1; // Lua counts from 1
        args.push(count(conditions.len()));
        for condition in conditions {
            args.extend([
                word(condition.kind),
                count(base + condition.key),
                condition.field.as_str().into(),
                condition.value.as_str().into(),
            ]);
        }
        args.push(count(writes.len()));
        for (op, key, op_args) in writes {
            args.extend([word(op), count(base + key), count(op_args.len())]);
            args.extend(op_args.iter().map(|a| Value::from(a.as_str())));
        }
        all_keys.extend(plan_keys.iter().cloned());
        (all_keys, args)
    }
}
