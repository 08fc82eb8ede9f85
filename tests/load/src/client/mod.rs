//! The load generator's WebSocket clients: opening an authenticated socket, the one task per
//! socket that reads its frames, and the recovery mode that drops and reopens sockets.

mod connect;
mod recover;
mod socket;
mod track;

pub use connect::{Connector, Ws};
pub use recover::{Dropper, Recovery, RecoveryArgs, RecoveryTally};
pub use socket::{Outcome, Socket};
pub use track::RoomTrack;
