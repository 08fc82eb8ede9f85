//! The Discord v3 codec over the session core: identify or resume, READY with the user's
//! guilds and private channels, implicit subscriptions that follow membership live, keepalives,
//! status and voice updates. Bad input closes the socket with Discord's code, as Discord did.

use super::{
    codec::{self, Identify, Op},
    frames,
    guilds::{self, Described},
};
use crate::{
    config::Limits,
    dialect::compress::{Stream, Transport, Whole},
    live::presence,
    session::{
        CloseReason, Session, Violation,
        driver::{Codec, Frame, Strike},
        pump::Encoder,
    },
};
use axum::extract::ws::{CloseFrame, Message};
use serde_json::{Map, Value, json};
use shared::{
    Id, Room,
    history::Position,
    live::now_ms,
    presence::{Platform, SessionPresence},
};
use std::collections::BTreeSet;

/// Most users whose presence one Discord session follows (its guilds' listed members and its
/// DM recipients, in that order).
const MAX_FOLLOWED_PRESENCES: usize = 200;

/// How the session starts: a fresh identify, or a resume of an earlier session.
pub(super) enum Start {
    Identify(Box<Identify>),
    Resume { session_id: String, seq: u64 },
}

pub(super) struct DiscordCodec {
    pub(super) start: Option<Start>,
    /// `?compress=zlib-stream`.
    pub(super) transport: Option<Transport>,
    /// Identify's `compress: true`: READY and GUILD_CREATE as whole zlib streams.
    pub(super) compress_large: bool,
    pub(super) large_threshold: u64,
    /// Rooms the node let the user into while this session is open.
    pub(super) grants: flume::Receiver<Room>,
}

impl Codec for DiscordCodec {
    async fn on_open(&mut self, session: &mut Session) {
        match self.start.take() {
            Some(Start::Resume { session_id, seq }) => {
                resume(self, session, &session_id, seq).await
            }
            Some(Start::Identify(identify)) => {
                session.set_platform(platform(&identify.properties));
                greet(self, session).await
            }
            None => greet(self, session).await,
        }
    }

    async fn on_frame(&mut self, session: &mut Session, frame: Frame) -> Result<(), Strike> {
        let metrics = session.node().metrics.clone();
        let op = match frame {
            Frame::Text(text) => codec::parse(&text),
            // Discord's clients sent JSON text; a binary or oversized frame cannot be decoded.
            Frame::Binary(_) | Frame::Oversized => Err(Violation::InvalidPayload),
        };
        let op = match op {
            Ok(op) => op,
            Err(violation) => {
                metrics.frames_in.with_label_values(&["invalid"]).inc();
                session.outbound().close(CloseReason::Violation(violation));
                return Err(Strike);
            }
        };
        metrics.frames_in.with_label_values(&[op.label()]).inc();
        match op {
            Op::Heartbeat | Op::VoicePing => {}
            Op::Identify(_) | Op::Resume { .. } => {
                let violation = Violation::AlreadyAuthenticated;
                session.outbound().close(CloseReason::Violation(violation));
            }
            Op::StatusUpdate { game, idle_since } => {
                let update = presence::parse(None, game.as_ref(), idle_since.as_ref());
                match update {
                    Ok(update) => {
                        if let Err(error) = session.set_presence(&update).await {
                            tracing::warn!(%error, user.id = %session.user_id(), "status update not published");
                        }
                    }
                    Err(_) => {
                        let violation = Violation::InvalidPayload;
                        session.outbound().close(CloseReason::Violation(violation));
                    }
                }
            }
            Op::VoiceStateUpdate {
                channel_id,
                self_mute,
                self_deaf,
            } => voice_state(session, channel_id, self_mute, self_deaf).await,
            Op::RequestGuildMembers { guild_ids } => {
                for id in guild_ids.iter().filter_map(|id| Id::parse(id).ok()) {
                    if let Some(chunk) = guilds::members_chunk(session, &id).await {
                        session.send(frames::dispatch("GUILD_MEMBERS_CHUNK", chunk));
                    }
                }
            }
        }
        Ok(())
    }

