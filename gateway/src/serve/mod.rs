//! The HTTP server under the node's routes: hyper with a header-read timeout. A connection
//! that sends nothing within `GATEWAY_HANDSHAKE_TIMEOUT_MS`, or does not finish its request
//! head (the WebSocket handshake) within that long after its first byte, is closed: a silent
//! or byte-a-second client holds a socket for at most twice that. (`axum::serve` gives hyper
//! no timer, which leaves hyper's own header-read timeout inert.) Every connection closes with
//! a lingering close (see [`linger`]), so that a client dropped for a limit reads its close code.

mod linger;
mod wire;

pub use wire::{Kind, Sent, Wire};

use crate::node::Node;
use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, Request},
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto::Builder,
    service::TowerToHyperService,
};
use std::{sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Accepts connections until the node stops, each served with the WebSocket upgrade allowed;
/// a peer over its rate of new connections is answered 429 before any HTTP parsing.
pub async fn run(listener: TcpListener, router: Router, node: Arc<Node>) {
    let handshake_timeout = node.config.limits.handshake_timeout();
    let stopped = node.stopped.clone();
    loop {
        let accepted = tokio::select! {
            _ = stopped.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if node.sources.refuses_connection(peer.ip()) {
            let label = crate::source::Refusal::TooFast.label();
            node.metrics
                .upgrades_refused
                .with_label_values(&[label])
                .inc();
            let answer = crate::source::TOO_FAST_RESPONSE.as_slice();
            tokio::spawn(linger::answer_and_close(tcp, answer));
            continue;
        }
        // Small frames must leave at once: no Nagle delay on client sockets.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        // Shared by hyper (through `Lingering`) and, once upgraded, the session's fan-out.
        let wire = Wire::new(tcp);
        let extension = wire.clone();
        let service = router
            .clone()
            .map_request(move |request: Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(extension.clone());
                request
            });
        tokio::spawn(async move {
            // hyper's timer starts with the first byte: a connection that sends none is
            // dropped here after the same time.
            let mut first = [0u8; 1];
            match tokio::time::timeout(handshake_timeout, wire.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            // HTTP/1.1 only (WebSockets here are HTTP/1.1 upgrades): detecting the version
            // would wait for the first bytes with no deadline.
            let mut builder = Builder::new(TokioExecutor::new()).http1_only();
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(handshake_timeout);
            let io = TokioIo::new(linger::Lingering::new(wire));
            let served = builder
                .serve_connection_with_upgrades(io, TowerToHyperService::new(service))
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "connection ended");
            }
        });
    }
}
