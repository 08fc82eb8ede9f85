//! Client frames of the Lanyard dialect (seed 003): `{"op": <integer>, "d": {...}}`. A client
//! sends op 2 Initialize, op 3 Heartbeat and op 4 Unsubscribe; anything else is an unknown
//! opcode. Initialize and Unsubscribe name their users in `d`, in one of three shapes looked
//! for in order (the first present wins, as in the original service): a list of ids, one id,
//! or `true` for everyone.

use crate::{live::presence::Target, session::Violation};
use serde::Deserialize;
use serde_json::{Map, Value};
use shared::Id;

/// A parsed client frame.
#[derive(Debug, PartialEq)]
pub enum Op {
    /// Op 2: follow these users' presence (`subscribe_to_ids`, `subscribe_to_id`,
    /// `subscribe_to_all`).
    Initialize(Target),
    /// Op 3: proof of life; `d` is ignored.
    Heartbeat,
    /// Op 4: stop following (`unsubscribe_from_ids`, `unsubscribe_from_id`,
    /// `unsubscribe_from_all`).
    Unsubscribe(Target),
}

/// The names of a target's three shapes, in the order they are looked for.
struct Shapes {
    many: &'static str,
    one: &'static str,
    all: &'static str,
}

const SUBSCRIBE: Shapes = Shapes {
    many: "subscribe_to_ids",
    one: "subscribe_to_id",
    all: "subscribe_to_all",
};

const UNSUBSCRIBE: Shapes = Shapes {
    many: "unsubscribe_from_ids",
    one: "unsubscribe_from_id",
    all: "unsubscribe_from_all",
};

/// The op of a client frame, or the rule it broke, which closes the socket:
/// [`Violation::UnknownOp`] (4004 `unknown_opcode`) for no `op`, an `op` that is not an
/// integer, or one no client sends; [`Violation::MissingData`] (4005 `requires_data_object`)
/// for op 2 or 4 without a non-empty object in `d`; [`Violation::InvalidPayload`] (4006
/// `invalid_payload`) for what is not a JSON object, or a `d` without a well-formed target.
pub fn parse(text: &str) -> Result<Op, Violation> {
    let Ok(Value::Object(frame)) = serde_json::from_str::<Value>(text) else {
        return Err(Violation::InvalidPayload);
    };
    match frame.get("op").and_then(Value::as_u64) {
        Some(2) => target(data(&frame)?, &SUBSCRIBE).map(Op::Initialize),
        Some(3) => Ok(Op::Heartbeat),
        Some(4) => target(data(&frame)?, &UNSUBSCRIBE).map(Op::Unsubscribe),
        _ => Err(Violation::UnknownOp),
    }
}

/// `d`, when it is a non-empty object.
fn data(frame: &Map<String, Value>) -> Result<&Map<String, Value>, Violation> {
    match frame.get("d") {
        Some(Value::Object(d)) if !d.is_empty() => Ok(d),
        _ => Err(Violation::MissingData),
    }
}

/// The first of the three shapes present in `d`; a present one that is malformed is not
/// skipped over.
fn target(d: &Map<String, Value>, shapes: &Shapes) -> Result<Target, Violation> {
    if let Some(ids) = d.get(shapes.many) {
        let Value::Array(ids) = ids else {
            return Err(Violation::InvalidPayload);
        };
        return ids
            .iter()
            .map(id)
            .collect::<Result<_, _>>()
            .map(Target::Many);
    }
    if let Some(one) = d.get(shapes.one) {
        return id(one).map(Target::One);
    }
    match d.get(shapes.all) {
        Some(Value::Bool(true)) => Ok(Target::All),
        _ => Err(Violation::InvalidPayload),
    }
}

/// A user id: a string of `[A-Za-z0-9_-]{1,64}` (a Discord snowflake is one), or a
/// non-negative integer.
fn id(value: &Value) -> Result<Id, Violation> {
    Id::deserialize(value).map_err(|_| Violation::InvalidPayload)
}

