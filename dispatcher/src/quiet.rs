//! Connections that go quiet are closed: one on which the dispatcher has written nothing for
//! `DISPATCHER_IDLE_TIMEOUT_SECS`, counted from its accept or from its last answer, fails its
//! next read and is closed. That bounds a client that never finishes its request head (or
//! trickles it a byte at a time) and an idle keep-alive connection; `axum::serve` gives hyper
//! no timer for its own header-read timeout. (A request body has its own, shorter limit:
//! [`crate::json::BODY_TIMEOUT`]; a request being handled is not cut, since hyper does not
//! read meanwhile.)

use axum::serve::Listener;
use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::{Instant, Sleep, sleep},
};

/// Accepts connections that close when they go quiet for `idle`.
pub struct QuietListener {
    pub inner: TcpListener,
    pub idle: Duration,
}

impl Listener for QuietListener {
    type Io = Quiet;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Quiet, SocketAddr) {
        let (tcp, addr) = Listener::accept(&mut self.inner).await;
        let quiet = Quiet {
            tcp,
            idle: self.idle,
            deadline: Box::pin(sleep(self.idle)),
        };
        (quiet, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Listener::local_addr(&self.inner)
    }
}

/// A connection whose reads fail once it has been quiet for its idle time.
pub struct Quiet {
    tcp: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Quiet {
    /// Something was written: the quiet time starts again.
    fn spoke(&mut self, written: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(1..)) = written {
            self.deadline.as_mut().reset(Instant::now() + self.idle);
        }
    }
}

impl AsyncRead for Quiet {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            let quiet = io::Error::new(io::ErrorKind::TimedOut, "the connection went quiet");
            return Poll::Ready(Err(quiet));
        }
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Quiet {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.spoke(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.spoke(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.tcp).poll_shutdown(cx))?;
        Poll::Ready(Ok(()))
    }
}
