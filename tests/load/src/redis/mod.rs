//! Redis as the load generator talks to it directly: a minimal RESP connection and Redis' own
//! counters (commands per event, subscribers per room).

mod counters;
mod resp;

pub use counters::{CommandCounts, RedisCounters};
pub use resp::{Reply, RespConn, encode, read_reply};
