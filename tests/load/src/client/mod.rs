//! The load generator's WebSocket clients: opening an authenticated socket, the one task per
//! socket that reads its frames (inflating them under `zlib-stream`), and the recovery mode that drops and reopens sockets.

mod connect;
mod inflate;
pub mod raw;
mod recover;
mod socket;
mod track;

pub use connect::{Connector, Opened, Ws};
pub use inflate::{Compression, Inflate};
pub use recover::{Dropper, Recovery, RecoveryArgs, RecoveryTally};
pub use socket::{Outcome, Socket};
pub use track::RoomTrack;
