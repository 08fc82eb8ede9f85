//! Discord v3 frames the session core asks for.

use axum::extract::ws::Message;
use serde_json::json;

/// Op 7: reconnect to `url`.
pub fn reconnect(url: Option<&str>) -> Message {
    Message::Text(json!({"op": 7, "d": {"url": url}}).to_string().into())
}

/// What a client is told when the node takes it out of `room`.
pub fn revoked(_room: &str) -> Option<Message> {
    None
}

/// What a client is told when events of `room` were lost to the node.
pub fn stale(_room: &str) -> Option<Message> {
    None
}
