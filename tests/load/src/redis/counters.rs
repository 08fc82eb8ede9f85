//! Redis' own counters, read before and after a phase: calls per command
//! (`INFO commandstats`), all commands (`INFO stats`), and subscribers per pub/sub channel
//! (`PUBSUB NUMSUB`; each gateway node holds one subscriber connection, so this is the number
//! of nodes subscribed to a room).

use super::{Reply, RespConn};
use anyhow::bail;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Commands this tool sends itself while measuring; left out of per-event figures.
const OWN_COMMANDS: &[&str] = &["info", "pubsub|numsub"];

/// Connections to every Redis server of the system (one, or each master of a cluster).
pub struct RedisCounters {
    conns: Vec<RespConn>,
}

/// Calls per command and in total at one moment.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CommandCounts {
    pub per_command: BTreeMap<String, u64>,
    pub total_commands_processed: u64,
}

impl RedisCounters {
    pub async fn connect(addrs: &[SocketAddr]) -> anyhow::Result<RedisCounters> {
        let mut conns = Vec::with_capacity(addrs.len());
        for addr in addrs {
            conns.push(RespConn::connect(*addr).await?);
        }
        Ok(RedisCounters { conns })
    }

    /// Calls per command, summed over the servers.
    pub async fn commands(&mut self) -> anyhow::Result<CommandCounts> {
        let mut counts = CommandCounts::default();
        for conn in &mut self.conns {
            let stats = conn.text(&[b"INFO", b"commandstats"]).await?;
            for line in stats.lines().filter_map(|l| l.strip_prefix("cmdstat_")) {
                let calls = line.split_once(':').and_then(|(name, fields)| {
                    let calls = fields.strip_prefix("calls=")?.split(',').next()?;
                    Some((name.to_owned(), calls.parse::<u64>().ok()?))
                });
                if let Some((name, calls)) = calls {
                    *counts.per_command.entry(name).or_default() += calls;
                }
            }
            let info = conn.text(&[b"INFO", b"stats"]).await?;
            counts.total_commands_processed += info_field(&info, "total_commands_processed");
        }
        Ok(counts)
    }

    /// Memory the servers use for data (`used_memory`), summed.
    pub async fn used_memory_bytes(&mut self) -> anyhow::Result<u64> {
        let mut total = 0;
        for conn in &mut self.conns {
            total += info_field(&conn.text(&[b"INFO", b"memory"]).await?, "used_memory");
        }
        Ok(total)
    }

    /// `PUBSUB NUMSUB` for each room, in order, on the first server: right for one Redis;
    /// on a cluster the gateways subscribe with `SSUBSCRIBE`, which this does not count.
    pub async fn numsub(&mut self, rooms: &[String]) -> anyhow::Result<Vec<u64>> {
        let mut counts = Vec::with_capacity(rooms.len());
        for chunk in rooms.chunks(1000) {
            let mut args: Vec<&[u8]> = vec![b"PUBSUB", b"NUMSUB"];
            args.extend(chunk.iter().map(|r| r.as_bytes()));
            let Reply::Array(items) = self.conns[0].command(&args).await? else {
                bail!("PUBSUB NUMSUB did not answer an array");
            };
            counts.extend(items.iter().skip(1).step_by(2).map(|item| match item {
                Reply::Int(n) => *n as u64,
                _ => 0,
            }));
        }
        Ok(counts)
    }
}

impl CommandCounts {
    /// Calls per command between `self` (before) and `after`, without this tool's own queries.
    pub fn delta(&self, after: &CommandCounts) -> BTreeMap<String, u64> {
        after
            .per_command
            .iter()
            .filter(|(name, _)| !OWN_COMMANDS.contains(&name.as_str()))
            .map(|(name, calls)| {
                let before = self.per_command.get(name).copied().unwrap_or(0);
                (name.clone(), calls - before)
            })
            .filter(|(_, calls)| *calls > 0)
            .collect()
    }
}

/// A numeric `field:value` line of an `INFO` answer (0 when missing).
fn info_field(info: &str, field: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
