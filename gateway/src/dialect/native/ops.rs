//! The native dialect's codec over the session core: each op becomes a session call, each
//! outcome one frame, each error one `ERROR` text (exhaustive matches, no catch-all).

use super::{
    codec::{self, Invalid, Op, PresenceTarget, RoomArg},
    frames,
};
use crate::dialect::compress::Transport;
use crate::{
    live::{presence, typing::TypingError, voice::VoiceError},
    session::{
        CloseReason, Session, SubscribeError, Subscription,
        driver::{Codec, Frame, Strike},
        pump::Encoder,
        resume::{ResumeError, Resumed},
    },
};
use axum::extract::ws::{CloseFrame, Message};
use serde_json::{Map, Value};
use shared::event::Presence;

/// Translates native ops to session calls and session outcomes to native frames.
pub(super) struct NativeCodec {
    /// A RESUME the client sent instead of IDENTIFY, carried out when the session opens.
    pub(super) resume: super::ResumeRequest,
    /// `?compress=zlib-stream`: one zlib context for the socket's whole life.
    pub(super) compress: Option<Transport>,
}

impl Codec for NativeCodec {
    async fn on_open(&mut self, session: &mut Session) {
        let Some(request) = self.resume.take() else {
            return super::greet(session, None).await;
        };
        let (id, seq) = *request;
        // Resumed rooms first (replays are queued before RESUMED), then what every session
        // has; a session that cannot be resumed is greeted as a new one.
        match session.resume(&id, seq).await {
            Ok(resumed) => {
                super::join_automatic_rooms(session).await;
                session.send(resumed_frame(session, &id, resumed));
            }
            Err(error) => super::greet(session, Some(resume_error(&id, error))).await,
        }
    }

    async fn on_frame(&mut self, session: &mut Session, frame: Frame) -> Result<(), Strike> {
        let metrics = session.node().metrics.clone();
        let op = match frame {
            Frame::Text(text) => codec::parse(&text),
            Frame::Binary(_) | Frame::Oversized => Err(Invalid::Payload),
        };
        let op = match op {
            Ok(op) => op,
            Err(invalid) => {
                metrics.frames_in.with_label_values(&["invalid"]).inc();
                session.send(frames::error(invalid_message(&invalid), None));
                return Err(Strike);
            }
        };
        metrics.frames_in.with_label_values(&[op.label()]).inc();
        match op {
            Op::Heartbeat => {
                session.send(frames::heartbeat_ack());
            }
            Op::Identify { .. } => {
                session.send(frames::error("already authenticated", None));
                return Err(Strike);
            }
            Op::Subscribe { room, since } => {
                let error = match room {
                    RoomArg::Valid(room) => {
                        let name = room.to_string();
                        let answer = |s: &Subscription| {
                            Some(frames::subscribed(&name, &s.position, s.recovered))
                        };
                        match session.subscribe(&room, since.as_ref(), answer).await {
                            Ok(_) => None,
                            Err(error) => Some(frames::error(subscribe_error(error), Some(&name))),
                        }
                    }
                    RoomArg::Invalid(name) => Some(frames::error("forbidden room", Some(&name))),
                };
                if let Some(error) = error {
                    session.send(error);
                }
            }
            Op::Unsubscribe { room } => {
                let name = match room {
                    RoomArg::Valid(room) => {
                        session.unsubscribe(&room);
                        room.to_string()
                    }
                    RoomArg::Invalid(name) => name,
                };
                session.send(frames::unsubscribed(&name));
            }
            Op::Typing { room, is_typing } => {
                let outcome = match &room {
                    RoomArg::Valid(room) => session.typing(room, is_typing).await,
                    RoomArg::Invalid(_) => Err(TypingError::Forbidden),
                };
                if let Err(error) = outcome {
                    session.send(frames::error(typing_error(error), Some(&room_name(&room))));
                }
            }
            Op::VoiceState {
                room,
                joined,
                muted,
                deafened,
            } => {
                let outcome = match &room {
                    RoomArg::Valid(room) if joined => {
                        session.join_voice(room, muted, deafened).await
                    }
                    RoomArg::Valid(room) => session.leave_voice(room).await,
                    RoomArg::Invalid(_) => Err(VoiceError::Forbidden),
                };
                if let Err(error) = outcome {
                    session.send(frames::error(voice_error(error), Some(&room_name(&room))));
                }
            }
            Op::VoiceSignal {
                room,
                signal,
                to_user_id,
            } => {
                let outcome = match &room {
                    RoomArg::Valid(room) => session.voice_signal(room, signal, to_user_id).await,
                    RoomArg::Invalid(_) => Err(VoiceError::Forbidden),
                };
                if let Err(error) = outcome {
                    session.send(frames::error(voice_error(error), Some(&room_name(&room))));
                }
            }
            Op::PresenceUpdate {
                status,
                game,
                idle_since,
            } => match presence::parse(status.as_ref(), game.as_ref(), idle_since.as_ref()) {
                Ok(update) => {
                    if session.set_presence(&update).await.is_err() {
                        session.send(frames::error("presence unavailable, try again", None));
                    }
                }
                Err(invalid) => {
                    session.send(frames::error(&invalid.to_string(), None));
                    return Err(Strike);
                }
            },
            Op::PresenceSubscribe(target) => {
                let reply = presence_subscribe(session, target).await;
                session.send(reply);
            }
            Op::Resume {
                session_id, seq, ..
            } => {
                let reply = match session.resume(&session_id, seq).await {
                    Ok(resumed) => resumed_frame(session, &session_id, resumed),
                    Err(error) => resume_error(&session_id, error),
                };
                session.send(reply);
            }
        }
        Ok(())
    }

