//! The yardstick of the chat gateway: a load generator (`loadgen`) and a soak test (`soak`)
//! that drive the real `gateway` and `dispatcher` binaries through the real protocol (the
//! native WebSocket dialect and the dispatcher HTTP API), against a cluster they start or an
//! existing one on this machine. docs/PERFORMANCE.md describes the method and the figures.

pub mod bitset;
pub mod client;
pub mod cluster;
pub mod dispatcher;
pub mod fleet;
pub mod harness;
pub mod latency;
pub mod ledger;
pub mod opening;
pub mod plot;
pub mod probe;
pub mod procstat;
pub mod progress;
pub mod provision;
pub mod publish;
pub mod redis;
pub mod report;
pub mod scenario;
pub mod soak;
pub mod stats;
pub mod verify;
pub mod workers;
pub mod zipf;
