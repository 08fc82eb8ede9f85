//! Client frames of the Discord v3 dialect: `{"op": <number>, "d": <data>}`. Discord closed
//! the socket on a frame it could not use, so every failure here names the close it earns.

use crate::session::Violation;
use serde_json::{Map, Value};

/// A parsed client frame.
#[derive(Debug, PartialEq)]
pub enum Op {
    /// Op 1 keepalive; `d` (a timestamp, or null) is not used.
    Heartbeat,
    /// Op 2.
    Identify(Identify),
    /// Op 3: `game` null or `{name}`; `idle_since` null (active) or a time (idle).
    StatusUpdate {
        game: Option<Value>,
        idle_since: Option<Value>,
    },
    /// Op 4: join (`channel_id`) or leave (null) a voice channel.
    VoiceStateUpdate {
        channel_id: Option<String>,
        self_mute: bool,
        self_deaf: bool,
    },
    /// Op 5 voice server ping: accepted, nothing to do.
    VoicePing,
    /// Op 8 request guild members: the guilds (channels) named, whose members are sent in
    /// GUILD_MEMBERS_CHUNK dispatches.
    RequestGuildMembers { guild_ids: Vec<String> },
    /// Op 6.
    Resume {
        token: String,
        session_id: String,
        seq: u64,
    },
}

/// Op 2's data. Seed 002 lists `token`, `v`, `properties` and `large_threshold` as required;
/// the clients of the time left `large_threshold` (and `v`) out, so only the token is.
#[derive(Debug, PartialEq)]
pub struct Identify {
    pub token: String,
    pub properties: Map<String, Value>,
    pub large_threshold: Option<u64>,
    pub compress: bool,
}

impl Op {
    /// The `op` label of `gateway_frames_in_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Op::Heartbeat => "discord_heartbeat",
            Op::Identify(_) => "discord_identify",
            Op::StatusUpdate { .. } => "discord_status_update",
            Op::VoiceStateUpdate { .. } => "discord_voice_state_update",
            Op::VoicePing => "discord_voice_ping",
            Op::Resume { .. } => "discord_resume",
            Op::RequestGuildMembers { .. } => "discord_request_guild_members",
        }
    }
}

pub fn parse(text: &str) -> Result<Op, Violation> {
    let Ok(Value::Object(mut frame)) = serde_json::from_str::<Value>(text) else {
        return Err(Violation::InvalidPayload);
    };
    let op = frame
        .get("op")
        .and_then(Value::as_u64)
        .ok_or(Violation::InvalidPayload)?;
    let data = frame.remove("d").unwrap_or(Value::Null);
    match op {
        1 => Ok(Op::Heartbeat),
        2 => identify(object(data)?),
        3 => {
            let mut d = object(data)?;
            Ok(Op::StatusUpdate {
                game: d.remove("game").filter(names_a_game),
                idle_since: d.remove("idle_since"),
            })
        }
        4 => {
            let d = object(data)?;
            let channel_id = match d.get("channel_id") {
                None | Some(Value::Null) => None,
                Some(id) => Some(id_string(id).ok_or(Violation::InvalidPayload)?),
            };
            Ok(Op::VoiceStateUpdate {
                channel_id,
                self_mute: flag(&d, "self_mute")?,
                self_deaf: flag(&d, "self_deaf")?,
            })
        }
        5 => Ok(Op::VoicePing),
        8 => {
            let d = object(data)?;
            let guild_ids = match d.get("guild_id") {
                Some(Value::Array(ids)) => ids.iter().map(id_string).collect::<Option<_>>(),
                Some(id) => id_string(id).map(|id| vec![id]),
                None => None,
            };
            Ok(Op::RequestGuildMembers {
                guild_ids: guild_ids.ok_or(Violation::InvalidPayload)?,
            })
        }
        6 => {
            let d = object(data)?;
            Ok(Op::Resume {
                token: string(&d, "token")?,
                session_id: string(&d, "session_id")?,
                seq: d
                    .get("seq")
                    .and_then(Value::as_u64)
                    .ok_or(Violation::InvalidPayload)?,
            })
        }
        _ => Err(Violation::UnknownOp),
    }
}

/// Whether op 3's `game` names a game: the clients of the time sent `{"name": null}` (and
/// `{}`) for none.
fn names_a_game(game: &Value) -> bool {
    match game {
        Value::Object(game) => !matches!(game.get("name"), None | Some(Value::Null)),
        _ => !game.is_null(),
    }
}

fn identify(mut d: Map<String, Value>) -> Result<Op, Violation> {
    let token = string(&d, "token")?;
    let properties = match d.remove("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(properties)) => properties,
        Some(_) => return Err(Violation::InvalidPayload),
    };
    let large_threshold = match d.get("large_threshold") {
        None | Some(Value::Null) => None,
        Some(n) => Some(n.as_u64().ok_or(Violation::InvalidPayload)?),
    };
    let compress = match d.get("compress") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Violation::InvalidPayload),
    };
    if let Some(v) = d.get("v")
        && v.as_u64() != Some(3)
    {
        return Err(Violation::UnsupportedVersion);
    }
    Ok(Op::Identify(Identify {
        token,
        properties,
        large_threshold,
        compress,
    }))
}

