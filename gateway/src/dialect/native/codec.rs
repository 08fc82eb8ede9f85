//! Client frames of the native dialect. `op` names the operation (`type` is an alias, as a
//! real Zlikord client sends it); arguments sit at the top level or inside `data`.

use serde::Deserialize;
use serde_json::Value;
use shared::Room;

/// A parsed client frame.
#[derive(Debug, PartialEq)]
pub enum Op {
    Identify {
        token: String,
    },
    Subscribe {
        room: RoomArg,
    },
    Unsubscribe {
        room: RoomArg,
    },
    Heartbeat,
    /// An op DESIGN §4.1 names that this node does not handle yet.
    NotSupported(&'static str),
}

/// A `room` argument: a valid room name, or something that is not one.
#[derive(Debug, PartialEq)]
pub enum RoomArg {
    Valid(Room),
    Invalid(String),
}

/// Why a frame could not be turned into an [`Op`]; each maps to one `ERROR` text.
#[derive(Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Not JSON, not an object, no op, or a required argument missing or of the wrong type.
    Payload,
    /// An op name nobody defined.
    UnknownOp,
}

#[derive(Deserialize)]
struct RawFrame {
    op: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Value>,
    room: Option<Value>,
    token: Option<Value>,
    data: Option<Value>,
}

impl RawFrame {
    /// An argument from the top level, else from inside `data`.
    fn arg(&self, top: &Option<Value>, name: &str) -> Option<Value> {
        top.clone()
            .or_else(|| self.data.as_ref()?.get(name).cloned())
    }

    fn str_arg(&self, top: &Option<Value>, name: &str) -> Result<String, Invalid> {
        match self.arg(top, name) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(Invalid::Payload),
        }
    }

    fn room(&self) -> Result<RoomArg, Invalid> {
        let name = self.str_arg(&self.room, "room")?;
        Ok(match name.parse() {
            Ok(room) => RoomArg::Valid(room),
            Err(_) => RoomArg::Invalid(name),
        })
    }
}

pub fn parse(text: &str) -> Result<Op, Invalid> {
    let frame: RawFrame = serde_json::from_str(text).map_err(|_| Invalid::Payload)?;
    let name = match (&frame.op, &frame.kind) {
        (Some(Value::String(op)), _) => op.clone(),
        (None, Some(Value::String(kind))) => kind.clone(),
        _ => return Err(Invalid::Payload),
    };
    match name.as_str() {
        "IDENTIFY" => Ok(Op::Identify {
            token: frame.str_arg(&frame.token, "token")?,
        }),
        "SUBSCRIBE" => Ok(Op::Subscribe {
            room: frame.room()?,
        }),
        "UNSUBSCRIBE" => Ok(Op::Unsubscribe {
            room: frame.room()?,
        }),
        "HEARTBEAT" => Ok(Op::Heartbeat),
        "VOICE_SIGNAL" => Ok(Op::NotSupported("VOICE_SIGNAL")),
        "VOICE_STATE" => Ok(Op::NotSupported("VOICE_STATE")),
        "TYPING" => Ok(Op::NotSupported("TYPING")),
        "PRESENCE_UPDATE" => Ok(Op::NotSupported("PRESENCE_UPDATE")),
        "PRESENCE_SUBSCRIBE" => Ok(Op::NotSupported("PRESENCE_SUBSCRIBE")),
        "RESUME" => Ok(Op::NotSupported("RESUME")),
        _ => Err(Invalid::UnknownOp),
    }
}

impl Op {
    /// The `op` label of `gateway_frames_in_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Op::Identify { .. } => "IDENTIFY",
            Op::Subscribe { .. } => "SUBSCRIBE",
            Op::Unsubscribe { .. } => "UNSUBSCRIBE",
            Op::Heartbeat => "HEARTBEAT",
            Op::NotSupported(name) => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(s: &str) -> RoomArg {
        RoomArg::Valid(s.parse().unwrap())
    }

    #[test]
    fn reads_seed_000_frames() {
        assert_eq!(
            parse(r#"{"op":"SUBSCRIBE","room":"channel:42"}"#),
            Ok(Op::Subscribe {
                room: room("channel:42")
            })
        );
        assert_eq!(
            parse(r#"{"op":"UNSUBSCRIBE","room":"dm:1"}"#),
            Ok(Op::Unsubscribe { room: room("dm:1") })
        );
        assert_eq!(parse(r#"{"op":"HEARTBEAT"}"#), Ok(Op::Heartbeat));
    }

    #[test]
    fn type_is_an_alias_of_op_and_args_may_sit_in_data() {
        assert_eq!(
            parse(r#"{"type":"SUBSCRIBE","data":{"room":"global"}}"#),
            Ok(Op::Subscribe {
                room: room("global")
            })
        );
        assert_eq!(
            parse(r#"{"op":"IDENTIFY","data":{"token":"t"}}"#),
            Ok(Op::Identify { token: "t".into() })
        );
    }

    #[test]
    fn a_bad_room_name_is_kept_for_the_error() {
        assert_eq!(
            parse(r#"{"op":"SUBSCRIBE","room":"guild:1"}"#),
            Ok(Op::Subscribe {
                room: RoomArg::Invalid("guild:1".into())
            })
        );
    }

    #[test]
    fn rejects_what_is_not_a_frame() {
        for bad in [
            "",
            "nope",
            "[]",
            "42",
            r#"{"room":"global"}"#,
            r#"{"op":5}"#,
            r#"{"op":"SUBSCRIBE"}"#,
            r#"{"op":"SUBSCRIBE","room":7}"#,
        ] {
            assert_eq!(parse(bad), Err(Invalid::Payload), "{bad}");
        }
        assert_eq!(parse(r#"{"op":"DANCE"}"#), Err(Invalid::UnknownOp));
    }
}
