//! Client frames of the native dialect. `op` names the operation (`type` is an alias, as a
//! real Zlikord client sends it); arguments sit at the top level or inside `data` (except for
//! `VOICE_SIGNAL`, whose `data` is the signal itself).

use serde_json::{Map, Value};
use shared::{Id, Room, history::Position};

/// A parsed client frame.
#[derive(Debug, PartialEq)]
pub enum Op {
    Identify {
        token: String,
    },
    Subscribe {
        room: RoomArg,
        /// Where the client's copy of the room stands: replay what came after.
        since: Option<Position>,
    },
    Unsubscribe {
        room: RoomArg,
    },
    Heartbeat,
    Typing {
        room: RoomArg,
        is_typing: bool,
    },
    VoiceState {
        room: RoomArg,
        joined: bool,
        muted: bool,
        deafened: bool,
    },
    VoiceSignal {
        room: RoomArg,
        signal: Value,
        to_user_id: Option<Id>,
    },
    PresenceUpdate {
        status: Option<Value>,
        game: Option<Value>,
        idle_since: Option<Value>,
    },
    PresenceSubscribe(PresenceTarget),
    /// Resume session `session_id`, whose frames the client read up to `seq`. Before
    /// authentication it carries the `token` (instead of IDENTIFY).
    Resume {
        session_id: String,
        seq: u64,
        token: Option<String>,
    },
}

/// What `PRESENCE_SUBSCRIBE` asks for (seed 003's three shapes).
#[derive(Debug, PartialEq)]
pub enum PresenceTarget {
    /// `user_ids`: INIT_STATE is a map id → presence.
    Many(Vec<Id>),
    /// `user_id`: INIT_STATE is one presence object.
    One(Id),
    /// `all: true`: INIT_STATE maps every known user.
    All,
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
    /// A known op with an argument that is wrong in a way worth naming.
    Argument(&'static str),
}

/// A frame's fields: the top level first, then `data`.
struct Args {
    top: Map<String, Value>,
}

impl Args {
    fn get(&self, name: &str) -> Option<&Value> {
        self.top
            .get(name)
            .or_else(|| self.top.get("data")?.get(name))
    }

    fn string(&self, name: &str) -> Result<String, Invalid> {
        match self.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(Invalid::Payload),
        }
    }

    fn room(&self) -> Result<RoomArg, Invalid> {
        let name = self.string("room")?;
        Ok(match name.parse() {
            Ok(room) => RoomArg::Valid(room),
            Err(_) => RoomArg::Invalid(name),
        })
    }

    /// A boolean argument; `default` when absent.
    fn flag(
        &self,
        name: &str,
        default: Option<bool>,
        error: &'static str,
    ) -> Result<bool, Invalid> {
        match (self.get(name), default) {
            (Some(Value::Bool(b)), _) => Ok(*b),
            (None | Some(Value::Null), Some(default)) => Ok(default),
            _ => Err(Invalid::Argument(error)),
        }
    }

    fn id(value: &Value, error: &'static str) -> Result<Id, Invalid> {
        serde_json::from_value(value.clone()).map_err(|_| Invalid::Argument(error))
    }

    /// `since: {offset, epoch}`, if given (null counts as absent).
    fn since(&self) -> Result<Option<Position>, Invalid> {
        let since = match self.get("since") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(since)) => since,
            Some(_) => {
                return Err(Invalid::Argument("since must be an object {offset, epoch}"));
            }
        };
        let offset = match since.get("offset") {
            Some(Value::Number(n)) => n.as_u64().ok_or(Invalid::Argument(
                "since.offset must be a non-negative integer",
            ))?,
            _ => {
                return Err(Invalid::Argument(
                    "since.offset must be a non-negative integer",
                ));
            }
        };
        let epoch = match since.get("epoch") {
            Some(Value::String(epoch)) if epoch.len() <= 64 => epoch.clone(),
            _ => {
                return Err(Invalid::Argument(
                    "since.epoch must be the room's epoch string",
                ));
            }
        };
        Ok(Some(Position { offset, epoch }))
    }

    fn presence_target(&self) -> Result<PresenceTarget, Invalid> {
        const IDS: &str = "user_ids must be a list of user ids";
        match (self.get("user_ids"), self.get("user_id"), self.get("all")) {
            (Some(Value::Array(ids)), None, None) => ids
                .iter()
                .map(|v| Self::id(v, IDS))
                .collect::<Result<_, _>>()
                .map(PresenceTarget::Many),
            (Some(_), None, None) => Err(Invalid::Argument(IDS)),
            (None, Some(id), None) => {
                Self::id(id, "user_id must be a user id").map(PresenceTarget::One)
            }
            (None, None, Some(Value::Bool(true))) => Ok(PresenceTarget::All),
            _ => Err(Invalid::Argument(
                "give exactly one of user_ids, user_id or all: true",
            )),
        }
    }
}

