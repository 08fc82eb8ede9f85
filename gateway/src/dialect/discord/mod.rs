//! The Discord gateway v3 dialect on `/` (seed 002, DESIGN §4.2): op 2 identify (or op 6
//! resume) within the identify timeout, READY with the user's guilds and private channels,
//! then dispatches of every room the user belongs to, followed implicitly. Close codes are
//! Discord's (see [`ops::close`] and docs/protocol-discord.md).

pub mod codec;
pub mod frames;
mod guilds;
mod ops;
pub mod render;

use crate::serve::Wire;
use crate::source::IpSlot;
use crate::{
    dialect::{Format, compress::Transport},
    node::Node,
    session::{
        CloseReason, ConnId, GRANTS_CAPACITY, Session, Violation,
        driver::{self, Codec, Frame, Read},
        outbound,
    },
};
use axum::{
    Extension,
    extract::{
        Query, State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    response::{IntoResponse, Response},
};
use codec::Op;
use futures_util::StreamExt;
use ops::{DiscordCodec, Start};
use serde::Deserialize;
use shared::auth::User;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct Params {
    v: Option<String>,
    encoding: Option<String>,
    compress: Option<String>,
}

/// `GET /`: a bare `/` is v3 JSON. A version or encoding this node does not speak is
/// answered after the upgrade with Discord's close code, as a Discord client expects.
pub async fn upgrade(
    slot: IpSlot,
    ws: WebSocketUpgrade,
    wire: Option<Extension<Arc<Wire>>>,
    Query(params): Query<Params>,
    State(node): State<Arc<Node>>,
) -> Response {
    if node.draining.is_cancelled() {
        return crate::dialect::native::draining();
    }
    let transport = match Transport::parse(params.compress.as_deref()) {
        Ok(transport) => transport,
        Err(bad) => return bad.into_response(),
    };
    let refusal = match (params.v.as_deref(), params.encoding.as_deref()) {
        (None | Some("3"), None | Some("json")) => None,
        (None | Some("3"), Some(_)) => Some(CloseReason::Violation(Violation::InvalidPayload)),
        (Some(_), _) => Some(CloseReason::Violation(Violation::UnsupportedVersion)),
    };
    crate::dialect::tuned(ws, &node).on_upgrade(move |socket| {
        let wire = wire.map(|Extension(wire)| wire);
        slot.held_while(serve(Box::new(socket), wire, node, transport, refusal))
    })
}

async fn serve(
    mut socket: Box<WebSocket>,
    wire: Option<Arc<Wire>>,
    node: Arc<Node>,
    transport: Option<Transport>,
    refusal: Option<CloseReason>,
) {
    let admitted = match refusal {
        Some(reason) => Err(reason),
        None => Box::pin(admit(&mut socket, &node)).await,
    };
    let (user, start) = match admitted {
        Ok(admitted) => admitted,
        Err(reason) => return refuse(&mut socket, &node, reason).await,
    };
    let (compress_large, large_threshold) = match &start {
        Start::Identify(identify) => (
            identify.compress,
            identify
                .large_threshold
                .unwrap_or(guilds::DEFAULT_LARGE_THRESHOLD)
                .min(guilds::MAX_LARGE_THRESHOLD),
        ),
        Start::Resume { .. } => (false, guilds::DEFAULT_LARGE_THRESHOLD),
    };
    let conn = ConnId::next();
    let (out, queue) = outbound::channel(node.config.limits.outbound_queue);
    let (grants, granted) = flume::bounded(GRANTS_CAPACITY);
    let session = Session::new(node, conn, user, Format::Discord, out, Some(grants));
    let codec = DiscordCodec {
        start: Some(start),
        transport,
        compress_large,
        large_threshold,
        grants: granted,
    };
    driver::run(socket, wire, session, queue, codec).await
}

/// Authenticates the socket and checks it belongs on this node.
async fn admit(socket: &mut WebSocket, node: &Node) -> Result<(User, Start), CloseReason> {
    let (user, start) = authenticate(socket, node).await?;
    if node.at_socket_limit(&user.id) {
        return Err(CloseReason::TooManySockets);
    }
    if let Some(url) = node.redirect_for(user.id.as_str()).await {
        // The seed's redirect: op 7 with the node to use, then the close.
        let url = shared::fleet::discord_url(&url);
        let _ = socket.send(frames::reconnect(Some(&url))).await;
        return Err(CloseReason::Reconnect);
    }
    Ok((user, start))
}

async fn refuse(socket: &mut WebSocket, node: &Node, reason: CloseReason) {
    node.metrics
        .connections_closed
        .with_label_values(&[reason.label()])
        .inc();
    let _ = socket
        .send(Message::Close(Some(DiscordCodec::close_frame(reason))))
        .await;
}

/// Op 2 (or op 6) within the identify timeout; keepalives before it are allowed, anything
/// else closes the socket with Discord's code.
async fn authenticate(socket: &mut WebSocket, node: &Node) -> Result<(User, Start), CloseReason> {
    let deadline = tokio::time::Instant::now() + node.config.limits.identify_timeout();
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .map_err(|_| CloseReason::NotAuthenticated)?;
        let text = match driver::classify(next, node.config.limits.max_frame_bytes) {
            Read::Frame(Frame::Text(text)) => text,
            Read::Frame(Frame::Binary(_) | Frame::Oversized) => {
                return Err(CloseReason::Violation(Violation::InvalidPayload));
            }
            Read::Control => continue,
            Read::End(reason) => return Err(reason),
        };
        let verify = |token: &str| {
            node.verifier
                .verify(token)
                .map_err(|_| CloseReason::AuthFailed)
        };
        match codec::parse(&text).map_err(CloseReason::Violation)? {
            Op::Heartbeat => continue,
            Op::Identify(identify) => {
                let user = verify(&identify.token)?;
                return Ok((user, Start::Identify(Box::new(identify))));
            }
            Op::Resume {
                token,
                session_id,
                seq,
            } => {
                let user = verify(&token)?;
                return Ok((user, Start::Resume { session_id, seq }));
            }
            _ => return Err(CloseReason::Violation(Violation::NotAuthenticated)),
        }
    }
}
