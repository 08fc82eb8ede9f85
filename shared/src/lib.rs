//! Types shared by the gateway and the dispatcher: ids and rooms, the event model and its
//! Redis envelope, JWT validation, the broker (pub/sub, history and access-control state,
//! on Redis or in memory) and the command-line options both binaries take.

pub mod acl;
pub mod auth;
pub mod broker;
pub mod event;
pub mod fleet;
pub mod history;
pub mod id;
pub mod live;
pub mod options;
pub mod presence;
pub mod room;
pub mod voice;

pub use id::Id;
pub use room::Room;
