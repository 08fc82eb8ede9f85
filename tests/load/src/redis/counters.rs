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

pub struct RedisCounters {
    conn: RespConn,
}

/// Calls per command and in total at one moment.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CommandCounts {
    pub per_command: BTreeMap<String, u64>,
    pub total_commands_processed: u64,
}

impl RedisCounters {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<RedisCounters> {
        Ok(RedisCounters {
            conn: RespConn::connect(addr).await?,
        })
    }

    pub async fn commands(&mut self) -> anyhow::Result<CommandCounts> {
        let stats = self.conn.text(&[b"INFO", b"commandstats"]).await?;
        let per_command = stats
            .lines()
            .filter_map(|l| l.strip_prefix("cmdstat_"))
            .filter_map(|l| {
                let (name, fields) = l.split_once(':')?;
                let calls = fields.strip_prefix("calls=")?.split(',').next()?;
                Some((name.to_owned(), calls.parse().ok()?))
            })
            .collect();
        let info = self.conn.text(&[b"INFO", b"stats"]).await?;
        let total_commands_processed = info
            .lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        Ok(CommandCounts {
            per_command,
            total_commands_processed,
        })
    }

    /// `PUBSUB NUMSUB` for each room, in order.
    pub async fn numsub(&mut self, rooms: &[String]) -> anyhow::Result<Vec<u64>> {
        let mut counts = Vec::with_capacity(rooms.len());
        for chunk in rooms.chunks(1000) {
            let mut args: Vec<&[u8]> = vec![b"PUBSUB", b"NUMSUB"];
            args.extend(chunk.iter().map(|r| r.as_bytes()));
            let Reply::Array(items) = self.conn.command(&args).await? else {
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
