//! Discord v3 frames: dispatches (op 0, `{"op":0,"t","d","s"}`), op 7 redirect, and the
//! shapes every dispatch shares (user objects, timestamps).

use axum::extract::ws::{Message, Utf8Bytes};
use serde_json::{Value, json};
use shared::Id;

/// Op 0 `t` with `d`; the session's `s` is added as the frame is written ([`with_seq`]).
pub fn dispatch(t: &str, d: Value) -> Message {
    // Written by hand: `op` and `t` first, in that order, whatever the map's key order.
    let (t, d) = (Value::from(t), d);
    Message::Text(Utf8Bytes::from(format!(r#"{{"op":0,"t":{t},"d":{d}}}"#)))
}

/// A dispatch with its sequence number as the last field; other frames carry none.
pub fn with_seq(message: &Message, seq: u64) -> Message {
    let Message::Text(text) = message else {
        return message.clone();
    };
    let body = text.as_str();
    match body.strip_suffix('}') {
        Some(open) if body.starts_with(r#"{"op":0,"#) => {
            crate::dialect::seq::spliced(open, r#","s":"#, seq, "}")
        }
        _ => message.clone(),
    }
}

/// Whether `message` is a dispatch that `compress: true` sends zlib-compressed: READY and
/// GUILD_CREATE, the large ones (as Discord did).
pub fn is_large_dispatch(message: &Message) -> bool {
    let Message::Text(text) = message else {
        return false;
    };
    let body = text.as_str();
    body.starts_with(r#"{"op":0,"t":"READY""#) || body.starts_with(r#"{"op":0,"t":"GUILD_CREATE""#)
}

/// Op 7 redirect: reconnect to `url` (null: ask `GET /api/gateway`).
pub fn reconnect(url: Option<&str>) -> Message {
    let d = json!({ "url": url });
    Message::Text(Utf8Bytes::from(format!(r#"{{"op":7,"d":{d}}}"#)))
}

/// What a client is told when the node takes it out of `room` (kicked, banned, channel
/// deleted): the guild is gone for it, or the DM.
pub fn revoked(room: &str) -> Option<Message> {
    if let Some(channel) = room.strip_prefix("channel:") {
        return Some(dispatch(
            "GUILD_DELETE",
            json!({"id": channel, "unavailable": false}),
        ));
    }
    room.strip_prefix("dm:")
        .map(|dm| dispatch("CHANNEL_DELETE", json!({"id": dm, "is_private": true})))
}

/// Events of a room were lost to the node (Redis was unreachable longer than history
/// keeps): Discord had no way to patch a gap, so the client is told to reconnect; its new
/// READY is whole again.
pub fn stale(room: &str) -> Option<Message> {
    (room.starts_with("channel:") || room.starts_with("dm:")).then(|| reconnect(None))
}

/// A user object: the four keys every Discord user object has.
pub fn user(id: &Id, username: Option<&str>) -> Value {
    json!({
        "id": id.as_str(),
        "username": username.unwrap_or(id.as_str()),
        "discriminator": "0000",
        "avatar": null,
    })
}

/// An RFC 3339 time as Discord wrote it: an explicit `+00:00` offset, not `Z`.
pub fn timestamp(rfc3339: &str) -> String {
    match rfc3339.strip_suffix('Z') {
        Some(base) => format!("{base}+00:00"),
        None => rfc3339.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: Message) -> String {
        match m {
            Message::Text(t) => t.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_dispatches_carry_s() {
        let ready = dispatch("READY", json!({"v": 3}));
        assert_eq!(
            text(with_seq(&ready, 1)),
            r#"{"op":0,"t":"READY","d":{"v":3},"s":1}"#
        );
        assert!(is_large_dispatch(&ready));
        let redirect = reconnect(Some("ws://b/"));
        assert_eq!(
            text(with_seq(&redirect, 2)),
            r#"{"op":7,"d":{"url":"ws://b/"}}"#
        );
        assert!(!is_large_dispatch(&dispatch("TYPING_START", json!({}))));
    }

    #[test]
    fn timestamps_have_an_explicit_offset() {
        assert_eq!(
            timestamp("2025-01-15T10:30:00.000Z"),
            "2025-01-15T10:30:00.000+00:00"
        );
    }
}
