//! The native dialect on `/api/ws` (seed 000, DESIGN §4.1): authenticate by `?token=` or an
//! IDENTIFY frame, send READY, then translate ops to session calls.
//!
//! Close codes: 4002 too many invalid frames, 4003 not authenticated in time, 4004
//! authentication failed, 4008 rate limited, 4009 heartbeat timeout, 4020 slow consumer,
//! 4021 reconnect (to the `url` of the RECONNECT event just sent), 4022 session resumed on
//! another socket, 1001 node shutting down,
//! 1009 frame over the hard cap.

pub mod codec;
pub mod frames;
mod ops;
pub mod render;

use crate::dialect::compress::Transport;
use crate::dialect::token::UpgradeToken;
use crate::serve::Wire;
use crate::source::IpSlot;
use crate::{
    dialect::Format,
    node::Node,
    session::{
        CloseReason, ConnId, Session,
        driver::{self, Codec, Frame, Read},
        outbound,
    },
};
use axum::{
    Extension, Json,
    extract::{
        Query, State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use codec::Op;
use futures_util::StreamExt;
use ops::NativeCodec;
use serde::Deserialize;
use shared::{Room, auth::User, live::now_ms, presence::SessionPresence};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct Params {
    format: Option<String>,
    compress: Option<String>,
}

/// `GET /api/ws`: validates the query, then upgrades.
pub async fn upgrade(
    slot: IpSlot,
    UpgradeToken(token): UpgradeToken,
    ws: WebSocketUpgrade,
    wire: Option<Extension<Arc<Wire>>>,
    Query(params): Query<Params>,
    State(node): State<Arc<Node>>,
) -> Response {
    if node.draining.is_cancelled() {
        return draining();
    }
    let format = match params.format.as_deref() {
        None | Some("native") => Format::Native,
        Some("events") => Format::Events,
        Some(_) => {
            let body = serde_json::json!({"error": "format must be `native` or `events`", "code": "bad_format"});
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    let compress = match Transport::parse(params.compress.as_deref()) {
        Ok(compress) => compress,
        Err(bad) => return bad.into_response(),
    };
    // A token on the upgrade (`?token=` or the header) is checked now: a user already at their socket limit is refused before the
    // upgrade (429), and the session does not verify the token again.
    let verified = token.map(|token| {
        node.verifier
            .verify(&token)
            .map_err(|_| CloseReason::AuthFailed)
    });
    if let Some(Ok(user)) = &verified
        && node.at_socket_limit(&user.id)
    {
        node.metrics
            .upgrades_refused
            .with_label_values(&["sockets_per_user"])
            .inc();
        let body = serde_json::json!({"error": "this user has too many open sockets (see GATEWAY_MAX_SOCKETS_PER_USER)", "code": "too_many_sockets"});
        let retry = [(axum::http::header::RETRY_AFTER, SOCKET_LIMIT_RETRY_SECS)];
        return (StatusCode::TOO_MANY_REQUESTS, retry, Json(body)).into_response();
    }
    crate::dialect::tuned(ws, &node).on_upgrade(move |socket| {
        let wire = wire.map(|Extension(wire)| wire);
        slot.held_while(serve(
            Box::new(socket),
            wire,
            node,
            verified,
            format,
            compress,
        ))
    })
}

/// HTTP 503 for an upgrade on a node that drains.
pub(crate) fn draining() -> Response {
    let body = serde_json::json!({"error": "this node is draining; ask GET /api/gateway for another", "code": "draining"});
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// `Retry-After` (seconds) for a user refused at their socket limit.
const SOCKET_LIMIT_RETRY_SECS: &str = "10";

/// What the upgrade learned of the client: the outcome of its `?token=`, if it gave one.
type Verified = Option<Result<User, CloseReason>>;

async fn serve(
    mut socket: Box<WebSocket>,
    wire: Option<Arc<Wire>>,
    node: Arc<Node>,
    verified: Verified,
    format: Format,
    compress: Option<Transport>,
) {
    // The hand-shake's futures (auth, Redis calls) are boxed: inline, their state would stay
    // in every idle socket's task for its whole life.
    let Some((user, resume)) = Box::pin(admit(&mut socket, &node, verified)).await else {
        return;
    };
    let conn = ConnId::next();
    let (out, queue) = outbound::channel(node.config.limits.outbound_queue);
    let mut session = Session::new(node, conn, user, format, out, None);
    session.set_platform(shared::presence::Platform::Web);
    let codec = NativeCodec { resume, compress };
    driver::run(socket, wire, session, queue, codec).await
}

/// A `RESUME` sent instead of IDENTIFY: the session to resume and the client's last `seq`.
pub(super) type ResumeRequest = Option<Box<(String, u64)>>;

/// Authenticates the socket and checks it is on the user's node; otherwise answers it
/// (close code, or RECONNECT and 4021) and returns None.
async fn admit(
    socket: &mut WebSocket,
    node: &Node,
    verified: Verified,
) -> Option<(User, ResumeRequest)> {
    let reason = match authenticate(socket, node, verified).await {
        Ok((user, _)) if node.at_socket_limit(&user.id) => CloseReason::TooManySockets,
        Ok((user, resume)) => match node.redirect_for(user.id.as_str()).await {
            None => return Some((user, resume)),
            Some(url) => {
                let _ = socket.send(frames::reconnect(Some(&url))).await;
                CloseReason::Reconnect
            }
        },
        Err(reason) => reason,
    };
    node.metrics
        .connections_closed
        .with_label_values(&[reason.label()])
        .inc();
    let _ = socket
        .send(Message::Close(Some(NativeCodec::close_frame(reason))))
        .await;
    None
}

/// Joins the automatic rooms, publishes the session's presence, and sends READY.
/// `before` goes just ahead of READY (the answer to a RESUME that could not be carried out).
pub(super) async fn greet(session: &mut Session, before: Option<Message>) {
    // READY is the first frame (after `before`), before any event of the rooms joined here.
    session.outbound().hold();
    let rooms = join_automatic_rooms(session).await;
    let heartbeat = session.node().config.limits.heartbeat_interval_ms;
    let ready = frames::ready(
        &session.id(),
        render::id(session.user_id()),
        heartbeat,
        &rooms,
    );
    session.send_ahead(before.into_iter().chain([ready]));
    tracing::debug!("session ready");
}

/// The automatic rooms (the user's own, `global`) and the session's presence: what every
/// session starts with, greeted or resumed. Returns the rooms joined.
pub(super) async fn join_automatic_rooms(session: &mut Session) -> Vec<String> {
    let mut rooms = Vec::new();
    for room in [Room::User(session.user_id().clone()), Room::Global] {
        match session.enter(&room).await {
            Ok(()) => rooms.push(room.to_string()),
            Err(error) => {
                tracing::warn!(%room, %error, user.id = %session.user_id(), "automatic room not joined")
            }
        }
    }
    // Presence first: once a client has READY, others see it online.
    if let Err(error) = session
        .set_presence(&SessionPresence::online(now_ms()))
        .await
    {
        tracing::warn!(%error, user.id = %session.user_id(), "publishing presence failed");
    }
    rooms
}

/// Before READY: the `?token=`, else an IDENTIFY frame (or a RESUME carrying the token)
/// within the identify timeout.
async fn authenticate(
    socket: &mut WebSocket,
    node: &Node,
    verified: Verified,
) -> Result<(User, ResumeRequest), CloseReason> {
    let verify = |token: &str| {
        node.verifier
            .verify(token)
            .map_err(|_| CloseReason::AuthFailed)
    };
    if let Some(verified) = verified {
        return verified.map(|user| (user, None));
    }
    let deadline = tokio::time::Instant::now() + node.config.limits.identify_timeout();
    let mut invalid = 0;
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .map_err(|_| CloseReason::NotAuthenticated)?;
        let text = match driver::classify(next, node.config.limits.max_frame_bytes) {
            Read::Frame(Frame::Text(text)) => text,
            Read::Frame(Frame::Binary(_) | Frame::Oversized) => String::new(),
            Read::Control => continue,
            Read::End(reason) => return Err(reason),
        };
        let reply = match codec::parse(&text) {
            Ok(Op::Identify { token }) => return verify(&token).map(|user| (user, None)),
            Ok(Op::Resume {
                session_id,
                seq,
                token: Some(token),
            }) => {
                return verify(&token).map(|user| (user, Some(Box::new((session_id, seq)))));
            }
            Ok(_) => frames::error("not authenticated", None),
            Err(invalid) => frames::error(ops::invalid_message(&invalid), None),
        };
        invalid += 1;
        if invalid > node.config.limits.invalid_frames_per_minute {
            return Err(CloseReason::TooManyInvalidFrames);
        }
        socket
            .send(reply)
            .await
            .map_err(|_| CloseReason::ClientGone)?;
    }
}
