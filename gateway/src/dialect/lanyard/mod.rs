//! The Lanyard dialect on `/socket` (seed 003, DESIGN §4.3, docs/protocol-lanyard.md): a
//! socket that watches presence. Op 1 Hello on connect; op 2 Initialize follows users and is
//! answered `INIT_STATE`; `PRESENCE_UPDATE` events follow; op 3 heartbeats; op 4 unfollows.
//! Every frame carries its `seq`; `?compression=zlib_json` makes each one its own zlib
//! stream in a binary frame.
//!
//! Public by default, as Lanyard's own (`GATEWAY_LANYARD_REQUIRE_TOKEN` requires `?token=`).
//! A Lanyard session only watches: it never sets a presence, never joins `user:` or `global`,
//! and takes nothing back when it closes.
//!
//! Close codes: 4004 unknown opcode, 4005 requires data object, 4006 invalid payload (also a
//! refused request: too many ids, `subscribe_to_all` not enabled, too many rooms), 4009
//! heartbeat timeout, 4008 rate limited, 4020 slow consumer, 4022 session superseded, 1001
//! going away (the node stops or drains, or presence is unavailable: connect again), 1009
//! frame over the hard cap.

pub mod codec;
pub mod frames;
mod ops;
pub mod render;

use crate::dialect::token::UpgradeToken;
use crate::serve::Wire;
use crate::source::IpSlot;
use crate::{
    dialect::Format,
    node::Node,
    session::{ConnId, Session, driver, outbound},
};
use axum::{
    Extension, Json,
    extract::{
        Query, State,
        ws::{WebSocket, WebSocketUpgrade},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use ops::LanyardCodec;
use serde::Deserialize;
use shared::{Id, auth::User};
use std::sync::Arc;

/// The user of every session opened without a token. Its sessions have no rights tied to the
/// id (they only follow `presence:` rooms, which everyone may read, and set no live state), so
/// nothing depends on no real user having it; it labels them in logs and the node's books.
pub const ANONYMOUS: &str = "lanyard-anonymous";

#[derive(Deserialize)]
pub struct Params {
    compression: Option<String>,
}

/// `GET /socket`: validates the query (and the token, when one is given or required), then
/// upgrades.
pub async fn upgrade(
    slot: IpSlot,
    UpgradeToken(token): UpgradeToken,
    ws: WebSocketUpgrade,
    wire: Option<Extension<Arc<Wire>>>,
    Query(params): Query<Params>,
    State(node): State<Arc<Node>>,
) -> Response {
    if node.draining.is_cancelled() {
        let body = serde_json::json!({"error": "this node is draining; connect again", "code": "draining"});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    let zlib_json = match params.compression.as_deref() {
        None => false,
        Some("zlib_json") => true,
        Some(_) => {
            let body = serde_json::json!({"error": "compression must be `zlib_json`", "code": "bad_compression"});
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    let user = match token {
        Some(token) => match node.verifier.verify(&token) {
            Ok(user) => user,
            Err(_) => {
                let body = serde_json::json!({"error": "invalid token", "code": "invalid_token"});
                return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
            }
        },
        None if node.config.limits.lanyard_require_token => {
            let body = serde_json::json!({"error": "this socket needs ?token=<jwt>", "code": "token_required"});
            return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        }
        None => anonymous(),
    };
    // The per-user socket limit is for signed-in users; anonymous sessions share one id.
    if user.id.as_str() != ANONYMOUS && node.at_socket_limit(&user.id) {
        node.metrics
            .upgrades_refused
            .with_label_values(&["sockets_per_user"])
            .inc();
        let body = serde_json::json!({"error": "this user has too many open sockets (see GATEWAY_MAX_SOCKETS_PER_USER)", "code": "too_many_sockets"});
        let retry = [(axum::http::header::RETRY_AFTER, "10")];
        return (StatusCode::TOO_MANY_REQUESTS, retry, Json(body)).into_response();
    }
    crate::dialect::tuned(ws, &node).on_upgrade(move |socket| {
        let wire = wire.map(|Extension(wire)| wire);
        slot.held_while(serve(Box::new(socket), wire, node, user, zlib_json))
    })
}

fn anonymous() -> User {
    User {
        id: Id::parse(ANONYMOUS).expect("a valid id"),
        name: None,
    }
}

/// Runs the session: no identify step (the upgrade settled who it is) and no node
/// assignment (Lanyard has no redirect; any node serves any presence).
async fn serve(
    socket: Box<WebSocket>,
    wire: Option<Arc<Wire>>,
    node: Arc<Node>,
    user: User,
    zlib_json: bool,
) {
    let conn = ConnId::next();
    let (out, queue) = outbound::channel(node.config.limits.outbound_queue);
    let session = Session::new(node, conn, user, Format::Lanyard, out, None);
    driver::run(
        socket,
        wire,
        session,
        queue,
        LanyardCodec {
            zlib_json,
            initialized: false,
        },
    )
    .await
}
