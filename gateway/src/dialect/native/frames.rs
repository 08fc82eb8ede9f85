//! Server frames of the native dialect: `{"type", "room"?, "data"?}`.

use axum::extract::ws::{Message, Utf8Bytes};
use serde::Serialize;
use serde_json::Value;
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