    /// Discord's own gateway allowed 120 client ops per 60 s.
    fn frames_per_minute(limits: &Limits) -> Option<u32> {
        Some(limits.discord_ops_per_minute)
    }

    fn close_frame(reason: CloseReason) -> CloseFrame {
        let (code, text) = close(reason);
        CloseFrame {
            code,
            reason: text.into(),
        }
    }

    fn encoder(&mut self) -> Box<dyn Encoder> {
        let stamp = |message: &Message, seq| frames::with_seq(message, seq);
        match (self.transport, self.compress_large) {
            // Transport compression covers everything; payload compression is then off.
            (Some(Transport::ZlibStream), _) => Box::new(Stream::new(stamp)),
            (None, true) => {
                let mut whole = Whole(stamp);
                Box::new(move |message: &Message, seq| {
                    if frames::is_large_dispatch(message) {
                        whole.encode(message, seq)
                    } else {
                        frames::with_seq(message, seq)
                    }
                })
            }
            (None, false) => Box::new(stamp),
        }
    }

    async fn wake(&mut self) -> Option<Room> {
        self.grants.recv_async().await.ok()
    }

    async fn on_wake(&mut self, session: &mut Session, room: Room) {
        // Still in it (a repeated grant); a room the node took the socket out of counts as
        // left, whatever the session's own list says.
        if session
            .node()
            .hub
            .is_member(&room.to_string(), session.conn())
        {
            return;
        }
        match &room {
            // A new thread: everything in it is new to the client (CHANNEL_CREATE came on
            // the user's own room).
            Room::Dm(_) => {
                follow(session, &room, &Position::none(), None).await;
            }
            _ => {
                let Some(described) = guilds::describe(session, &room, self.large_threshold).await
                else {
                    return;
                };
                // GUILD_CREATE is the subscription's answer: it goes once the room is joined,
                // before what it replays and what comes live (its deletion included); a room
                // the user may no longer read gets none. Its members' presences are followed
                // after it, so that none of their updates comes before the guild.
                let guild = frames::dispatch("GUILD_CREATE", described.object.clone());
                if follow(session, &room, &described.position, Some(guild)).await == Followed::Yes {
                    follow_presences(session, std::slice::from_ref(&described)).await;
                }
            }
        }
    }
}

/// A fresh session: the user's own room (for grants), the presences READY lists, READY, then
/// the implicit rooms from where READY saw them, and the session's own presence.
async fn greet(codec: &DiscordCodec, session: &mut Session) {
    // READY is the first dispatch, before any event of the user's own room.
    session.outbound().hold();
    let described = own_room_and_rooms(codec, session).await;
    // Followed before READY goes (presence rooms keep no history): a change right after READY
    // would otherwise be lost; one that comes meanwhile is held until READY is written.
    follow_presences(session, &described).await;
    session.send_ahead([ready(session, &described)]);
    settle(session, &described).await;
}

/// Joins the user's own room and describes every room the user belongs to.
async fn own_room_and_rooms(codec: &DiscordCodec, session: &mut Session) -> Vec<Described> {
    if let Err(error) = session.enter(&Room::User(session.user_id().clone())).await {
        tracing::warn!(%error, user.id = %session.user_id(), "own room not joined; membership changes will not follow");
    }
    let rooms = match session.node().broker.user_rooms(session.user_id()).await {
        Ok(rooms) => rooms,
        Err(error) => {
            tracing::warn!(%error, user.id = %session.user_id(), "reading the user's rooms failed");
            session.outbound().close(CloseReason::Reconnect);
            return Vec::new();
        }
    };
    let mut described = Vec::new();
    for room in rooms {
        if session.rooms().any(|r| *r == room.to_string()) {
            continue;
        }
        if let Some(d) = guilds::describe(session, &room, codec.large_threshold).await {
            described.push(d);
        }
    }
    described
}

