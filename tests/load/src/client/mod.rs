//! The load generator's WebSocket clients: opening an authenticated socket, and the one task
//! per socket that reads its frames.

mod connect;
mod socket;
mod track;

pub use connect::{Connector, Ws};
pub use socket::{Outcome, Socket};
pub use track::RoomTrack;
