//! Events as Discord v3 dispatches.

use crate::dialect::Inbound;
use axum::extract::ws::Message;

/// The dispatch for `inbound`, if Discord shows it.
pub fn event(_inbound: &Inbound) -> Option<Message> {
    None
}
