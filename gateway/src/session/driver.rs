//! The socket pump every dialect shares once a session exists: a writer task that drains the
//! outbound queue (batching writes, one flush per batch) and sends the close frame, and a
//! reader loop that enforces the heartbeat window, the frame rate, the invalid-frame budget
//! and the size caps, handing each frame to the dialect's codec.

use super::{CloseReason, Session, outbound::OutboundQueue};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt, stream::SplitSink};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::{future::Future, num::NonZeroU32, time::Duration};
use tokio::time::{Instant, sleep_until};

/// Frames written before one flush.
const WRITE_BATCH: usize = 64;
/// How long the writer may take to send a close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// A client frame as the codec sees it.
pub enum Frame {
    Text(String),
    Binary(Bytes),
    /// Over the soft size limit: answer with an error, keep the socket.
    Oversized,
}

/// The client frame was invalid; the codec has already answered it.
pub struct Strike;

/// A dialect's wire format over the session core.
pub trait Codec: Send {
    fn on_frame(
        &mut self,
        session: &mut Session,
        frame: Frame,
    ) -> impl Future<Output = Result<(), Strike>> + Send;

    /// The close frame this dialect sends for `reason`.
    fn close_frame(reason: CloseReason) -> CloseFrame;
}

/// Runs the socket until it closes; returns why.
pub async fn run<C: Codec>(
    socket: WebSocket,
    mut session: Session,
    queue: OutboundQueue,
    mut codec: C,
) -> CloseReason {
    let limits = session.node().config.limits.clone();
    let close = queue.close.clone();
    let (sink, mut stream) = socket.split();
    let writer = tokio::spawn(write(sink, queue, C::close_frame));
    let rate = limiter(limits.frames_per_second, Duration::from_secs(1), 2);
    let strikes = limiter(limits.invalid_frames_per_minute, Duration::from_secs(60), 1);
    let mut deadline = Instant::now() + limits.heartbeat_window();
    // One close future for the socket's life, not a fresh one per frame.
    let closed = close.closed();
    tokio::pin!(closed);

    let reason = loop {
        let next = tokio::select! {
            biased;
            _ = &mut closed => break close.reason().unwrap_or(CloseReason::ServerShutdown),
            _ = sleep_until(deadline) => break CloseReason::HeartbeatTimeout,
            next = stream.next() => next,
        };
        let frame = match classify(next, limits.max_frame_bytes) {
            Read::Frame(frame) => frame,
            Read::Control => {
                deadline = Instant::now() + limits.heartbeat_window();
                continue;
            }
            Read::End(reason) => break reason,
        };
        deadline = Instant::now() + limits.heartbeat_window();
        if rate.check().is_err() {
            break CloseReason::RateLimited;
        }
        // Boxed: the codec's future is large (every op's state) and only lives while a frame is
        // handled; inline it would sit in every idle socket's task.
        let handled = Box::pin(codec.on_frame(&mut session, frame)).await;
        if handled.is_err() && strikes.check().is_err() {
            break CloseReason::TooManyInvalidFrames;
        }
    };
    close.close(reason);
    drop(session);
    let _ = writer.await;
    reason
}

/// What one read from the socket amounts to.
pub enum Read {
    /// A data frame for the codec.
    Frame(Frame),
    /// A ping or pong: proof of life, nothing to answer.
    Control,
    /// The socket is done.
    End(CloseReason),
}

/// Sorts one read from the socket: data frames (marked oversized past `max_frame_bytes`),
/// control frames, or the end of the socket and why.
pub fn classify(next: Option<Result<Message, axum::Error>>, max_frame_bytes: usize) -> Read {
    match next {
        None | Some(Ok(Message::Close(_))) => Read::End(CloseReason::ClientGone),
        Some(Err(error)) => Read::End(transport_error(error)),
        Some(Ok(Message::Text(t))) if t.len() > max_frame_bytes => Read::Frame(Frame::Oversized),
        Some(Ok(Message::Binary(b))) if b.len() > max_frame_bytes => Read::Frame(Frame::Oversized),
        Some(Ok(Message::Text(t))) => Read::Frame(Frame::Text(t.to_string())),
        Some(Ok(Message::Binary(b))) => Read::Frame(Frame::Binary(b)),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Read::Control,
    }
}

fn limiter(per_period: u32, period: Duration, burst_factor: u32) -> DefaultDirectRateLimiter {
    let n = NonZeroU32::new(per_period.max(1)).expect("max(1) is non-zero");
    let burst = NonZeroU32::new(per_period.max(1).saturating_mul(burst_factor)).expect("non-zero");
    let quota = Quota::with_period(period / n.get())
        .expect("a positive period")
        .allow_burst(burst);
    RateLimiter::direct(quota)
}

fn transport_error(error: axum::Error) -> CloseReason {
    let too_large = std::error::Error::source(&error)
        .and_then(|e| e.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
    if too_large {
        CloseReason::FrameTooLarge
    } else {
        tracing::debug!(%error, "socket read failed");
        CloseReason::ClientGone
    }
}

async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    queue: OutboundQueue,
    close_frame: fn(CloseReason) -> CloseFrame,
) {
    let closed = queue.close.closed();
    tokio::pin!(closed);
    loop {
        let first = tokio::select! {
            biased;
            _ = &mut closed => break,
            first = queue.rx.recv_async() => first.ok(),
        };
        let Some(first) = first else { break };
        if sink.feed(first).await.is_err() {
            queue.close.close(CloseReason::ClientGone);
            return;
        }
        for _ in 1..WRITE_BATCH {
            let Ok(next) = queue.rx.try_recv() else { break };
            if sink.feed(next).await.is_err() {
                queue.close.close(CloseReason::ClientGone);
                return;
            }
        }
        if sink.flush().await.is_err() {
            queue.close.close(CloseReason::ClientGone);
            return;
        }
    }
    let reason = queue.close.reason().unwrap_or(CloseReason::ClientGone);
    if reason.flushes_queue() {
        while let Ok(frame) = queue.rx.try_recv() {
            if sink.feed(frame).await.is_err() {
                return;
            }
        }
    }
    if reason != CloseReason::ClientGone {
        let _ = tokio::time::timeout(
            CLOSE_TIMEOUT,
            sink.send(Message::Close(Some(close_frame(reason)))),
        )
        .await;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
}
