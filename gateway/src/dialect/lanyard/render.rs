//! Presence as Lanyard shows it (seed 003): the presence object of `INIT_STATE` and of
//! `PRESENCE_UPDATE` (which adds `user_id`), with Lanyard's field names where this system has
//! the data and fixed values where it does not (docs/protocol-lanyard.md has the table).
//!
//! Rendered once per event on the fan-out path, from the event alone (no broker calls).

use super::frames;
use crate::{dialect::Inbound, live::presence::Initial};
use axum::extract::ws::Message;
use serde_json::{Map, Value, json};
use shared::{
    event::{Event, Presence},
    presence::Platform,
};

/// Discord's `type` of an activity: 0 is "Playing".
const PLAYING: u64 = 0;
/// The highest activity type Discord defines (5, "Competing"; 4 is a custom status).
const MAX_ACTIVITY_TYPE: u64 = 5;

/// The `PRESENCE_UPDATE` frame for `inbound`, if it is a presence update; Lanyard shows
/// nothing else.
pub fn event(inbound: &Inbound) -> Option<Message> {
    match &inbound.envelope.as_ref()?.event {
        Event::PresenceUpdate(p) => Some(frames::presence_update(update(p))),
        _ => None,
    }
}

/// `PRESENCE_UPDATE`'s `d`: the presence object plus `user_id`.
pub fn update(p: &Presence) -> Value {
    let mut d = presence(p);
    d["user_id"] = Value::String(p.user_id.to_string());
    d
}

/// `INIT_STATE`'s `d`: one presence object, or a map of user id → presence object.
pub fn initial(initial: Initial) -> Value {
    match initial {
        Initial::One(p) => presence(&p),
        Initial::Many(all) => {
            let map: Map<String, Value> = all
                .iter()
                .map(|p| (p.user_id.to_string(), presence(p)))
                .collect();
            Value::Object(map)
        }
    }
}

/// A Lanyard presence object.
pub fn presence(p: &Presence) -> Value {
    let on = |platform| p.active_on.contains(&platform);
    json!({
        "discord_user": discord_user(p),
        "discord_status": p.status,
        "activities": activities(p.game.as_ref()),
        "active_on_discord_desktop": on(Platform::Desktop),
        "active_on_discord_mobile": on(Platform::Mobile),
        "active_on_discord_web": on(Platform::Web),
        "active_on_discord_embedded": false,
        "listening_to_spotify": false,
        "spotify": null,
        "kv": {},
    })
}

/// The user as Discord would describe them: the id, and the name of their latest named
/// session (the token's `name` claim); without one, `username` is the id (a string either
/// way) and the display names are null. No avatar, no discriminator (`"0"`, as for every
/// Discord account since the 2023 username change), never a bot.
fn discord_user(p: &Presence) -> Value {
    let id = p.user_id.to_string();
    let username = p.username.clone().unwrap_or_else(|| id.clone());
    json!({
        "id": id,
        "username": username,
        "global_name": p.username,
        "display_name": p.username,
        "discriminator": "0",
        "avatar": null,
        "avatar_decoration_data": null,
        "bot": false,
        "public_flags": 0,
    })
}

/// The user's activity as Discord's list: `[{"name", "type"}]` from the presence's `game`
/// (its `type` when it is one of Discord's activity types, else 0, "Playing"); empty without
/// a game.
fn activities(game: Option<&Value>) -> Value {
    let Some(name) = game.and_then(|g| g.get("name")).and_then(Value::as_str) else {
        return json!([]);
    };
    let kind = game
        .and_then(|g| g.get("type"))
        .and_then(Value::as_u64)
        .filter(|t| *t <= MAX_ACTIVITY_TYPE)
        .unwrap_or(PLAYING);
    json!([{ "name": name, "type": kind }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use shared::{Id, event::Envelope};

    fn user(id: &str) -> Id {
        Id::parse(id).unwrap()
    }

    fn online(id: &str) -> Presence {
        Presence {
            user_id: user(id),
            status: "idle".into(),
            game: Some(json!({"name": "chess", "type": 3})),
            idle_since: Some(5),
            active_on: vec![Platform::Desktop, Platform::Web],
            username: Some("ann".into()),
        }
    }

    #[test]
    fn a_presence_has_lanyard_fields() {
        assert_eq!(
            presence(&online("7")),
            json!({
                "discord_user": {
                    "id": "7", "username": "ann", "global_name": "ann", "display_name": "ann",
                    "discriminator": "0", "avatar": null, "avatar_decoration_data": null,
                    "bot": false, "public_flags": 0,
                },
                "discord_status": "idle",
                "activities": [{"name": "chess", "type": 3}],
                "active_on_discord_desktop": true,
                "active_on_discord_mobile": false,
                "active_on_discord_web": true,
                "active_on_discord_embedded": false,
                "listening_to_spotify": false,
                "spotify": null,
                "kv": {},
            })
        );
    }

    #[test]
    fn an_offline_user_has_no_activity_and_their_id_for_a_name() {
        let p = presence(&shared::presence::offline(&user("9")));
        assert_eq!(p["discord_status"], "offline");
        assert_eq!(p["activities"], json!([]));
        assert_eq!(p["discord_user"]["username"], "9");
        assert_eq!(p["discord_user"]["global_name"], Value::Null);
        assert_eq!(p["active_on_discord_web"], false);
    }

    #[test]
    fn unknown_activity_types_play() {
        for game in [
            json!({"name": "go"}),
            json!({"name": "go", "type": 99}),
            json!({"name": "go", "type": "2"}),
        ] {
            assert_eq!(
                activities(Some(&game)),
                json!([{"name": "go", "type": 0}]),
                "{game}"
            );
        }
        assert_eq!(activities(Some(&json!({"title": "go"}))), json!([]));
    }

    #[test]
    fn presence_updates_render_with_user_id_and_nothing_else_does() {
        let envelope = Envelope::new(Event::PresenceUpdate(online("7")));
        let inbound = Inbound::parse(b"presence:7", Bytes::from(envelope.to_json())).unwrap();
        let Some(Message::Text(text)) = event(&inbound) else {
            panic!("no frame")
        };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(frame["op"], 0);
        assert_eq!(frame["t"], "PRESENCE_UPDATE");
        assert_eq!(frame["d"]["user_id"], "7");
        assert_eq!(frame["d"]["discord_status"], "idle");

        let other = Envelope::new(Event::ChannelDeleted(shared::event::ChannelRef {
            channel_id: user("1"),
        }));
        let inbound = Inbound::parse(b"presence:7", Bytes::from(other.to_json())).unwrap();
        assert!(event(&inbound).is_none());
        let foreign = Bytes::from_static(br#"{"type":"MARKER","data":{}}"#);
        assert!(event(&Inbound::parse(b"presence:7", foreign).unwrap()).is_none());
    }

    #[test]
    fn init_state_is_one_object_or_a_map() {
        assert_eq!(
            initial(Initial::One(online("7")))["discord_user"]["id"],
            "7"
        );
        let map = initial(Initial::Many(vec![
            online("7"),
            shared::presence::offline(&user("8")),
        ]));
        assert_eq!(map["7"]["discord_status"], "idle");
        assert_eq!(map["8"]["discord_status"], "offline");
        assert!(map["7"].get("user_id").is_none());
        assert_eq!(initial(Initial::Many(vec![])), json!({}));
    }
}
