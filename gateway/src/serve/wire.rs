//! A client connection's TCP stream, shared by the HTTP and WebSocket stack above it (which
//! reads and writes it through [`super::linger::Lingering`]) and the node's fan-out, which
//! writes a whole WebSocket frame straight into the kernel ([`Wire::write_frame`]): one
//! `send()`, without going through tungstenite, hyper's upgraded stream and their buffers.
//! The frame's header is tungstenite's own ([`FrameHeader`]).
//!
//! The kernel may take only part of a frame. The rest is kept here and goes out before any
//! other byte: every write and flush through the stack first finishes it
//! ([`Wire::poll_unsent`]), so a frame is never cut by another. The session's write state
//! makes sure the fan-out writes only when the stack above has nothing buffered either
//! (`session::pump`).

use std::{
    io::{self, IoSlice},
    net::Shutdown,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll, ready},
};
use tokio::{io::ReadBuf, net::TcpStream};
use tungstenite::protocol::frame::{
    FrameHeader,
    coding::{Data, OpCode},
};

/// Frames up to this size (header included) are sent from one buffer, larger ones in two
/// pieces.
const CONTIGUOUS: usize = 1024;

pub struct Wire {
    tcp: TcpStream,
    /// The part of a frame written straight in that the kernel has not taken yet (empty:
    /// none). Only ever touched by whoever holds the socket's write turn, so never contended.
    unsent: Mutex<Unsent>,
}

#[derive(Default)]
struct Unsent {
    bytes: Vec<u8>,
    /// How much of `bytes` the kernel has taken.
    taken: usize,
}

/// What the kernel took of a frame handed to [`Wire::write_frame`].
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// All of it.
    Whole,
    /// Part (or none) of it: the rest waits here, and goes out with the next flush of the
    /// socket, before anything else.
    Part,
}

/// The opcodes a frame written straight in may carry.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Text,
    Binary,
}

impl Wire {
    pub fn new(tcp: TcpStream) -> Arc<Self> {
        Arc::new(Wire {
            tcp,
            unsent: Mutex::default(),
        })
    }

