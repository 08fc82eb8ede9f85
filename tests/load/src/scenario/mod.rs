//! The load generator's scenarios, each a module with its arguments, its run and its result
//! (printable, and serialisable for `--json`).

pub mod ceiling;
mod ceiling_wrk;
pub mod chat;
pub mod churn;
mod common;
pub mod fanout;
pub mod flood;
pub mod idle;
pub mod silent;

pub use common::{PublishArgs, RedisOps};

/// The scenario to run, with its arguments.
#[derive(clap::Subcommand, Clone, Debug)]
pub enum Scenario {
    /// Open N subscribed sockets and hold them: connect rate and memory per socket.
    Idle(idle::IdleArgs),
    /// One room, N subscribers, events at fixed rates: throughput, loss, latency, CPU.
    Fanout(fanout::FanoutArgs),
    /// Many Zipf-sized rooms with messages and typing, every delivery verified.
    Chat(chat::ChatArgs),
    /// Sockets arriving and leaving at a steady rate while events flow.
    Churn(churn::ChurnArgs),
    /// Messages posted back to back through one dispatcher, against redis-benchmark
    /// replaying the same script call: the dispatcher's ceiling.
    Ceiling(ceiling::CeilingArgs),
    /// Clients that send their handshake, then never read or write, then vanish: memory.
    Silent(silent::SilentArgs),
    /// One address flooding handshakes while others connect: what refusing costs.
    Flood(flood::FloodArgs),
}