impl Op {
    /// The `op` label of `gateway_frames_in_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Op::Initialize(_) => "lanyard_initialize",
            Op::Heartbeat => "lanyard_heartbeat",
            Op::Unsubscribe(_) => "lanyard_unsubscribe",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    #[test]
    fn reads_the_seed_003_initialize_shapes() {
        assert_eq!(
            parse(
                r#"{"op":2,"d":{"subscribe_to_ids":["162969778699501569","94490510688792576"]}}"#
            ),
            Ok(Op::Initialize(Target::Many(vec![
                id("162969778699501569"),
                id("94490510688792576")
            ])))
        );
        assert_eq!(
            parse(r#"{"op":2,"d":{"subscribe_to_id":"162969778699501569"}}"#),
            Ok(Op::Initialize(Target::One(id("162969778699501569"))))
        );
        assert_eq!(
            parse(r#"{"op":2,"d":{"subscribe_to_all":true}}"#),
            Ok(Op::Initialize(Target::All))
        );
        assert_eq!(
            parse(r#"{"op":2,"d":{"subscribe_to_ids":[]}}"#),
            Ok(Op::Initialize(Target::Many(vec![])))
        );
        // Integer ids are ids too.
        assert_eq!(
            parse(r#"{"op":2,"d":{"subscribe_to_id":42}}"#),
            Ok(Op::Initialize(Target::One(id("42"))))
        );
    }

    #[test]
    fn the_first_shape_present_wins() {
        assert_eq!(
            parse(r#"{"op":2,"d":{"subscribe_to_all":true,"subscribe_to_id":"7"}}"#),
            Ok(Op::Initialize(Target::One(id("7"))))
        );
        assert_eq!(
            parse(r#"{"op":2,"d":{"subscribe_to_id":"7","subscribe_to_ids":["8"]}}"#),
            Ok(Op::Initialize(Target::Many(vec![id("8")])))
        );
        // A malformed shape is not skipped for the next one.
        assert_eq!(
            parse(r#"{"op":2,"d":{"subscribe_to_ids":"8","subscribe_to_id":"7"}}"#),
            Err(Violation::InvalidPayload)
        );
    }

    #[test]
    fn heartbeat_ignores_its_data() {
        assert_eq!(parse(r#"{"op":3}"#), Ok(Op::Heartbeat));
        assert_eq!(parse(r#"{"op":3,"d":null}"#), Ok(Op::Heartbeat));
        assert_eq!(parse(r#"{"op":3,"d":"anything"}"#), Ok(Op::Heartbeat));
    }

    #[test]
    fn reads_the_unsubscribe_shapes() {
        assert_eq!(
            parse(r#"{"op":4,"d":{"unsubscribe_from_ids":["1","2"]}}"#),
            Ok(Op::Unsubscribe(Target::Many(vec![id("1"), id("2")])))
        );
        assert_eq!(
            parse(r#"{"op":4,"d":{"unsubscribe_from_id":"1"}}"#),
            Ok(Op::Unsubscribe(Target::One(id("1"))))
        );
        assert_eq!(
            parse(r#"{"op":4,"d":{"unsubscribe_from_all":true}}"#),
            Ok(Op::Unsubscribe(Target::All))
        );
        // The subscribe names do not unsubscribe.
        assert_eq!(
            parse(r#"{"op":4,"d":{"subscribe_to_id":"1"}}"#),
            Err(Violation::InvalidPayload)
        );
    }

    #[test]
    fn unknown_or_missing_opcodes_are_unknown() {
        for bad in [
            r#"{}"#,
            r#"{"d":{"subscribe_to_id":"1"}}"#,
            r#"{"op":null}"#,
            r#"{"op":"2","d":{"subscribe_to_id":"1"}}"#,
            r#"{"op":2.5}"#,
            r#"{"op":-2}"#,
            // Server-to-client ops are not client ops.
            r#"{"op":0,"d":{}}"#,
            r#"{"op":1,"d":{"heartbeat_interval":30000}}"#,
            r#"{"op":5}"#,
            r#"{"op":99999999999999999999}"#,
        ] {
            assert_eq!(parse(bad), Err(Violation::UnknownOp), "{bad}");
        }
    }

    #[test]
    fn initialize_and_unsubscribe_need_a_data_object() {
        for op in [2, 4] {
            for d in [
                "",
                r#","d":null"#,
                r#","d":{}"#,
                r#","d":[]"#,
                r#","d":"x""#,
            ] {
                let frame = format!(r#"{{"op":{op}{d}}}"#);
                assert_eq!(parse(&frame), Err(Violation::MissingData), "{frame}");
            }
        }
    }

    #[test]
    fn malformed_payloads_are_invalid() {
        for bad in [
            "",
            "nope",
            "[]",
            "42",
            r#""op""#,
            r#"{"op":2,"d":{"subscribe_to_all":false}}"#,
            r#"{"op":2,"d":{"subscribe_to_all":"true"}}"#,
            r#"{"op":2,"d":{"subscribe_to_ids":"1"}}"#,
            r#"{"op":2,"d":{"subscribe_to_ids":null}}"#,
            r#"{"op":2,"d":{"subscribe_to_ids":["1","a b"]}}"#,
            r#"{"op":2,"d":{"subscribe_to_ids":[["1"]]}}"#,
            r#"{"op":2,"d":{"subscribe_to_id":""}}"#,
            r#"{"op":2,"d":{"subscribe_to_id":-1}}"#,
            r#"{"op":2,"d":{"subscribe_to_id":{"id":"1"}}}"#,
            r#"{"op":2,"d":{"something_else":true}}"#,
            r#"{"op":4,"d":{"unsubscribe_from_all":false}}"#,
            r#"{"op":4,"d":{"unsubscribe_from_ids":[1.5]}}"#,
        ] {
            assert_eq!(parse(bad), Err(Violation::InvalidPayload), "{bad}");
        }
        let long = format!(
            r#"{{"op":2,"d":{{"subscribe_to_id":"{}"}}}}"#,
            "1".repeat(65)
        );
        assert_eq!(parse(&long), Err(Violation::InvalidPayload));
    }
}
