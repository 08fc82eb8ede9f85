//! Events as Lanyard frames.

use crate::dialect::Inbound;
use axum::extract::ws::Message;

/// The Lanyard frame for `inbound`, if Lanyard shows it.
pub fn event(_inbound: &Inbound) -> Option<Message> {
    None
}
