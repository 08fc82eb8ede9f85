//! Server frames of the Lanyard dialect: `{"op", "seq", "t"?, "d"}`, and its close frames.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
struct Frame<'a> {
    op: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    t: Option<&'a str>,
    d: Value,
}

fn frame(op: u8, t: Option<&str>, d: Value) -> Message {
    let json = serde_json::to_string(&Frame { op, t, d }).expect("frames always serialize");
    Message::Text(Utf8Bytes::from(json))
}

/// Op 1 Hello: `{"op":1,"d":{"heartbeat_interval":N}}`.
pub fn hello(heartbeat_interval_ms: u64) -> Message {
    frame(
        1,
        None,
        serde_json::json!({ "heartbeat_interval": heartbeat_interval_ms }),
    )
}

/// Op 0 `INIT_STATE`: a presence, or a map of user id → presence.
pub fn init_state(d: Value) -> Message {
    frame(0, Some("INIT_STATE"), d)
}

/// Op 0 `PRESENCE_UPDATE`: a presence with its `user_id`.
pub fn presence_update(d: Value) -> Message {
    frame(0, Some("PRESENCE_UPDATE"), d)
}

/// A close frame with Lanyard's code and reason text.
pub fn close(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

/// `frame` with `"seq": seq` right after its `op`, where seed 003's examples show it (every
/// Lanyard server frame starts with `{"op":<digits>`; anything else is written as it is).
pub fn with_seq(frame: &Message, seq: u64) -> Message {
    let Message::Text(text) = frame else {
        return frame.clone();
    };
    let body = text.as_str();
    let Some(rest) = body.strip_prefix(r#"{"op":"#) else {
        return frame.clone();
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let after = &rest[digits..];
    if digits == 0 || !(after.starts_with(',') || after.starts_with('}')) {
        return frame.clone();
    }
    let head = &body[..body.len() - after.len()];
    crate::dialect::seq::spliced(head, r#","seq":"#, seq, after)
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
    fn frames_have_seed_003_shapes() {
        assert_eq!(
            text(hello(30000)),
            r#"{"op":1,"d":{"heartbeat_interval":30000}}"#
        );
        assert_eq!(
            text(init_state(serde_json::json!({}))),
            r#"{"op":0,"t":"INIT_STATE","d":{}}"#
        );
    }

    #[test]
    fn seq_follows_op() {
        assert_eq!(
            text(with_seq(&hello(30000), 1)),
            r#"{"op":1,"seq":1,"d":{"heartbeat_interval":30000}}"#
        );
        assert_eq!(
            text(with_seq(&presence_update(serde_json::json!({"a": 1})), 12)),
            r#"{"op":0,"seq":12,"t":"PRESENCE_UPDATE","d":{"a":1}}"#
        );
        assert_eq!(
            text(with_seq(&Message::Text(r#"{"op":3}"#.into()), 2)),
            r#"{"op":3,"seq":2}"#
        );
        for other in [r#"{"t":"X"}"#, r#"{"op":"x"}"#, r#"{"op":1 }"#, "[]"] {
            let message = Message::Text(other.into());
            assert_eq!(with_seq(&message, 3), message);
        }
        let binary = Message::Binary(vec![1, 2].into());
        assert_eq!(with_seq(&binary, 3), binary);
    }
}
