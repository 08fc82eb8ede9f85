//! The probe every load event carries, `lg:<seq>:<sent_ns>[:padding]` in the message content:
//! the event's sequence number in its room and its send time (nanoseconds since the Unix epoch,
//! comparable between processes of one machine). Receivers find it in the frame's bytes without
//! parsing the JSON.

use memchr::memmem::{Finder, FinderRev};
use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

const TYPE_KEY: &[u8] = br#"{"type":""#;
/// Searchers built once: building one per frame showed up in profiles.
static CONTENT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""content":"lg:"#));
static ROOM: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""room":""#));
static USER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""user_id":""#));
/// An event frame's offset is its last field; searched from the end.
static OFFSET: LazyLock<FinderRev<'static>> = LazyLock::new(|| FinderRev::new(br#""offset":"#));

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The message content for event `seq` sent at `sent_ns`, padded with `x` to at least
/// `min_len` bytes.
pub fn content(seq: u64, sent_ns: u64, min_len: usize) -> String {
    let mut content = format!("lg:{seq}:{sent_ns}");
    if content.len() < min_len {
        content.push(':');
        content.extend(std::iter::repeat_n('x', min_len - content.len()));
    }
    content
}

/// What a receiver needs from one server frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A message carrying a probe, in `room`.
    Probe {
        room: &'a str,
        seq: u64,
        sent_ns: u64,
    },
    /// A `user_typing` event, and who is typing.
    Typing { user: &'a str },
    /// Any other frame; its `type` (empty if it has none).
    Other(&'a str),
}

/// Classifies a native text frame. Server frames start with `{"type":"…"`; a `MESSAGE_CREATE`
/// whose content is a probe becomes [`Frame::Probe`].
pub fn scan(text: &str) -> Frame<'_> {
    let bytes = text.as_bytes();
    let kind = bytes
        .strip_prefix(TYPE_KEY)
        .and_then(|rest| quoted(text, bytes.len() - rest.len()))
        .unwrap_or("");
    match kind {
        "MESSAGE_CREATE" => probe(text).unwrap_or(Frame::Other(kind)),
        "user_typing" => typing(text).unwrap_or(Frame::Other(kind)),
        _ => Frame::Other(kind),
    }
}

fn probe(text: &str) -> Option<Frame<'_>> {
    let bytes = text.as_bytes();
    let room_at = ROOM.find(bytes)? + ROOM.needle().len();
    let room = quoted(text, room_at)?;
    let probe_at = CONTENT.find(bytes)? + CONTENT.needle().len();
    let (seq, rest) = number(&bytes[probe_at..])?;
    let (sent_ns, _) = number(rest.strip_prefix(b":")?)?;
    Some(Frame::Probe { room, seq, sent_ns })
}

/// The room an event frame arrived on (its first `"room"` field).
pub fn room(text: &str) -> Option<&str> {
    let room_at = ROOM.find(text.as_bytes())? + ROOM.needle().len();
    quoted(text, room_at)
}

/// An event frame's `offset` in its room's history, when it has one. Only for event frames:
/// `SUBSCRIBED` carries an offset too, inside its `data`. A quote inside a string value is
/// escaped, so message content cannot fake the key.
pub fn offset(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let at = OFFSET.rfind(bytes)? + OFFSET.needle().len();
    number(&bytes[at..]).map(|(offset, _)| offset)
}

fn typing(text: &str) -> Option<Frame<'_>> {
    let user_at = USER.find(text.as_bytes())? + USER.needle().len();
    Some(Frame::Typing {
        user: quoted(text, user_at)?,
    })
}

/// The text from `start` up to the next `"`.
fn quoted(text: &str, start: usize) -> Option<&str> {
    let len = memchr::memchr(b'"', text.as_bytes().get(start..)?)?;
    text.get(start..start + len)
}

/// A decimal number at the start of `bytes`, and what follows it.
fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let value = bytes[..digits]
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some((value, &bytes[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_frame_yields_its_probe() {
        let text = format!(
            r#"{{"type":"MESSAGE_CREATE","room":"channel:r1","data":{{"id":"m","channel_id":"r1","author_id":"u","content":"{}","created_at":"t","username":null}},"timestamp":"t"}}"#,
            content(42, 1_700_000_000_123_456_789, 100)
        );
        assert_eq!(
            scan(&text),
            Frame::Probe {
                room: "channel:r1",
                seq: 42,
                sent_ns: 1_700_000_000_123_456_789
            }
        );
    }

    #[test]
    fn an_event_frame_yields_its_room_and_offset() {
        let text = format!(
            r#"{{"type":"MESSAGE_CREATE","room":"channel:r1","data":{{"content":"{} \"offset\":9"}},"timestamp":"t","offset":17}}"#,
            content(1, 2, 0)
        );
        assert_eq!((room(&text), offset(&text)), (Some("channel:r1"), Some(17)));
        assert_eq!(offset(r#"{"type":"user_typing","room":"channel:1"}"#), None);
    }

    #[test]
    fn padding_reaches_the_length_asked() {
        assert_eq!(content(1, 2, 100).len(), 100);
        assert_eq!(content(1, 2, 0), "lg:1:2");
    }

    #[test]
    fn other_frames_are_named() {
        let typing = r#"{"type":"user_typing","room":"channel:1","data":{"channel_id":"1","user_id":"u-7","username":null,"is_typing":true}}"#;
        assert_eq!(scan(typing), Frame::Typing { user: "u-7" });
        assert_eq!(
            scan(r#"{"type":"HEARTBEAT_ACK"}"#),
            Frame::Other("HEARTBEAT_ACK")
        );
        let plain = r#"{"type":"MESSAGE_CREATE","room":"channel:1","data":{"content":"hi"}}"#;
        assert_eq!(scan(plain), Frame::Other("MESSAGE_CREATE"));
        assert_eq!(scan("not json"), Frame::Other(""));
    }
}
