//! Live maps in the in-process broker: the same contract as the Redis scripts.

use super::{BrokerError, memory::MemoryBroker};
use crate::live::{LeaseOp, LiveKind, LiveSnapshot, now_ms};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::Duration,
};

/// One room's live map: session → entry.
#[derive(Default)]
pub struct LiveMap {
    entries: BTreeMap<String, String>,
    version: u64,
    current: Option<String>,
}

/// The incarnation leases (expiry in ms), the ones claimed by a sweep, and the rooms each
/// holds entries in.
#[derive(Default)]
pub struct Incarnations {
    leases: HashMap<String, u64>,
    dead: HashSet<String>,
    held: HashMap<String, HashSet<String>>,
}

impl MemoryBroker {
    pub async fn live_apply(&self, room: &str, op: &LeaseOp) -> Result<LiveSnapshot, BrokerError> {
        Ok(self.with(|s| {
            let map = s.live.entry(room.to_owned()).or_default();
            let changed = match op {
                LeaseOp::Set { field, value } => {
                    map.entries.insert(field.clone(), value.clone());
                    true
                }
                LeaseOp::Remove { field } => map.entries.remove(field).is_some(),
                LeaseOp::Sweep { dead } => {
                    let prefix = format!("{dead}|");
                    let before = map.entries.len();
                    map.entries.retain(|field, _| !field.starts_with(&prefix));
                    map.entries.len() != before
                }
            };
            if !changed {
                return LiveSnapshot {
                    live_entries: map.entries.len(),
                    ..LiveSnapshot::default()
                };
            }
            map.version += 1;
            let entries: Vec<(String, String)> = map
                .entries
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            LiveSnapshot {
                version: map.version,
                live_entries: entries.len(),
                entries,
                changed: true,
            }
        }))
    }

    pub async fn live_renew(
        &self,
        incarnation: &str,
        ttl: Duration,
        known: bool,
    ) -> Result<bool, BrokerError> {
        let expiry = now_ms() + ttl.as_millis() as u64;
        Ok(self.with(|s| {
            let nodes = &mut s.incarnations;
            if nodes.dead.contains(incarnation)
                || (known && !nodes.leases.contains_key(incarnation))
            {
                return false;
            }
            nodes.leases.insert(incarnation.to_owned(), expiry);
            true
        }))
    }

    pub async fn live_claim(
        &self,
        ttl: Duration,
        limit: usize,
    ) -> Result<Vec<String>, BrokerError> {
        let now = now_ms();
        Ok(self.with(|s| {
            let nodes = &mut s.incarnations;
            let lapsed: Vec<String> = nodes
                .leases
                .iter()
                .filter(|(_, expiry)| **expiry <= now)
                .map(|(incarnation, _)| incarnation.clone())
                .take(limit)
                .collect();
            for incarnation in &lapsed {
                nodes.dead.insert(incarnation.clone());
                nodes
                    .leases
                    .insert(incarnation.clone(), now + ttl.as_millis() as u64);
            }
            lapsed
        }))
    }

    pub async fn live_extend_claim(
        &self,
        incarnation: &str,
        ttl: Duration,
    ) -> Result<(), BrokerError> {
        let until = now_ms() + ttl.as_millis() as u64;
        self.with(|s| {
            if let Some(expiry) = s.incarnations.leases.get_mut(incarnation) {
                *expiry = until;
            }
        });
        Ok(())
    }

    pub async fn live_buried(&self, incarnation: &str) -> Result<(), BrokerError> {
        self.with(|s| {
            let nodes = &mut s.incarnations;
            nodes.held.remove(incarnation);
            nodes.leases.remove(incarnation);
            nodes.dead.remove(incarnation);
        });
        Ok(())
    }

    pub async fn live_hold(&self, incarnation: &str, room: &str) -> Result<(), BrokerError> {
        self.with(|s| {
            let held = s
                .incarnations
                .held
                .entry(incarnation.to_owned())
                .or_default();
            held.insert(room.to_owned());
        });
        Ok(())
    }

    pub async fn live_unhold(&self, incarnation: &str, room: &str) -> Result<(), BrokerError> {
        self.with(|s| {
            if let Some(held) = s.incarnations.held.get_mut(incarnation) {
                held.remove(room);
            }
        });
        Ok(())
    }

    pub async fn live_held(&self, incarnation: &str) -> Result<Vec<String>, BrokerError> {
        Ok(self.with(|s| {
            let held = s.incarnations.held.get(incarnation);
            held.map(|rooms| rooms.iter().cloned().collect())
                .unwrap_or_default()
        }))
    }

    pub async fn live_commit(
        &self,
        room: &str,
        version: u64,
        canonical: &str,
        payload: Option<&str>,
    ) -> Result<bool, BrokerError> {
        let publish = self.with(|s| {
            let map = s.live.entry(room.to_owned()).or_default();
            if map.version != version || map.current.as_deref().unwrap_or_default() == canonical {
                return false;
            }
            map.current = (!canonical.is_empty()).then(|| canonical.to_owned());
            true
        });
        if publish && let Some(payload) = payload {
            self.send(room, payload.to_owned());
        }
        Ok(publish)
    }

    pub async fn live_current(&self, rooms: &[String]) -> Result<Vec<Option<String>>, BrokerError> {
        Ok(self.with(|s| {
            rooms
                .iter()
                .map(|r| s.live.get(r).and_then(|m| m.current.clone()))
                .collect()
        }))
    }

    pub async fn live_index(&self, kind: LiveKind, rooms: &[String]) -> Result<(), BrokerError> {
        let now = now_ms();
        self.with(|s| {
            let index = s.live_index.entry(kind.as_str()).or_default();
            for room in rooms {
                index.insert(room.clone(), now);
            }
        });
        Ok(())
    }

    pub async fn live_unindex(&self, kind: LiveKind, room: &str) -> Result<(), BrokerError> {
        self.with(|s| s.live_index.entry(kind.as_str()).or_default().remove(room));
        Ok(())
    }

    pub async fn live_indexed(
        &self,
        kind: LiveKind,
        limit: usize,
    ) -> Result<Vec<String>, BrokerError> {
        Ok(self.with(|s| {
            s.live_index
                .entry(kind.as_str())
                .or_default()
                .keys()
                .take(limit)
                .cloned()
                .collect()
        }))
    }
}
