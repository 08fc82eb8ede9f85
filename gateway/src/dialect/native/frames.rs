//! Server frames of the native dialect: `{"type", "room"?, "data"?}`.

use axum::extract::ws::{Message, Utf8Bytes};
use serde::Serialize;
use serde_json::{Map, Value};
use shared::history::Position;

#[derive(Serialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    room: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
}

fn frame(kind: &str, room: Option<&str>, data: Option<Value>) -> Message {
    let json = serde_json::to_string(&Frame { kind, room, data }).expect("frames always serialize");
    Message::Text(Utf8Bytes::from(json))
}

pub fn ready(
    session_id: &str,
    user_id: Value,
    heartbeat_interval_ms: u64,
    rooms: &[String],
) -> Message {
    let data = serde_json::json!({
        "session_id": session_id,
        "user_id": user_id,
        "heartbeat_interval": heartbeat_interval_ms,
        "rooms": rooms,
    });
    frame("READY", None, Some(data))
}

/// `{"type":"SUBSCRIBED","room":...,"data":{"offset","epoch"[,"recovered"]}}`: the room's
/// position as of the switch to live events; `recovered` answers a `since`.
pub fn subscribed(room: &str, position: &Position, recovered: Option<bool>) -> Message {
    let mut data = serde_json::json!({"offset": position.offset, "epoch": position.epoch});
    if let Some(recovered) = recovered {
        data["recovered"] = Value::Bool(recovered);
    }
    frame("SUBSCRIBED", Some(room), Some(data))
}

pub fn unsubscribed(room: &str) -> Message {
    frame("UNSUBSCRIBED", Some(room), None)
}

/// `{"type":"RECONNECT","data":{"url":...}}`, sent before close 4021.
pub fn reconnect(url: Option<&str>) -> Message {
    frame("RECONNECT", None, Some(serde_json::json!({ "url": url })))
}

/// `{"type":"RESUMED","data":{session_id, resumed, user_id, heartbeat_interval, rooms}}`:
/// each restored room with its position and whether what was missed was replayed, or the
/// error that kept it out.
pub fn resumed(
    session_id: &str,
    resumed: &str,
    user_id: Value,
    heartbeat_interval_ms: u64,
    rooms: Map<String, Value>,
) -> Message {
    let data = serde_json::json!({
        "session_id": session_id,
        "resumed": resumed,
        "user_id": user_id,
        "heartbeat_interval": heartbeat_interval_ms,
        "rooms": rooms,
    });
    frame("RESUMED", None, Some(data))
}

/// `{"type":"INVALID_SESSION","data":{"session_id":...}}`: that session cannot be resumed;
/// carry on with this one (and `SUBSCRIBE {since}` per room).
pub fn invalid_session(session_id: &str) -> Message {
    frame(
        "INVALID_SESSION",
        None,
        Some(serde_json::json!({ "session_id": session_id })),
    )
}

/// `{"type":"INIT_STATE","data":...}`: a presence, or a map of user id → presence.
pub fn init_state(data: Value) -> Message {
    frame("INIT_STATE", None, Some(data))
}

pub fn heartbeat_ack() -> Message {
    frame("HEARTBEAT_ACK", None, None)
}

/// `{"type":"ERROR","data":"<message>"}`, plus the room the error is about, if any.
pub fn error(message: &str, room: Option<&str>) -> Message {
    frame("ERROR", room, Some(Value::String(message.to_owned())))
}

/// `frame` with `"seq": seq` added as its last field (every native server frame is a JSON
/// object; anything else is written as it is).
pub fn with_seq(frame: &Message, seq: u64) -> Message {
    let Message::Text(text) = frame else {
        return frame.clone();
    };
    let body = text.as_str().trim_end();
    let Some(open) = body.strip_suffix('}') else {
        return frame.clone();
    };
    let open = open.trim_end();
    let field = if open.ends_with('{') {
        r#""seq":"#
    } else {
        r#","seq":"#
    };
    crate::dialect::seq::spliced(open, field, seq, "}")
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
    fn seq_is_the_last_field() {
        assert_eq!(
            text(with_seq(&heartbeat_ack(), 7)),
            r#"{"type":"HEARTBEAT_ACK","seq":7}"#
        );
        assert_eq!(
            text(with_seq(&Message::Text("{}".into()), 1)),
            r#"{"seq":1}"#
        );
        let binary = Message::Binary(vec![1, 2].into());
        assert_eq!(with_seq(&binary, 3), binary);
    }
}