fn object(data: Value) -> Result<Map<String, Value>, Violation> {
    match data {
        Value::Object(d) => Ok(d),
        _ => Err(Violation::MissingData),
    }
}

fn string(d: &Map<String, Value>, name: &str) -> Result<String, Violation> {
    match d.get(name) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 8192 => Ok(s.clone()),
        _ => Err(Violation::InvalidPayload),
    }
}

fn flag(d: &Map<String, Value>, name: &str) -> Result<bool, Violation> {
    match d.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Violation::InvalidPayload),
    }
}

/// An id as Discord sent it (a string), or as a number.
fn id_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_seed_identify_and_the_short_one_clients_sent() {
        let seed = r#"{"op":2,"d":{"token":"t","v":3,"properties":{"$os":"Windows","$browser":"Chrome","$device":"","$referrer":" https://discordapp.com/@me","$referring_domain":"discordapp.com"},"large_threshold":100,"compress":true}}"#;
        let Ok(Op::Identify(identify)) = parse(seed) else {
            panic!("{:?}", parse(seed));
        };
        assert_eq!(identify.token, "t");
        assert_eq!(identify.large_threshold, Some(100));
        assert!(identify.compress);
        assert_eq!(identify.properties["$os"], json!("Windows"));
        assert_eq!(
            parse(r#"{"op":2,"d":{"token":"t","properties":{}}}"#),
            Ok(Op::Identify(Identify {
                token: "t".into(),
                properties: Map::new(),
                large_threshold: None,
                compress: false
            }))
        );
    }

    #[test]
    fn keepalive_takes_milliseconds_seconds_strings_or_null() {
        for d in [r#""1450996513618""#, "1450996513", "null", "1450996513618"] {
            assert_eq!(parse(&format!(r#"{{"op":1,"d":{d}}}"#)), Ok(Op::Heartbeat));
        }
        assert_eq!(parse(r#"{"op":1}"#), Ok(Op::Heartbeat));
    }

    #[test]
    fn status_update_and_resume() {
        assert_eq!(
            parse(r#"{"op":3,"d":{"game":{"name":"Game name"},"idle_since":null}}"#),
            Ok(Op::StatusUpdate {
                game: Some(json!({"name":"Game name"})),
                idle_since: Some(Value::Null)
            })
        );
        assert_eq!(
            parse(r#"{"op":6,"d":{"token":"t","session_id":"s","seq":4}}"#),
            Ok(Op::Resume {
                token: "t".into(),
                session_id: "s".into(),
                seq: 4
            })
        );
    }

    #[test]
    fn a_game_without_a_name_is_no_game() {
        // discord.js 6 sent `game: {name: null}` to clear the game, `{}` before it had one.
        for game in [r#"{"name":null}"#, "{}", "null"] {
            assert_eq!(
                parse(&format!(
                    r#"{{"op":3,"d":{{"game":{game},"idle_since":null}}}}"#
                )),
                Ok(Op::StatusUpdate {
                    game: None,
                    idle_since: Some(Value::Null)
                }),
                "{game}"
            );
        }
    }

    #[test]
    fn request_guild_members_takes_one_id_or_a_list() {
        for (d, ids) in [
            (r#"{"guild_id":"7","query":"","limit":0}"#, vec!["7"]),
            (r#"{"guild_id":["7",8]}"#, vec!["7", "8"]),
        ] {
            assert_eq!(
                parse(&format!(r#"{{"op":8,"d":{d}}}"#)),
                Ok(Op::RequestGuildMembers {
                    guild_ids: ids.into_iter().map(String::from).collect()
                })
            );
        }
        assert_eq!(parse(r#"{"op":8,"d":{}}"#), Err(Violation::InvalidPayload));
    }

    #[test]
    fn each_failure_names_its_close() {
        for (frame, violation) in [
            ("nope", Violation::InvalidPayload),
            ("[]", Violation::InvalidPayload),
            (r#"{"op":"2"}"#, Violation::InvalidPayload),
            (r#"{"op":99,"d":{}}"#, Violation::UnknownOp),
            (r#"{"op":2}"#, Violation::MissingData),
            (
                r#"{"op":2,"d":{"properties":{}}}"#,
                Violation::InvalidPayload,
            ),
            (
                r#"{"op":2,"d":{"token":"t","v":6}}"#,
                Violation::UnsupportedVersion,
            ),
            (
                r#"{"op":6,"d":{"token":"t","session_id":"s"}}"#,
                Violation::InvalidPayload,
            ),
        ] {
            assert_eq!(parse(frame), Err(violation), "{frame}");
        }
    }
}
