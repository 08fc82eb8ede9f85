//! Client dialects: each is a codec plus a small state machine over the session core.
//! This module holds what the fan-out needs from them: the wire formats a socket can ask
//! for, and an event parsed once and rendered at most once per format.

pub mod compress;
pub mod discord;
pub mod events;
pub mod lanyard;
pub mod native;
pub mod seq;
pub mod token;

use crate::session::{Frame, Outgoing, Stamp};
use axum::extract::ws::Message;
use bytes::Bytes;
use serde_json::Value;
use shared::{Id, event::Envelope};
use std::sync::{Arc, OnceLock};

/// The WebSocket settings every dialect's sockets share: frames up to the hard size cap, and
/// small buffers. Client frames are small: a 256-byte read buffer (grown on demand) instead of
/// the default 128 KiB keeps an idle socket cheap; writes are batched up to 16 KiB per flush.
pub fn tuned(
    ws: axum::extract::ws::WebSocketUpgrade,
    node: &crate::node::Node,
) -> axum::extract::ws::WebSocketUpgrade {
    const READ_BUFFER_BYTES: usize = 256;
    const WRITE_BUFFER_BYTES: usize = 16 * 1024;
    let cap = node.config.limits.hard_frame_cap();
    ws.max_message_size(cap)
        .max_frame_size(cap)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
}

/// How a socket wants events rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Seed 000 frames on `/api/ws`.
    Native,
    /// `/api/ws?format=events`: each event exactly as published, plus `room`.
    Events,
    /// Discord gateway v3 dispatches on `/` (seed 002).
    Discord,
    /// Lanyard presence events on `/socket` (seed 003).
    Lanyard,
}

impl Format {
    const ALL: [Format; 4] = [
        Format::Native,
        Format::Events,
        Format::Discord,
        Format::Lanyard,
    ];

    fn index(self) -> usize {
        match self {
            Format::Native => 0,
            Format::Events => 1,
            Format::Discord => 2,
            Format::Lanyard => 3,
        }
    }

    /// The `dialect` label of connection metrics.
    pub fn label(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Events => "events",
            Format::Discord => "discord",
            Format::Lanyard => "lanyard",
        }
    }
}

/// A broker message, parsed once per node.
pub struct Inbound {
    pub room: String,
    /// The payload exactly as published.
    pub raw: Bytes,
    /// The typed envelope, when the payload is one of DESIGN §3's events.
    pub envelope: Option<Envelope>,
    /// Otherwise the payload as generic JSON (an event from another publisher).
    pub generic: Option<Value>,
}

impl Inbound {
    /// None when the channel is not a room name (a publisher can reach the all-presence
    /// pattern with any `presence:…` name, and renderers write the name into frames as it is)
    /// or the payload is not a JSON object.
    pub fn parse(channel: &[u8], raw: Bytes) -> Option<Self> {
        let room = std::str::from_utf8(channel).ok()?;
        room.parse::<shared::Room>().ok()?;
        let room = room.to_owned();
        match serde_json::from_slice::<Envelope>(&raw) {
            Ok(envelope) => Some(Inbound {
                room,
                raw,
                envelope: Some(envelope),
                generic: None,
            }),
            Err(_) => {
                let generic: Value = serde_json::from_slice(&raw).ok()?;
                generic.is_object().then_some(Inbound {
                    room,
                    raw,
                    envelope: None,
                    generic: Some(generic),
                })
            }
        }
    }

    /// The event's place in its room's history: `(offset, epoch)`, when it has one.
    pub fn position(&self) -> Option<(u64, &str)> {
        match (&self.envelope, &self.generic) {
            (Some(envelope), _) => Some((envelope.offset?, envelope.epoch.as_deref()?)),
            (None, Some(generic)) => Some((
                generic.get("offset")?.as_u64()?,
                generic.get("epoch")?.as_str()?,
            )),
            (None, None) => None,
        }
    }

    /// How long ago the event was published, by its `timestamp` (None when absent or in the
    /// future, as clock skew can make it).
    pub fn age(&self) -> Option<std::time::Duration> {
        let stamp = &self.envelope.as_ref()?.timestamp;
        let published =
            time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                .ok()?;
        (time::OffsetDateTime::now_utc() - published)
            .try_into()
            .ok()
    }

    /// The user who caused the event, when it must not be echoed back to them (typing,
    /// voice signals).
    pub fn sender(&self) -> Option<&Id> {
        match &self.envelope.as_ref()?.event {
            shared::event::Event::UserTyping(typing) => Some(&typing.user_id),
            shared::event::Event::VoiceSignal(signal) => Some(&signal.from_user_id),
            _ => None,
        }
    }

