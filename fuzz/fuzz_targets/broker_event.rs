//! What a node reads from the broker, published by anyone with Redis access: any payload on
//! any channel parses (or is dropped) and renders in every client format (native,
//! pass-through, Discord, Lanyard) without a panic, and a rendered frame is valid JSON.
#![no_main]

use axum::extract::ws::Message;
use bytes::Bytes;
use gateway::dialect::{Format, Inbound, Rendered};
use libfuzzer_sys::fuzz_target;

const FORMATS: [Format; 4] = [
    Format::Native,
    Format::Events,
    Format::Discord,
    Format::Lanyard,
];

// The input is the channel name, a newline, and the payload.
fuzz_target!(|data: &[u8]| {
    let (channel, payload) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"channel:1"[..], data),
    };
    let Some(inbound) = Inbound::parse(channel, Bytes::copy_from_slice(payload)) else {
        return;
    };
    let _ = (
        inbound.position(),
        inbound.age(),
        inbound.sender(),
        inbound.recipient(),
    );
    let rendered = Rendered::new(&inbound);
    for format in FORMATS {
        if let Some(frame) = rendered.frame(format)
            && let Message::Text(text) = &frame.message
        {
            serde_json::from_str::<serde_json::Value>(text.as_str())
                .expect("a rendered frame is JSON");
        }
    }
});