    fn close_frame(reason: CloseReason) -> CloseFrame {
        let (code, text) = match reason {
            CloseReason::TooManyInvalidFrames => (4002, "too many invalid frames"),
            CloseReason::NotAuthenticated => (4003, "not authenticated"),
            CloseReason::AuthFailed => (4004, "authentication failed"),
            CloseReason::RateLimited => (4008, "rate limited"),
            CloseReason::HeartbeatTimeout => (4009, "session timed out"),
            CloseReason::SlowConsumer => (4020, "slow consumer"),
            CloseReason::ServerShutdown => (1001, "node shutting down"),
            CloseReason::Reconnect => (4021, "reconnect"),
            CloseReason::Superseded => (4022, "session resumed elsewhere"),
            CloseReason::TooManySockets => (4029, "too many sockets for this user"),
            CloseReason::FrameTooLarge => (1009, "frame too large"),
            // The native dialect answers bad frames with ERROR; only `invalid_frames` closes.
            CloseReason::Violation(_) => (4002, "invalid frame"),
            CloseReason::ClientGone => (1000, ""),
        };
        CloseFrame {
            code,
            reason: text.into(),
        }
    }

    fn encoder(&mut self) -> Box<dyn Encoder> {
        let stamp = |message: &Message, seq| frames::with_seq(message, seq);
        match self.compress {
            Some(Transport::ZlibStream) => Box::new(crate::dialect::compress::Stream::new(stamp)),
            None => Box::new(stamp),
        }
    }
}

/// Follows the users' presence rooms, then answers `INIT_STATE` in the shape asked for.
async fn presence_subscribe(session: &mut Session, target: PresenceTarget) -> Message {
    let target = match target {
        PresenceTarget::Many(users) => presence::Target::Many(users),
        PresenceTarget::One(user) => presence::Target::One(user),
        PresenceTarget::All => presence::Target::All,
    };
    match presence::follow(session, target).await {
        Ok(presence::Initial::One(presence)) => frames::init_state(presence_value(presence)),
        Ok(presence::Initial::Many(presences)) => frames::init_state(presence_map(presences)),
        Err(error) => frames::error(follow_error(error), None),
    }
}

/// RESUMED: the session now, and each restored room's position (or why it stayed out).
fn resumed_frame(session: &Session, resumed_id: &str, resumed: Resumed) -> Message {
    let rooms = resumed
        .rooms
        .into_iter()
        .map(|(room, outcome)| {
            let value = match outcome {
                Ok(s) => serde_json::json!({
                    "offset": s.position.offset,
                    "epoch": s.position.epoch,
                    "recovered": s.recovered.unwrap_or(false),
                }),
                Err(error) => serde_json::json!({ "error": subscribe_error(error) }),
            };
            (room, value)
        })
        .collect();
    frames::resumed(
        &session.id(),
        resumed_id,
        super::render::id(session.user_id()),
        session.node().config.limits.heartbeat_interval_ms,
        rooms,
    )
}

/// The answer to a RESUME that could not be carried out.
fn resume_error(session_id: &str, error: ResumeError) -> Message {
    match error {
        ResumeError::Unknown => frames::invalid_session(session_id),
        ResumeError::SeqAhead { sent } => frames::error(
            &format!("seq is ahead of what session {session_id} was sent ({sent} frames)"),
            None,
        ),
        ResumeError::Unavailable => frames::error("resume unavailable, try again", None),
    }
}

fn presence_value(presence: Presence) -> Value {
    serde_json::to_value(presence).expect("presence serializes")
}

fn presence_map(presences: Vec<Presence>) -> Value {
    let map: Map<String, Value> = presences
        .into_iter()
        .map(|p| (p.user_id.to_string(), presence_value(p)))
        .collect();
    Value::Object(map)
}

/// The room as the client named it, for error frames.
fn room_name(room: &RoomArg) -> String {
    match room {
        RoomArg::Valid(room) => room.to_string(),
        RoomArg::Invalid(name) => name.clone(),
    }
}

pub(super) fn invalid_message(invalid: &Invalid) -> &'static str {
    match invalid {
        Invalid::Payload => "invalid payload",
        Invalid::UnknownOp => "unknown op",
        Invalid::Argument(message) => message,
    }
}

fn follow_error(error: presence::FollowError) -> &'static str {
    match error {
        presence::FollowError::TooManyIds => "too many user ids (see GATEWAY_PRESENCE_MAX_IDS)",
        presence::FollowError::AllDisabled => {
            "presence for all users is not enabled on this deployment"
        }
        presence::FollowError::Subscribe(error) => subscribe_error(error),
        presence::FollowError::Unavailable => "presence unavailable, try again",
    }
}

fn subscribe_error(error: SubscribeError) -> &'static str {
    match error {
        SubscribeError::Forbidden => "forbidden room",
        SubscribeError::TooManyRooms => "too many rooms",
        SubscribeError::Unavailable => "room unavailable, try again",
    }
}

fn typing_error(error: TypingError) -> &'static str {
    match error {
        TypingError::NotChannel => "typing is for channel rooms",
        TypingError::Forbidden => "forbidden room",
        TypingError::RateLimited => "typing rate limited",
        TypingError::Unavailable => "room unavailable, try again",
    }
}

fn voice_error(error: VoiceError) -> &'static str {
    match error {
        VoiceError::Forbidden => "forbidden room",
        VoiceError::NotVoice => "not a voice channel",
        VoiceError::NotInVoice => "join the voice channel first",
        VoiceError::SignalTooLarge => "signal too large",
        VoiceError::Unavailable => "room unavailable, try again",
    }
}