    /// A notice on a user's own room that they were let into a room (the copy of
    /// `member_joined`, and `dm_created`). It drives implicit subscriptions (Discord v3); the
    /// native and pass-through formats do not show it, so their clients' streams keep the
    /// catalogue of DESIGN §3.
    pub fn is_grant_notice(&self) -> bool {
        self.room.starts_with("user:")
            && matches!(
                self.envelope.as_ref().map(|e| &e.event),
                Some(shared::event::Event::MemberJoined(_) | shared::event::Event::DmCreated(_))
            )
    }

    /// The only user this event is for, when it is targeted (a voice signal with `to_user_id`).
    pub fn recipient(&self) -> Option<&Id> {
        match &self.envelope.as_ref()?.event {
            shared::event::Event::VoiceSignal(signal) => signal.to_user_id.as_ref(),
            _ => None,
        }
    }
}

/// One event's frames, rendered lazily and at most once per format, then shared by every
/// socket of that format (cloning a [`Frame`] is one reference count).
pub struct Rendered<'a> {
    inbound: &'a Inbound,
    stamp: OnceLock<Option<Arc<Stamp>>>,
    frames: [OnceLock<Option<Frame>>; Format::ALL.len()],
}

impl<'a> Rendered<'a> {
    pub fn new(inbound: &'a Inbound) -> Self {
        Rendered {
            inbound,
            stamp: OnceLock::new(),
            frames: Default::default(),
        }
    }

    /// The frame for `format`; None when that format does not show this event.
    pub fn frame(&self, format: Format) -> Option<Frame> {
        self.frames[format.index()]
            .get_or_init(|| {
                let message = match format {
                    Format::Native | Format::Events if self.inbound.is_grant_notice() => {
                        return None;
                    }
                    Format::Native => native::render::event(self.inbound)?,
                    Format::Events => events::render(self.inbound),
                    Format::Discord => discord::render::event(self.inbound)?,
                    Format::Lanyard => lanyard::render::event(self.inbound)?,
                };
                Some(Arc::new(Outgoing {
                    message,
                    stamp: self.stamp().clone(),
                }))
            })
            .clone()
    }

    /// The event's room and history position, when it has one.
    fn stamp(&self) -> &Option<Arc<Stamp>> {
        self.stamp.get_or_init(|| {
            let (offset, epoch) = self.inbound.position()?;
            Some(Arc::new(Stamp {
                room: self.inbound.room.as_str().into(),
                position: shared::history::Position {
                    offset,
                    epoch: epoch.to_owned(),
                },
            }))
        })
    }
}

/// The event that tells a client to reconnect, to `url` when known (else via
/// `GET /api/gateway`); None for a dialect that has no such event (its close code says it).
pub fn render_reconnect(format: Format, url: Option<String>) -> Option<Message> {
    match format {
        Format::Native | Format::Events => Some(native::frames::reconnect(url.as_deref())),
        Format::Discord => {
            let url = url.map(|url| shared::fleet::discord_url(&url));
            Some(discord::frames::reconnect(url.as_deref()))
        }
        Format::Lanyard => None,
    }
}

/// The notice a socket gets when the node takes it out of a room (kick, ban, deletion).
pub fn render_revoked(format: Format, room: &str) -> Option<Message> {
    match format {
        Format::Native | Format::Events => Some(native::frames::unsubscribed(room)),
        Format::Discord => discord::frames::revoked(room),
        Format::Lanyard => None,
    }
}

/// The notice a socket gets when events of a room it is in were lost to this node (history
/// trimmed or reset while the node's Redis link was down): its copy of the room is stale as of
/// `position`; events after it follow live.
pub fn render_stale(
    format: Format,
    room: &str,
    position: &shared::history::Position,
) -> Option<Message> {
    match format {
        Format::Native | Format::Events => {
            Some(native::frames::subscribed(room, position, Some(false)))
        }
        Format::Discord => discord::frames::stale(room),
        Format::Lanyard => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `broker_event` fuzz target: a message on `presence:<name with control
    /// characters>` (reachable through the all-presence pattern) was rendered with the name
    /// written into the frame as it was, which made the frame invalid JSON.
    #[test]
    fn a_channel_that_is_not_a_room_name_is_not_an_event() {
        let payload = Bytes::from_static(br#"{"type":"PRESENCE_UPDATE","data":{}}"#);
        for channel in [
            &b"presence:alice\x01\x00"[..],
            b"presence:a\"b",
            b"nowhere",
            b"\xff",
        ] {
            assert!(
                Inbound::parse(channel, payload.clone()).is_none(),
                "{channel:?}"
            );
        }
        let inbound = Inbound::parse(b"presence:alice", payload).expect("a room name");
        for format in Format::ALL {
            if let Some(frame) = Rendered::new(&inbound).frame(format)
                && let Message::Text(text) = &frame.message
            {
                serde_json::from_str::<Value>(text.as_str()).expect("JSON");
            }
        }
    }
}