    fn unsent(&self) -> MutexGuard<'_, Unsent> {
        self.unsent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes one unmasked, final WebSocket frame carrying `payload`. The caller holds the
    /// socket's write turn and knows nothing else is buffered above (or it would be
    /// overtaken). An error means the connection is gone.
    pub fn write_frame(&self, kind: Kind, payload: &[u8]) -> io::Result<Sent> {
        let header = FrameHeader {
            opcode: OpCode::Data(match kind {
                Kind::Text => Data::Text,
                Kind::Binary => Data::Binary,
            }),
            ..FrameHeader::default()
        };
        // At most 10 bytes for a server's frame (no mask).
        let mut head = [0u8; 14];
        let head_len = header.len(payload.len() as u64);
        header
            .format(payload.len() as u64, &mut &mut head[..])
            .map_err(io::Error::other)?;
        let head = &head[..head_len];
        let mut unsent = self.unsent();
        if !unsent.bytes.is_empty() {
            // (Not expected: the caller checks that nothing waits.) Keep the order.
            unsent.bytes.extend_from_slice(head);
            unsent.bytes.extend_from_slice(payload);
            return Ok(Sent::Part);
        }
        // Straight to the kernel, without asking tokio whether the socket was writable when
        // it last looked (a cache miss per socket, and an answer the kernel gives anyway); a
        // stale readiness is corrected by tokio at the next write it makes itself. A small
        // frame is copied into one buffer: `send()` costs the kernel less than `sendmsg()`
        // with two pieces (measured: see docs/PERFORMANCE.md).
        let socket = socket2::SockRef::from(&self.tcp);
        let total = head.len() + payload.len();
        let sent = if total <= CONTIGUOUS {
            let mut frame = [0u8; CONTIGUOUS];
            frame[..head.len()].copy_from_slice(head);
            frame[head.len()..total].copy_from_slice(payload);
            socket.send_with_flags(&frame[..total], libc::MSG_NOSIGNAL)
        } else {
            let bufs = [IoSlice::new(head), IoSlice::new(payload)];
            socket.send_vectored_with_flags(&bufs, libc::MSG_NOSIGNAL)
        };
        let taken = match sent {
            Ok(n) => n,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                0
            }
            Err(error) => return Err(error),
        };
        if taken == total {
            return Ok(Sent::Whole);
        }
        // The frame is committed (its sequence number given, a compressed stream advanced):
        // what the kernel did not take waits for the socket's next flush.
        let (head_rest, payload_rest) = match taken.checked_sub(head.len()) {
            None => (&head[taken..], payload),
            Some(of_payload) => (&[][..], &payload[of_payload..]),
        };
        unsent.bytes.extend_from_slice(head_rest);
        unsent.bytes.extend_from_slice(payload_rest);
        unsent.taken = 0;
        Ok(Sent::Part)
    }

    /// Writes what is left of a frame written straight in, if anything.
    pub fn poll_unsent(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut unsent = self.unsent();
        while unsent.taken < unsent.bytes.len() {
            ready!(self.tcp.poll_write_ready(cx))?;
            match self.tcp.try_write(&unsent.bytes[unsent.taken..]) {
                Ok(n) => unsent.taken += n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        if !unsent.bytes.is_empty() {
            *unsent = Unsent::default();
        }
        Poll::Ready(Ok(()))
    }

    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.tcp.poll_read_ready(cx))?;
            match self.tcp.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }

    /// Writes from the stack above: after what is left of a frame written straight in.
    pub fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_unsent(cx))?;
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            match self.tcp.try_write_vectored(bufs) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                written => return Poll::Ready(written),
            }
        }
    }

    /// Waits for the client's first bytes without taking them.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.peek(buf).await
    }

    /// Shuts down the write side (the client reads the end of the stream after the last
    /// frame).
    pub fn shutdown_write(&self) -> io::Result<()> {
        socket2::SockRef::from(&self.tcp).shutdown(Shutdown::Write)
    }

    /// Waits until the client sent something (or closed), then discards it: `Ok(0)` once the
    /// client has closed its side.
    pub async fn discard_input(&self, scratch: &mut [u8]) -> io::Result<usize> {
        loop {
            self.tcp.readable().await?;
            match self.tcp.try_read(scratch) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                read => return read,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::{
        io::AsyncReadExt,
        net::{TcpListener, TcpStream},
    };

    async fn pair() -> (Arc<Wire>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (Wire::new(accepted.unwrap().0), client.unwrap())
    }

    #[tokio::test]
    async fn a_frame_is_written_whole_with_its_header() {
        let (wire, mut client) = pair().await;
        assert_eq!(wire.write_frame(Kind::Text, b"hi").unwrap(), Sent::Whole);
        let long = vec![b'x'; 300];
        assert_eq!(wire.write_frame(Kind::Binary, &long).unwrap(), Sent::Whole);
        let mut got = vec![0u8; 4 + 4 + 300];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..4], &[0x81, 2, b'h', b'i']);
        // 300 bytes: the 16-bit length form.
        assert_eq!(&got[4..8], &[0x82, 126, 1, 44]);
        assert_eq!(&got[8..], &long[..]);
    }

    #[tokio::test]
    async fn what_the_kernel_does_not_take_goes_out_first_and_in_order() {
        let (wire, mut client) = pair().await;
        // Frames the client does not read until the kernel's buffers are full.
        let payload: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        let mut frames = 0;
        while wire.write_frame(Kind::Binary, &payload).unwrap() == Sent::Whole {
            frames += 1;
            assert!(frames < 10_000, "the kernel never pushed back");
        }
        frames += 1;
        // A write from the stack above waits for the rest of the cut frame.
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            client.read_to_end(&mut all).await.unwrap();
            all
        });
        let after =
            std::future::poll_fn(|cx| wire.poll_write_vectored(cx, &[IoSlice::new(b"after")]))
                .await
                .unwrap();
        assert_eq!(after, 5);
        wire.shutdown_write().unwrap();
        let all = reader.await.unwrap();
        let frame_len = 10 + payload.len();
        assert_eq!(all.len(), frames * frame_len + 5);
        for frame in all[..frames * frame_len].chunks(frame_len) {
            assert_eq!(&frame[..2], &[0x82, 127]);
            assert_eq!(&frame[10..], &payload[..]);
        }
        assert_eq!(&all[frames * frame_len..], b"after");
    }
}
