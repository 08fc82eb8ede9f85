//! Live maps in the in-process broker: the same contract as the Redis scripts.

use super::{BrokerError, memory::MemoryBroker};
use crate::live::{LeaseOp, LiveKind, LiveSnapshot, now_ms};
use std::{collections::BTreeMap, time::Duration};

/// One room's live map: session → (entry, lease expiry in ms).
#[derive(Default)]
pub struct LiveMap {
    entries: BTreeMap<String, (String, u64)>,
    version: u64,
    current: Option<String>,
}

impl MemoryBroker {
    pub async fn live_apply(
        &self,
        room: &str,
        op: &LeaseOp,
        ttl: Duration,
    ) -> Result<LiveSnapshot, BrokerError> {
        let now = now_ms();
        let expiry = now + ttl.as_millis() as u64;
        Ok(self.with(|s| {
            let map = s.live.entry(room.to_owned()).or_default();
            let mut changed = match op {
                LeaseOp::Set { field, value } => {
                    map.entries.insert(field.clone(), (value.clone(), expiry));
                    true
                }
                LeaseOp::Remove { field } => map.entries.remove(field).is_some(),
                LeaseOp::Touch { fields } => {
                    for field in fields {
                        if let Some(entry) = map.entries.get_mut(field) {
                            entry.1 = expiry;
                        }
                    }
                    false
                }
                LeaseOp::Sweep => false,
            };
            let before = map.entries.len();
            map.entries.retain(|_, (_, lease)| *lease > now);
            changed |= map.entries.len() != before;
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
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect();
            LiveSnapshot {
                version: map.version,
                live_entries: entries.len(),
                entries,
                changed: true,
            }
        }))
    }

    pub async fn live_commit(
        &self,
        room: &str,
        version: u64,
        canonical: &str,
        payload: Option<&str>,
        _ttl: Duration,
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

    pub async fn live_stale(
        &self,
        kind: LiveKind,
        older_than: Duration,
        limit: usize,
    ) -> Result<Vec<String>, BrokerError> {
        let before = now_ms().saturating_sub(older_than.as_millis() as u64);
        Ok(self.with(|s| {
            let index = s.live_index.entry(kind.as_str()).or_default();
            index
                .iter()
                .filter(|(_, at)| **at <= before)
                .map(|(r, _)| r.clone())
                .take(limit)
                .collect()
        }))
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
