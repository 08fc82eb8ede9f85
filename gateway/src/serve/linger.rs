//! A lingering close for every client connection (as Apache's and nginx's): when the node is
//! done with a connection it shuts down the write side (FIN after the last frame, the close
//! frame included) and reads and discards what the client still sends, for at most
//! [`LINGER`], before closing.
//!
//! Without it, a node that closes a socket while the client's frames sit unread in the
//! kernel's receive buffer (a flood cut at 4008, the rest of a refused 4 MiB frame at 1009)
//! makes the kernel answer with a reset: the client sees 1006 instead of the close code,
//! loses the frames answered before it, cannot tell why it was dropped, and reconnects at once.

use super::wire::Wire;
use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// How long a closed connection may keep draining the client's input.
pub const LINGER: Duration = Duration::from_secs(2);

/// A client connection that lingers when dropped (see the module docs). It reads and writes
/// its [`Wire`], which the session's fan-out shares.
pub struct Lingering {
    wire: Arc<Wire>,
}

impl Lingering {
    pub fn new(wire: Arc<Wire>) -> Self {
        Lingering { wire }
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        // Outside a runtime (the node is stopping) there is no one to linger: close at once.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(linger(self.wire.clone()));
        }
    }
}

/// Answers a connection with `answer` once its request head has arrived (a client that reads
/// an answer before it has sent its request may not take it: hyper's client does not), then
/// closes it lingering. Without a request head within [`LINGER`], it just closes.
pub async fn answer_and_close(mut tcp: TcpStream, answer: &'static [u8]) {
    if let Ok(Ok(())) = tokio::time::timeout(LINGER, request_head(&mut tcp)).await {
        // A fresh socket's send buffer takes the whole answer at once.
        let _ = tcp.try_write(answer);
        linger(Wire::new(tcp)).await;
    }
}

/// Reads (and discards) up to the blank line that ends a request head, 16 KiB at most.
async fn request_head(tcp: &mut TcpStream) -> io::Result<()> {
    const MAX_HEAD: usize = 16 * 1024;
    let (mut scratch, mut seen, mut tail) = ([0u8; 1024], 0, [0u8; 3]);
    while seen < MAX_HEAD {
        let n = tcp.read(&mut scratch).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        seen += n;
        // The last three bytes before this read, then this read: does "\r\n\r\n" appear?
        let mut window = tail.to_vec();
        window.extend_from_slice(&scratch[..n]);
        if window.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(());
        }
        tail.copy_from_slice(&window[window.len() - 3..]);
    }
    Ok(())
}

/// Shuts down the write side, then discards input until the client closes its side, the
/// connection fails, or [`LINGER`] has passed.
async fn linger(wire: Arc<Wire>) {
    if wire.shutdown_write().is_err() {
        return;
    }
    let drain = async {
        let mut scratch = [0u8; 4096];
        while let Ok(1..) = wire.discard_input(&mut scratch).await {}
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

impl AsyncRead for Lingering {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.wire.poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.wire.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.wire.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// Finishes what is left of a frame written straight in (a TCP stream has no buffer of
    /// its own to flush).
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.wire.poll_unsent(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.wire.poll_unsent(cx))?;
        Poll::Ready(self.wire.shutdown_write())
    }
}
