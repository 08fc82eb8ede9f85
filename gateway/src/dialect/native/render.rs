//! Events as a seed-000 client sees them: `{"type", "room", "data", "timestamp"}`.
//! Messages become `MESSAGE_CREATE`, DMs `DIRECT_MESSAGE_CREATE`, voice events keep seed 000's
//! shapes, and ids made only of digits are JSON numbers there. Every other event keeps its
//! seed-001 name and data.

use crate::dialect::Inbound;
use axum::extract::ws::{Message, Utf8Bytes};
use serde_json::{Value, json};
use shared::{
    Id,
    event::{self, Event},
};

/// The frame for one event; None only for payloads that carry no `type`.
pub fn event(inbound: &Inbound) -> Option<Message> {
    let (kind, data, timestamp) = match (&inbound.envelope, &inbound.generic) {
        (Some(envelope), _) => {
            let (kind, data) = typed(&envelope.event);
            (kind, data, Value::String(envelope.timestamp.clone()))
        }
        (None, Some(generic)) => {
            let kind = generic.get("type")?.as_str()?;
            let data = generic.get("data").cloned().unwrap_or(Value::Null);
            (
                kind,
                data,
                generic.get("timestamp").cloned().unwrap_or(Value::Null),
            )
        }
        (None, None) => return None,
    };
    let frame = EventFrame {
        kind,
        room: &inbound.room,
        data,
        timestamp: Some(timestamp).filter(|t| !t.is_null()),
        offset: inbound.position().map(|(offset, _)| offset),
    };
    let json = serde_json::to_string(&frame).expect("an event frame always serializes");
    Some(Message::Text(Utf8Bytes::from(json)))
}

/// Field order as seed 000 shows it: `type` first.
#[derive(serde::Serialize)]
struct EventFrame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    room: &'a str,
    data: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<Value>,
    /// The event's offset in the room's history, for `SUBSCRIBE {since}` after a reconnect.
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
}

fn typed(event: &Event) -> (&'static str, Value) {
    match event {
        Event::ChannelMessage(m) | Event::MessageReply(m) => ("MESSAGE_CREATE", message_create(m)),
        Event::DirectMessageCreate(dm) => (
            "DIRECT_MESSAGE_CREATE",
            json!({
                "id": id(&dm.id),
                "direct_thread_id": id(&dm.direct_thread_id),
                "author_id": id(&dm.author_id),
                "content": dm.content,
                "created_at": dm.created_at,
            }),
        ),
        Event::VoiceSignal(signal) => (
            "VOICE_SIGNAL",
            json!({"from_user_id": id(&signal.from_user_id), "signal": signal.signal}),
        ),
        Event::VoiceStateUpdate(state) => ("VOICE_STATE_UPDATE", voice_state(state)),
        other => {
            // Seed-001 events keep their name and data: the adjacently tagged form is exactly that.
            let mut tagged = serde_json::to_value(other).expect("events always serialize");
            (
                other.name(),
                tagged
                    .get_mut("data")
                    .map(Value::take)
                    .unwrap_or(Value::Null),
            )
        }
    }
}

/// Seed 000's MESSAGE_CREATE fields, plus `username` and, for replies, `parent_message_id`.
fn message_create(m: &event::Message) -> Value {
    let mut data = json!({
        "id": id(&m.id),
        "channel_id": id(&m.channel_id),
        "author_id": id(&m.author_id),
        "content": m.content,
        "created_at": m.created_at,
        "username": m.username,
    });
    if let Some(parent) = &m.parent_message_id {
        data["parent_message_id"] = id(parent);
    }
    data
}

fn voice_state(state: &event::VoiceState) -> Value {
    let member_states: Vec<Value> = state
        .member_states
        .iter()
        .map(|s| json!({"user_id": id(&s.user_id), "muted": s.muted, "deafened": s.deafened}))
        .collect();
    json!({
        "channel_id": id(&state.channel_id),
        "joined": state.joined,
        "member_user_ids": state.member_user_ids.iter().map(id).collect::<Vec<_>>(),
        "member_states": member_states,
    })
}

/// An id as seed 000 shows it: a JSON number when it is all digits and fits, else a string.
pub fn id(id: &Id) -> Value {
    if id.is_numeric()
        && let Ok(n) = id.as_str().parse::<u64>()
    {
        return Value::from(n);
    }
    Value::String(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use shared::event::Envelope;

    fn render(room: &str, envelope: &Envelope) -> Value {
        let inbound = Inbound::parse(room.as_bytes(), Bytes::from(envelope.to_json())).unwrap();
        let Some(Message::Text(text)) = event(&inbound) else {
            panic!("no frame")
        };
        serde_json::from_str(text.as_str()).unwrap()
    }

    fn ids(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    #[test]
    fn channel_message_becomes_message_create_with_numeric_ids() {
        let envelope = Envelope::new(Event::ChannelMessage(event::Message {
            channel_id: ids("42"),
            message_id: ids("101"),
            parent_message_id: None,
            user_id: ids("1"),
            username: Some("ann".into()),
            content: "Hello!".into(),
            id: ids("101"),
            author_id: ids("1"),
            created_at: "2026-01-15T12:01:00Z".into(),
        }));
        let frame = render("channel:42", &envelope);
        assert_eq!(frame["type"], "MESSAGE_CREATE");
        assert_eq!(frame["room"], "channel:42");
        assert_eq!(
            frame["data"],
            json!({"id": 101, "channel_id": 42, "author_id": 1, "content": "Hello!",
                   "created_at": "2026-01-15T12:01:00Z", "username": "ann"})
        );
    }

    #[test]
    fn seed_001_events_keep_their_name_and_data() {
        let envelope = Envelope::new(Event::UserBanned(event::Moderation {
            channel_id: ids("c-1"),
            user_id: Some(ids("u-2")),
            motive: Some("spam".into()),
        }));
        let frame = render("channel:c-1", &envelope);
        assert_eq!(frame["type"], "user_banned");
        assert_eq!(
            frame["data"],
            json!({"channel_id": "c-1", "user_id": "u-2", "motive": "spam"})
        );
        assert_eq!(frame["timestamp"], envelope.timestamp.as_str());
    }

    #[test]
    fn uuid_ids_stay_strings() {
        assert_eq!(id(&ids("0195e0a4-aaaa")), json!("0195e0a4-aaaa"));
        assert_eq!(
            id(&ids("99999999999999999999999")),
            json!("99999999999999999999999")
        );
    }

    #[test]
    fn foreign_events_pass_with_their_type() {
        let raw = Bytes::from_static(br#"{"type":"custom","data":{"x":1},"timestamp":"t"}"#);
        let inbound = Inbound::parse(b"global", raw).unwrap();
        let Some(Message::Text(text)) = event(&inbound) else {
            panic!()
        };
        let v: Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(
            v,
            json!({"type":"custom","room":"global","data":{"x":1},"timestamp":"t"})
        );
    }
}
