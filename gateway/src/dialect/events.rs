//! The pass-through format (`?format=events`): every event exactly as published (the
//! seed-001 envelope with `id` and `offset`), plus the `room` it arrived on.

use super::Inbound;
use axum::extract::ws::{Message, Utf8Bytes};

/// Splices `"room"` into the published JSON object without re-serializing it.
pub fn render(inbound: &Inbound) -> Message {
    let raw = std::str::from_utf8(&inbound.raw)
        .unwrap_or_default()
        .trim_end();
    // Inbound::parse only admits JSON objects, so `raw` ends with '}'.
    let body = raw.strip_suffix('}').unwrap_or(raw).trim_end();
    let separator = if body.ends_with('{') { "" } else { "," };
    // Room names are [a-z]+:[A-Za-z0-9_-]+ or `global`: nothing to escape.
    let framed = format!("{body}{separator}\"room\":\"{}\"}}", inbound.room);
    Message::Text(Utf8Bytes::from(framed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn render_str(room: &str, raw: &'static str) -> serde_json::Value {
        let inbound = Inbound::parse(room.as_bytes(), Bytes::from_static(raw.as_bytes())).unwrap();
        let Message::Text(text) = render(&inbound) else {
            panic!("not text")
        };
        serde_json::from_str(text.as_str()).unwrap()
    }

    #[test]
    fn adds_the_room_and_keeps_everything_else() {
        let v = render_str(
            "channel:1",
            r#"{"type":"x","data":{"a":1},"offset":"1-0"} "#,
        );
        assert_eq!(
            v,
            serde_json::json!({"type":"x","data":{"a":1},"offset":"1-0","room":"channel:1"})
        );
    }

    #[test]
    fn handles_an_empty_object() {
        assert_eq!(
            render_str("global", "{}"),
            serde_json::json!({"room":"global"})
        );
    }
}