/// After READY (or RESUMED): the described rooms from where they were described, then this
/// session's own presence.
async fn settle(session: &mut Session, described: &[Described]) {
    for d in described {
        if follow(session, &d.room, &d.position, None).await == Followed::NotAllowed
            && let Some(gone) = frames::revoked(&d.room.to_string())
        {
            // Left or deleted since it was described: the client drops it too.
            session.send(gone);
        }
    }
    if let Err(error) = session
        .set_presence(&SessionPresence::online(now_ms()))
        .await
    {
        tracing::warn!(%error, user.id = %session.user_id(), "publishing presence failed");
    }
}

#[derive(PartialEq, Eq)]
enum Followed {
    Yes,
    /// The user may not read the room (any more: left, kicked, deleted).
    NotAllowed,
    /// The session is closing with a reconnect.
    Failed,
}

/// Subscribes to `room` from `position`, replaying what came after it, after `answer` if
/// given. A room that cannot be joined for another reason than access ends the session (op 7
/// semantics: reconnect), rather than leave it silently without the room's events.
async fn follow(
    session: &mut Session,
    room: &Room,
    position: &Position,
    answer: Option<Message>,
) -> Followed {
    match session.subscribe(room, Some(position), |_| answer).await {
        Ok(_) => Followed::Yes,
        Err(crate::session::SubscribeError::Forbidden) => Followed::NotAllowed,
        Err(error) => {
            tracing::warn!(%error, %room, user.id = %session.user_id(), "implicit room not joined; asking the client to reconnect");
            session.send(frames::reconnect(None));
            session.outbound().close(CloseReason::Reconnect);
            Followed::Failed
        }
    }
}

/// Follows the presence of the users the described rooms list (whose presences they carry: a
/// change between that read and this follow is not seen).
async fn follow_presences(session: &mut Session, described: &[Described]) {
    let me = session.user_id().clone();
    let distinct: BTreeSet<&Id> = described
        .iter()
        .flat_map(|d| &d.users)
        .filter(|u| **u != me)
        .collect();
    match session
        .follow_presences(distinct.into_iter().take(MAX_FOLLOWED_PRESENCES))
        .await
    {
        Ok(failed) if failed.is_empty() => {}
        Ok(failed) => tracing::debug!(users = failed.len(), "presences not followed"),
        Err(error) => tracing::debug!(%error, "presences not followed"),
    }
}

fn ready(session: &Session, described: &[Described]) -> Message {
    let (mut guilds, mut private_channels) = (Vec::new(), Vec::new());
    for d in described {
        match d.room {
            Room::Dm(_) => private_channels.push(d.object.clone()),
            _ => guilds.push(d.object.clone()),
        }
    }
    let username = session.username().map(str::to_owned);
    let mut me = frames::user(session.user_id(), username.as_deref());
    me["verified"] = json!(true);
    me["email"] = Value::Null;
    frames::dispatch(
        "READY",
        json!({
            "v": 3,
            "user": me,
            "session_id": session.id(),
            "heartbeat_interval": session.node().config.limits.heartbeat_interval_ms,
            "guilds": guilds,
            "private_channels": private_channels,
            "read_state": [],
            "relationships": [],
            "user_settings": {},
            "user_guild_settings": [],
        }),
    )
}

