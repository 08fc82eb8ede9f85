//! Opening one authenticated native-dialect socket: TCP from one of the source addresses
//! 127.0.0.x (taken in turn, so many sockets do not exhaust one address's ports), the
//! WebSocket upgrade on `/api/ws?token=` with small buffers (and `&compress=zlib-stream` when
//! asked), then READY.

use super::inflate::{Compression, Inflate};
use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Ws = WebSocketStream<TcpStream>;

const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// Server frames are a few hundred bytes: a small read buffer keeps the client's memory per
/// socket low (tungstenite's default is 128 KiB).
const READ_BUFFER: usize = 8 * 1024;

pub struct Connector {
    sources: Vec<Ipv4Addr>,
    next: AtomicUsize,
    compression: Compression,
}

/// An open socket past READY.
pub struct Opened {
    pub ws: Ws,
    /// The heartbeat interval READY announced.
    pub heartbeat: Duration,
    /// The socket's inflate context when it asked for `zlib-stream`.
    pub inflate: Option<Inflate>,
}

impl Connector {
    /// Binds sockets to 127.0.0.2, 127.0.0.3, … (`sources` addresses, at most 253) and asks
    /// for `compression`.
    pub fn new(sources: u8, compression: Compression) -> Connector {
        let sources = (0..sources.clamp(1, 253))
            .map(|i| Ipv4Addr::new(127, 0, 0, 2 + i))
            .collect();
        Connector {
            sources,
            next: AtomicUsize::new(0),
            compression,
        }
    }

    /// Connects to the gateway at `addr` with `token` and waits for READY.
    pub async fn open(&self, addr: SocketAddr, token: &str) -> anyhow::Result<Opened> {
        tokio::time::timeout(OPEN_TIMEOUT, self.open_unbounded(addr, token))
            .await
            .with_context(|| format!("no READY from {addr} within {OPEN_TIMEOUT:?}"))?
    }

    async fn open_unbounded(&self, addr: SocketAddr, token: &str) -> anyhow::Result<Opened> {
        let source = self.sources[self.next.fetch_add(1, Relaxed) % self.sources.len()];
        let socket = TcpSocket::new_v4()?;
        socket
            .bind(SocketAddr::new(IpAddr::V4(source), 0))
            .with_context(|| format!("bind {source}"))?;
        let stream = socket
            .connect(addr)
            .await
            .with_context(|| format!("connect {source} -> {addr}"))?;
        stream.set_nodelay(true)?;
        let url = format!(
            "ws://{addr}/api/ws?token={token}{}",
            self.compression.query()
        );
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(0);
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
            .await
            .with_context(|| format!("WebSocket upgrade on {addr}"))?;
        let mut inflate = (self.compression == Compression::ZlibStream).then(Inflate::default);
        let first = ws.next().await.context("closed before READY")??;
        let text = match (&first, &mut inflate) {
            (Message::Text(text), None) => text.as_str(),
            (Message::Binary(bytes), Some(inflate)) => inflate.message(bytes)?,
            _ => bail!("first frame from {addr} is not a data frame of the kind asked: {first:?}"),
        };
        let ready: Value = serde_json::from_str(text)?;
        match ready["type"].as_str() {
            Some("READY") => {}
            Some("RECONNECT") => bail!(
                "{addr} sent this user to another node: start gateways with \
                 --enforce-assignment false for load tests"
            ),
            _ => bail!("first frame from {addr} is not READY: {text}"),
        }
        let heartbeat = ready["data"]["heartbeat_interval"]
            .as_u64()
            .unwrap_or(30_000);
        Ok(Opened {
            ws,
            heartbeat: Duration::from_millis(heartbeat),
            inflate,
        })
    }
}