pub fn parse(text: &str) -> Result<Op, Invalid> {
    let Ok(Value::Object(top)) = serde_json::from_str::<Value>(text) else {
        return Err(Invalid::Payload);
    };
    let name = match (top.get("op"), top.get("type")) {
        (Some(Value::String(op)), _) => op.clone(),
        (None, Some(Value::String(kind))) => kind.clone(),
        _ => return Err(Invalid::Payload),
    };
    let args = Args { top };
    match name.as_str() {
        "IDENTIFY" => Ok(Op::Identify {
            token: args.string("token")?,
        }),
        "SUBSCRIBE" => Ok(Op::Subscribe {
            room: args.room()?,
            since: args.since()?,
        }),
        "UNSUBSCRIBE" => Ok(Op::Unsubscribe { room: args.room()? }),
        "HEARTBEAT" => Ok(Op::Heartbeat),
        "TYPING" => Ok(Op::Typing {
            room: args.room()?,
            is_typing: args.flag("is_typing", Some(true), "is_typing must be a boolean")?,
        }),
        "VOICE_STATE" => Ok(Op::VoiceState {
            room: args.room()?,
            joined: args.flag("joined", None, "joined must be a boolean")?,
            muted: args.flag("muted", Some(false), "muted must be a boolean")?,
            deafened: args.flag("deafened", Some(false), "deafened must be a boolean")?,
        }),
        "VOICE_SIGNAL" => {
            let room = match args.top.get("room") {
                Some(Value::String(name)) => name
                    .parse()
                    .map_or(RoomArg::Invalid(name.clone()), RoomArg::Valid),
                _ => return Err(Invalid::Payload),
            };
            let signal = match args.top.get("data") {
                Some(Value::Null) | None => {
                    return Err(Invalid::Argument("data must carry the signal"));
                }
                Some(signal) => signal.clone(),
            };
            let to_user_id = match args.top.get("to_user_id") {
                None | Some(Value::Null) => None,
                Some(id) => Some(Args::id(id, "to_user_id must be a user id")?),
            };
            Ok(Op::VoiceSignal {
                room,
                signal,
                to_user_id,
            })
        }
        "PRESENCE_UPDATE" => Ok(Op::PresenceUpdate {
            status: args.get("status").cloned(),
            game: args.get("game").cloned(),
            idle_since: args.get("idle_since").cloned(),
        }),
        "PRESENCE_SUBSCRIBE" => Ok(Op::PresenceSubscribe(args.presence_target()?)),
        "RESUME" => Ok(Op::Resume {
            session_id: match args.get("session_id") {
                Some(Value::String(id)) if !id.is_empty() && id.len() <= 128 => id.clone(),
                _ => return Err(Invalid::Argument("session_id must be a session id string")),
            },
            seq: match args.get("seq") {
                Some(Value::Number(n)) => n
                    .as_u64()
                    .ok_or(Invalid::Argument("seq must be a non-negative integer"))?,
                _ => return Err(Invalid::Argument("seq must be a non-negative integer")),
            },
            token: match args.get("token") {
                None | Some(Value::Null) => None,
                Some(Value::String(token)) => Some(token.clone()),
                Some(_) => return Err(Invalid::Argument("token must be a string")),
            },
        }),
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
            Op::Typing { .. } => "TYPING",
            Op::VoiceState { .. } => "VOICE_STATE",
            Op::VoiceSignal { .. } => "VOICE_SIGNAL",
            Op::PresenceUpdate { .. } => "PRESENCE_UPDATE",
            Op::PresenceSubscribe(_) => "PRESENCE_SUBSCRIBE",
            Op::Resume { .. } => "RESUME",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn room(s: &str) -> RoomArg {
        RoomArg::Valid(s.parse().unwrap())
    }

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    #[test]
    fn reads_seed_000_frames() {
        assert_eq!(
            parse(r#"{"op":"SUBSCRIBE","room":"channel:42"}"#),
            Ok(Op::Subscribe {
                room: room("channel:42"),
                since: None
            })
        );
        assert_eq!(
            parse(r#"{"op":"UNSUBSCRIBE","room":"dm:1"}"#),
            Ok(Op::Unsubscribe { room: room("dm:1") })
        );
        assert_eq!(parse(r#"{"op":"HEARTBEAT"}"#), Ok(Op::Heartbeat));
        assert_eq!(
            parse(
                r#"{"op":"VOICE_SIGNAL","room":"channel:5","data":{"type":"offer","sdp":"..."}}"#
            ),
            Ok(Op::VoiceSignal {
                room: room("channel:5"),
                signal: json!({"type":"offer","sdp":"..."}),
                to_user_id: None
            })
        );
    }

    #[test]
    fn type_is_an_alias_of_op_and_args_may_sit_in_data() {
        assert_eq!(
            parse(r#"{"type":"SUBSCRIBE","data":{"room":"global"}}"#),
            Ok(Op::Subscribe {
                room: room("global"),
                since: None
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
                room: RoomArg::Invalid("guild:1".into()),
                since: None
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

    #[test]
    fn live_ops_read_their_arguments() {
        assert_eq!(
            parse(r#"{"op":"TYPING","room":"channel:1"}"#),
            Ok(Op::Typing {
                room: room("channel:1"),
                is_typing: true
            })
        );
        assert_eq!(
            parse(r#"{"op":"VOICE_STATE","room":"channel:5","joined":true,"muted":true}"#),
            Ok(Op::VoiceState {
                room: room("channel:5"),
                joined: true,
                muted: true,
                deafened: false
            })
        );
        assert_eq!(
            parse(r#"{"op":"PRESENCE_SUBSCRIBE","user_ids":["1",2]}"#),
            Ok(Op::PresenceSubscribe(PresenceTarget::Many(vec![
                id("1"),
                id("2")
            ])))
        );
        assert_eq!(
            parse(r#"{"op":"PRESENCE_SUBSCRIBE","data":{"user_id":"7"}}"#),
            Ok(Op::PresenceSubscribe(PresenceTarget::One(id("7"))))
        );
        assert_eq!(
            parse(r#"{"op":"PRESENCE_SUBSCRIBE","all":true}"#),
            Ok(Op::PresenceSubscribe(PresenceTarget::All))
        );
    }

    #[test]
    fn subscribe_reads_since() {
        assert_eq!(
            parse(r#"{"op":"SUBSCRIBE","room":"channel:1","since":{"offset":7,"epoch":"ab12"}}"#),
            Ok(Op::Subscribe {
                room: room("channel:1"),
                since: Some(Position {
                    offset: 7,
                    epoch: "ab12".into()
                })
            })
        );
        for (bad, message) in [
            (r#""7""#, "since must be an object {offset, epoch}"),
            (
                r#"{"offset":"7","epoch":"e"}"#,
                "since.offset must be a non-negative integer",
            ),
            (
                r#"{"offset":-1,"epoch":"e"}"#,
                "since.offset must be a non-negative integer",
            ),
            (
                r#"{"offset":1.5,"epoch":"e"}"#,
                "since.offset must be a non-negative integer",
            ),
            (
                r#"{"epoch":"e"}"#,
                "since.offset must be a non-negative integer",
            ),
            (
                r#"{"offset":1}"#,
                "since.epoch must be the room's epoch string",
            ),
            (
                r#"{"offset":1,"epoch":3}"#,
                "since.epoch must be the room's epoch string",
            ),
        ] {
            let frame = format!(r#"{{"op":"SUBSCRIBE","room":"channel:1","since":{bad}}}"#);
            assert_eq!(parse(&frame), Err(Invalid::Argument(message)), "{frame}");
        }
    }

    #[test]
    fn resume_reads_its_session_and_seq_and_names_bad_ones() {
        assert_eq!(
            parse(r#"{"op":"RESUME","session_id":"ab-1","seq":12}"#),
            Ok(Op::Resume {
                session_id: "ab-1".into(),
                seq: 12,
                token: None
            })
        );
        assert_eq!(
            parse(r#"{"op":"RESUME","data":{"session_id":"ab-1","seq":0,"token":"t"}}"#),
            Ok(Op::Resume {
                session_id: "ab-1".into(),
                seq: 0,
                token: Some("t".into())
            })
        );
        for (bad, message) in [
            (
                r#"{"op":"RESUME","seq":1}"#,
                "session_id must be a session id string",
            ),
            (
                r#"{"op":"RESUME","session_id":5,"seq":1}"#,
                "session_id must be a session id string",
            ),
            (
                r#"{"op":"RESUME","session_id":"s"}"#,
                "seq must be a non-negative integer",
            ),
            (
                r#"{"op":"RESUME","session_id":"s","seq":-1}"#,
                "seq must be a non-negative integer",
            ),
            (
                r#"{"op":"RESUME","session_id":"s","seq":"1"}"#,
                "seq must be a non-negative integer",
            ),
            (
                r#"{"op":"RESUME","session_id":"s","seq":1,"token":1}"#,
                "token must be a string",
            ),
        ] {
            assert_eq!(parse(bad), Err(Invalid::Argument(message)), "{bad}");
        }
    }

    #[test]
    fn live_ops_name_their_bad_arguments() {
        assert_eq!(
            parse(r#"{"op":"VOICE_STATE","room":"channel:5"}"#),
            Err(Invalid::Argument("joined must be a boolean"))
        );
        assert_eq!(
            parse(r#"{"op":"TYPING","room":"channel:5","is_typing":"yes"}"#),
            Err(Invalid::Argument("is_typing must be a boolean"))
        );
        assert_eq!(
            parse(r#"{"op":"VOICE_SIGNAL","room":"channel:5"}"#),
            Err(Invalid::Argument("data must carry the signal"))
        );
        assert_eq!(
            parse(r#"{"op":"VOICE_SIGNAL","room":"channel:5","data":{},"to_user_id":"a b"}"#),
            Err(Invalid::Argument("to_user_id must be a user id"))
        );
        assert_eq!(
            parse(r#"{"op":"PRESENCE_SUBSCRIBE","user_ids":"1"}"#),
            Err(Invalid::Argument("user_ids must be a list of user ids"))
        );
        assert_eq!(
            parse(r#"{"op":"PRESENCE_SUBSCRIBE"}"#),
            Err(Invalid::Argument(
                "give exactly one of user_ids, user_id or all: true"
            ))
        );
    }
}