/// Op 6: the missed dispatches, then RESUMED; rooms the user joined meanwhile are added with
/// a GUILD_CREATE. A session that cannot be resumed gets a fresh READY, as Discord's v3
/// gateway did.
async fn resume(codec: &DiscordCodec, session: &mut Session, id: &str, seq: u64) {
    if session.resume(id, seq).await.is_err() {
        return greet(codec, session).await;
    }
    let described = own_room_and_rooms(codec, session).await;
    for d in &described {
        let t = match d.room {
            Room::Dm(_) => "CHANNEL_CREATE",
            _ => "GUILD_CREATE",
        };
        session.send(frames::dispatch(t, d.object.clone()));
    }
    // After the guilds that list them, before RESUMED.
    follow_presences(session, &described).await;
    session.send(frames::dispatch(
        "RESUMED",
        json!({
            "session_id": session.id(),
            "heartbeat_interval": session.node().config.limits.heartbeat_interval_ms,
        }),
    ));
    settle(session, &described).await;
}

/// Op 4: into the voice channel `channel_id`, or out of the current one (null).
async fn voice_state(session: &mut Session, channel_id: Option<String>, mute: bool, deaf: bool) {
    let outcome = match channel_id {
        Some(id) => match Id::parse(&id) {
            Ok(id) => session.join_voice(&Room::Channel(id), mute, deaf).await,
            Err(_) => Err(crate::live::voice::VoiceError::Forbidden),
        },
        None => match session.voice_channel().cloned() {
            Some(current) => session.leave_voice(&Room::Channel(current)).await,
            None => Ok(()),
        },
    };
    if let Err(error) = outcome {
        // Discord answered a refused voice join with nothing; say why in the log.
        tracing::debug!(?error, "voice state update refused");
    }
}

/// The kind of client an identify's `properties` describe.
pub(super) fn platform(properties: &Map<String, Value>) -> Platform {
    let get = |key: &str| {
        properties
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let (os, browser, device) = (get("$os"), get("$browser"), get("$device"));
    if ["ios", "android"].contains(&os.as_str()) || !device.is_empty() {
        Platform::Mobile
    } else if ["chrome", "firefox", "safari", "edge", "opera"]
        .iter()
        .any(|b| browser.contains(b))
    {
        Platform::Web
    } else {
        Platform::Desktop
    }
}

/// Discord's close code and reason for each way a session ends.
pub(super) fn close(reason: CloseReason) -> (u16, &'static str) {
    match reason {
        CloseReason::Violation(Violation::UnknownOp) => (4001, "unknown opcode"),
        CloseReason::Violation(Violation::InvalidPayload | Violation::MissingData) => {
            (4002, "decode error")
        }
        CloseReason::Violation(Violation::NotAuthenticated) | CloseReason::NotAuthenticated => {
            (4003, "not authenticated")
        }
        CloseReason::AuthFailed => (4004, "authentication failed"),
        CloseReason::Violation(Violation::AlreadyAuthenticated) => (4005, "already authenticated"),
        CloseReason::Superseded => (4006, "session no longer valid"),
        CloseReason::Violation(Violation::InvalidSeq) => (4007, "invalid seq"),
        CloseReason::RateLimited => (4008, "rate limited"),
        CloseReason::TooManySockets => (4008, "too many sessions for this user"),
        CloseReason::HeartbeatTimeout => (4009, "session timeout"),
        CloseReason::Violation(Violation::UnsupportedVersion) => (4012, "invalid API version"),
        CloseReason::TooManyInvalidFrames => (4002, "decode error"),
        CloseReason::SlowConsumer => (4000, "unknown error: too slow, reconnect"),
        CloseReason::Reconnect => (4000, "reconnect"),
        CloseReason::ServerShutdown => (1001, "node shutting down"),
        CloseReason::FrameTooLarge => (1009, "frame too large"),
        CloseReason::ClientGone => (1000, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_name_the_platform() {
        let props = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            platform(&props(json!({"$os":"Windows","$browser":"Chrome"}))),
            Platform::Web
        );
        assert_eq!(
            platform(&props(
                json!({"$os":"Android","$browser":"Discord Android"})
            )),
            Platform::Mobile
        );
        assert_eq!(
            platform(&props(
                json!({"$os":"linux","$browser":"discord.py","$device":""})
            )),
            Platform::Desktop
        );
    }
}
