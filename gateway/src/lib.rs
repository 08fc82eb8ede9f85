//! A stateless gateway node: holds client WebSockets, authenticates them, and delivers the
//! events of the rooms they join, subscribing to a broker channel only while a local socket
//! needs it. `run` does the work; the `gateway` binary parses config and calls it.

pub mod config;
pub mod dialect;
pub mod drain;
pub mod http;
pub mod hub;
pub mod live;
pub mod metrics;
pub mod node;
pub mod origin;
pub mod registry;
pub mod serve;
pub mod session;
pub mod source;
pub mod sparse;
pub mod trim;

pub use config::Config;
pub use node::Node;

use shared::broker::Broker;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves the node on `listener` until `shutdown` is cancelled, then drains: leaves the node
/// registry, refuses new sockets, tells clients to reconnect in batches over the drain
/// window, and returns before the shutdown grace period ends.
pub async fn run(
    listener: TcpListener,
    config: Config,
    broker: Broker,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let node = Node::start(config, broker).await?;
    tracing::info!(node.id = %node.id, addr = %listener.local_addr()?, url = %node.config.public_url(), "gateway listening");
    let registry = tokio::spawn(registry::run(node.clone()));
    tokio::spawn(live::lease::run(node.clone()));
    tokio::spawn(trim::run(node.clone()));
    let server = tokio::spawn(serve::run(
        listener,
        http::router(node.clone()),
        node.clone(),
    ));

    shutdown.cancelled().await;
    node.draining.cancel();
    drain::run(&node).await;
    node.stopped.cancel();
    for member in node.hub.sessions() {
        member.outbound.close(session::CloseReason::ServerShutdown);
    }
    // Sockets still open get "going away"; give their writers a moment to send it.
    let closing = async {
        while node.hub.session_count() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(400), closing).await;
    // What ending sessions still have to write (resume records, presence clears).
    let _ = tokio::time::timeout(Duration::from_secs(1), node.endings.settled()).await;
    let _ = registry.await;
    server.abort();
    tracing::info!(node.id = %node.id, "gateway stopped");
    Ok(())
}
