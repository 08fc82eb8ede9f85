//! A stateless gateway node: holds client WebSockets, authenticates them, and delivers the
//! events of the rooms they join, subscribing to a broker channel only while a local socket
//! needs it. `run` does the work; the `gateway` binary parses config and calls it.

pub mod config;
pub mod dialect;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod node;
pub mod session;

pub use config::Config;
pub use node::Node;

use shared::broker::Broker;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves the node on `listener` until `shutdown` is cancelled; open sockets are then closed
/// with the dialect's "going away" code.
pub async fn run(
    listener: TcpListener,
    config: Config,
    broker: Broker,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let node = Node::start(config, broker, shutdown.clone()).await?;
    tracing::info!(node.id = %node.id, addr = %listener.local_addr()?, "gateway listening");
    axum::serve(listener, http::router(node))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
