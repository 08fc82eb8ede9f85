//! Upgrade requests written by hand on a bare TCP connection, for clients that misbehave: a
//! socket that sends its handshake and then never reads or writes again, or a flood of
//! handshakes whose answers are read only for their status.

use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Connects from `source` to `addr` and writes a WebSocket upgrade of `/api/ws` with `token`;
/// nothing is read.
pub async fn upgrade(addr: SocketAddr, source: IpAddr, token: &str) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let mut stream = socket.connect(addr).await?;
    let request = format!(
        "GET /api/ws?token={token} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    Ok(stream)
}

/// The HTTP status of the answer on `stream` (read up to the end of its head).
pub async fn status(stream: &mut TcpStream) -> std::io::Result<u16> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    // "HTTP/1.1 429 Too Many Requests"
    std::str::from_utf8(head.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status line"))
}
