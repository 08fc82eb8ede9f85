//! The Lanyard dialect's codec over the session core: Initialize follows presence and answers
//! `INIT_STATE`, Unsubscribe stops following, Heartbeat only keeps the socket alive. Lanyard
//! has no error frame: bad input, and a request the node cannot serve, close the socket
//! (exhaustive matches, no catch-all).

use super::{
    codec::{self, Op},
    frames, render,
};
use crate::{
    live::presence::{self, FollowError},
    session::{
        CloseReason, Session, SubscribeError, Violation,
        driver::{Codec, Frame, Strike},
        pump::Encoder,
    },
};
use axum::extract::ws::{CloseFrame, Message};

/// Translates Lanyard ops to session calls and session outcomes to Lanyard frames.
pub(super) struct LanyardCodec {
    /// `?compression=zlib_json`: every message its own zlib stream, in a binary frame.
    pub(super) zlib_json: bool,
    /// An Initialize was answered: later ones change the follows of a session whose updates
    /// are already flowing, and their INIT_STATE queues behind those (no older update may
    /// come after it).
    pub(super) initialized: bool,
}

/// Why a follow the client asked for ends the session: a refused request is an invalid
/// payload; a broker that did not answer sends the client away to come back (any node will
/// do).
fn follow_failure(error: FollowError) -> CloseReason {
    match error {
        FollowError::TooManyIds | FollowError::AllDisabled => {
            CloseReason::Violation(Violation::InvalidPayload)
        }
        // Presence rooms are readable by everyone: Forbidden does not happen.
        FollowError::Subscribe(SubscribeError::Forbidden | SubscribeError::TooManyRooms) => {
            CloseReason::Violation(Violation::InvalidPayload)
        }
        FollowError::Subscribe(SubscribeError::Unavailable) | FollowError::Unavailable => {
            CloseReason::Reconnect
        }
    }
}

/// Closes the session for `reason` (Lanyard has no error frame).
fn end(session: &Session, reason: CloseReason) -> Result<(), Strike> {
    session.outbound().close(reason);
    Err(Strike)
}

impl Codec for LanyardCodec {
    async fn on_open(&mut self, session: &mut Session) {
        let interval = session.node().config.limits.heartbeat_interval_ms;
        session.send(frames::hello(interval));
        tracing::debug!("lanyard session open");
    }

    async fn on_frame(&mut self, session: &mut Session, frame: Frame) -> Result<(), Strike> {
        let metrics = session.node().metrics.clone();
        let op = match frame {
            Frame::Text(text) => codec::parse(&text),
            // As the original service, JSON is read from binary frames too.
            Frame::Binary(bytes) => std::str::from_utf8(&bytes)
                .map_err(|_| Violation::InvalidPayload)
                .and_then(codec::parse),
            Frame::Oversized => Err(Violation::InvalidPayload),
        };
        let op = match op {
            Ok(op) => op,
            Err(violation) => {
                metrics.frames_in.with_label_values(&["invalid"]).inc();
                return end(session, CloseReason::Violation(violation));
            }
        };
        metrics.frames_in.with_label_values(&[op.label()]).inc();
        match op {
            Op::Heartbeat => {}
            Op::Initialize(target) => {
                // The first INIT_STATE before any update of the users followed here; an update
                // queued meanwhile is no older than the state INIT_STATE read after
                // subscribing.
                let first = !std::mem::replace(&mut self.initialized, true);
                if first {
                    session.outbound().hold();
                }
                // The first INIT_STATE is this dialect's greeting: it waits for a permit as
                // the other dialects' READY does (the semaphore is never closed).
                let node = session.node().clone();
                let _permit = match first {
                    true => node.greetings.acquire().await.ok(),
                    false => None,
                };
                match presence::follow(session, target).await {
                    Ok(initial) if first => {
                        session.send_ahead([frames::init_state(render::initial(initial))])
                    }
                    Ok(initial) => {
                        session.send(frames::init_state(render::initial(initial)));
                    }
                    Err(error) => {
                        session.outbound().release();
                        return end(session, follow_failure(error));
                    }
                }
            }
            Op::Unsubscribe(target) => presence::unfollow(session, target),
        }
        Ok(())
    }

    fn close_frame(reason: CloseReason) -> CloseFrame {
        let (code, text) = match reason {
            CloseReason::Violation(Violation::UnknownOp) => (4004, "unknown_opcode"),
            CloseReason::Violation(Violation::MissingData) => (4005, "requires_data_object"),
            CloseReason::Violation(Violation::InvalidPayload) => (4006, "invalid_payload"),
            // Rules of other dialects, never broken here (no identify, no resume, no version).
            CloseReason::Violation(
                Violation::NotAuthenticated
                | Violation::AlreadyAuthenticated
                | Violation::InvalidSeq
                | Violation::UnsupportedVersion,
            ) => (4006, "invalid_payload"),
            // Lanyard closes at the first invalid frame: the strike budget is never reached.
            CloseReason::TooManyInvalidFrames => (4006, "invalid_payload"),
            CloseReason::HeartbeatTimeout => (4009, "heartbeat_timeout"),
            CloseReason::RateLimited => (4008, "rate_limited"),
            CloseReason::SlowConsumer => (4020, "slow_consumer"),
            CloseReason::FrameTooLarge => (1009, "message_too_big"),
            // Lanyard has no reconnect op: a node that stops or drains says "going away", and
            // the client reconnects to the same URL (which lands on another node).
            CloseReason::ServerShutdown | CloseReason::Reconnect => (1001, "going_away"),
            CloseReason::Superseded => (4022, "session_superseded"),
            // Decided at the upgrade (HTTP 401 or 429), before any session: not sent.
            CloseReason::AuthFailed => (4003, "authentication_failed"),
            CloseReason::NotAuthenticated => (4003, "not_authenticated"),
            CloseReason::TooManySockets => (4029, "too_many_sockets"),
            CloseReason::ClientGone => (1000, ""),
        };
        frames::close(code, text)
    }

    fn encoder(&mut self) -> Box<dyn Encoder> {
        let stamp = |message: &Message, seq| frames::with_seq(message, seq);
        if self.zlib_json {
            Box::new(crate::dialect::compress::Whole(stamp))
        } else {
            Box::new(stamp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(reason: CloseReason) -> (u16, String) {
        let frame = LanyardCodec::close_frame(reason);
        (frame.code, frame.reason.to_string())
    }

    #[test]
    fn each_input_error_has_lanyard_s_code() {
        let cases = [
            (Violation::UnknownOp, 4004, "unknown_opcode"),
            (Violation::MissingData, 4005, "requires_data_object"),
            (Violation::InvalidPayload, 4006, "invalid_payload"),
        ];
        for (violation, want, text) in cases {
            assert_eq!(
                code(CloseReason::Violation(violation)),
                (want, text.to_owned())
            );
        }
        assert_eq!(code(CloseReason::HeartbeatTimeout).0, 4009);
        assert_eq!(code(CloseReason::Reconnect).0, 1001);
    }

    #[test]
    fn refused_follows_are_invalid_payloads_and_outages_send_the_client_away() {
        for refused in [
            FollowError::TooManyIds,
            FollowError::AllDisabled,
            FollowError::Subscribe(SubscribeError::TooManyRooms),
        ] {
            assert_eq!(
                code(follow_failure(refused)),
                (4006, "invalid_payload".to_owned()),
                "{refused:?}"
            );
        }
        for outage in [
            FollowError::Unavailable,
            FollowError::Subscribe(SubscribeError::Unavailable),
        ] {
            assert_eq!(follow_failure(outage), CloseReason::Reconnect);
        }
    }
}
