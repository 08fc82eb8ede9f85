//! A lingering close for every client connection (as Apache's and nginx's): when the node is
//! done with a connection it shuts down the write side (FIN after the last frame, the close
//! frame included) and reads and discards what the client still sends, for at most
//! [`LINGER`], before closing.
//!
//! Without it, a node that closes a socket while the client's frames sit unread in the
//! kernel's receive buffer (a flood cut at 4008, the rest of a refused 4 MiB frame at 1009)
//! makes the kernel answer with a reset: the client sees 1006 instead of the close code,
//! loses the frames answered before it, cannot tell why it was dropped, and reconnects at once.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpStream,
};

/// How long a closed connection may keep draining the client's input.
pub const LINGER: Duration = Duration::from_secs(2);

/// A client connection that lingers when dropped (see the module docs). It reads and writes
/// exactly as the `TcpStream` it wraps.
pub struct Lingering {
    /// Taken by the drop.
    tcp: Option<TcpStream>,
}

impl Lingering {
    pub fn new(tcp: TcpStream) -> Self {
        Lingering { tcp: Some(tcp) }
    }

    fn tcp(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(self.tcp.as_mut().expect("only the drop takes the stream"))
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        // Outside a runtime (the node is stopping) there is no one to linger: close at once.
        if let (Some(tcp), Ok(runtime)) = (self.tcp.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(linger(tcp));
        }
    }
}

/// Shuts down the write side, then discards input until the client closes its side, the
/// connection fails, or [`LINGER`] has passed.
async fn linger(mut tcp: TcpStream) {
    if tcp.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut scratch = [0u8; 4096];
        while let Ok(1..) = tcp.read(&mut scratch).await {}
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

impl AsyncRead for Lingering {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.tcp().poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.tcp().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.tcp().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.as_ref().is_some_and(|tcp| tcp.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp().poll_shutdown(cx)
    }
}
