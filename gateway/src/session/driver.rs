//! The socket loop every dialect shares once a session exists: one task per socket that
//! enforces the heartbeat window, the frame rate, the invalid-frame budget and the size caps,
//! hands each client frame to the dialect's codec, and (through [`Pump`]) writes the outbound
//! queue and the close frame.

use super::{
    CloseReason, Session,
    outbound::OutboundQueue,
    pump::{Encoder, Pump},
};
use crate::{config::Limits, serve::Wire};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use governor::{Quota, RateLimiter, clock::QuantaClock, state::InMemoryState, state::NotKeyed};
use shared::Room;
use std::{
    future::Future,
    num::NonZeroU32,
    sync::{Arc, LazyLock},
    time::Duration,
};
use tokio::time::{Instant, sleep};
use tracing::Instrument;

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
    /// Greets a session that was just admitted (its automatic rooms, its first frames).
    fn on_open(&mut self, session: &mut Session) -> impl Future<Output = ()> + Send;

    fn on_frame(
        &mut self,
        session: &mut Session,
        frame: Frame,
    ) -> impl Future<Output = Result<(), Strike>> + Send;

    /// The close frame this dialect sends for `reason`.
    fn close_frame(reason: CloseReason) -> CloseFrame;

    /// Client frames this dialect allows per 60 s, on top of the per-second limit (None: no
    /// such window). Past it: [`CloseReason::RateLimited`].
    fn frames_per_minute(_limits: &Limits) -> Option<u32> {
        None
    }

    /// How this socket's frames go on the wire (sequence number, compression).
    fn encoder(&mut self) -> Box<dyn Encoder>;

    /// Resolves when the node has news for this session alone (a room it was granted);
    /// never, for a dialect whose clients pick their rooms themselves.
    fn wake(&mut self) -> impl Future<Output = Option<Room>> + Send {
        std::future::pending()
    }

    /// Acts on what [`Codec::wake`] returned.
    fn on_wake(&mut self, _session: &mut Session, _room: Room) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Runs an admitted socket until it closes: greets it through the codec, then reads, writes
/// and enforces the limits until one side ends it, and counts it in the connection metrics.
///
/// Everything an idle socket keeps lives in this future (its task), so it is kept small: the
/// socket comes boxed, parameters are used in place rather than moved into new locals, and
/// the greeting, per-frame and closing work is boxed and exists only while it runs.
#[allow(clippy::manual_async_fn)] // on purpose: see the comment in the body
pub fn run<C: Codec>(
    socket: Box<WebSocket>,
    wire: Option<Arc<Wire>>,
    mut session: Session,
    queue: OutboundQueue,
    mut codec: C,
) -> impl Future<Output = ()> + Send {
    let span = span(&session);
    // An `async` block rather than an `async fn`: its captures are used in place, where an
    // `async fn` would keep each parameter twice (as argument and as local).
    async move {
        let node = session.node().clone();
        let limits = &node.config.limits;
        let format = [session.format().label()];
        node.metrics
            .connections_opened
            .with_label_values(&format)
            .inc();
        node.metrics
            .connections_open
            .with_label_values(&format)
            .inc();
        let mut pump = Pump::new(socket, wire, &queue, codec.encoder());
        let rate = limiter(limits.frames_per_second, Duration::from_secs(1), 2);
        let minute = C::frames_per_minute(limits)
            .filter(|&n| n > 0)
            .map(|n| limiter(n, Duration::from_secs(60), 1));
        let strikes = limiter(limits.invalid_frames_per_minute, Duration::from_secs(60), 1);
        // One close future and one timer for the socket's life, not fresh ones per frame.
        let closed = queue.close.closed();
        let heartbeat = sleep(limits.heartbeat_window());
        tokio::pin!(closed, heartbeat);
        {
            // The greeting's future is made (boxed) once a permit is held (the semaphore is
            // never closed).
            let _permit = node.greetings.acquire().await;
            pump.writing_while(Box::pin(codec.on_open(&mut session)))
                .await;
        }

        let reason = loop {
            let next = tokio::select! {
                biased;
                _ = &mut closed => break queue.close.reason().unwrap_or(CloseReason::ServerShutdown),
                _ = &mut heartbeat => break CloseReason::HeartbeatTimeout,
                next = pump.next() => next,
                Some(room) = codec.wake() => {
                    pump.writing_while(Box::pin(codec.on_wake(&mut session, room))).await;
                    continue;
                }
            };
            let frame = match classify(next, limits.max_frame_bytes) {
                Read::Frame(frame) => frame,
                Read::Control => {
                    heartbeat
                        .as_mut()
                        .reset(Instant::now() + limits.heartbeat_window());
                    continue;
                }
                Read::End(reason) => break reason,
            };
            heartbeat
                .as_mut()
                .reset(Instant::now() + limits.heartbeat_window());
            if rate.check().is_err() || minute.as_ref().is_some_and(|m| m.check().is_err()) {
                break CloseReason::RateLimited;
            }
            // Boxed: the codec's future is large (every op's state) and only lives while a frame is
            // handled; inline it would sit in every idle socket's task.
            let handled = pump
                .writing_while(Box::pin(codec.on_frame(&mut session, frame)))
                .await;
            if handled.is_err() && strikes.check().is_err() {
                break CloseReason::TooManyInvalidFrames;
            }
        };
        queue.close.close(reason);
        let draft = session.draft();
        drop(session);
        let goodbye = (reason != CloseReason::ClientGone).then(|| C::close_frame(reason));
        Box::pin(pump.finish(reason.flushes_queue(), goodbye)).await;
        // What resuming this session needs, now that every frame it will get is written.
        let (id, record) = super::resume::record(draft, &pump);
        drop(pump);
        let taken_over = reason == CloseReason::Superseded;
        Box::pin(super::resume::save(&node, id, record, taken_over)).await;
        tracing::debug!(reason = reason.label(), "session closed");
        node.metrics
            .connections_open
            .with_label_values(&format)
            .dec();
        node.metrics
            .connections_closed
            .with_label_values(&[reason.label()])
            .inc();
    }
    .instrument(span)
}

/// The span a session's work runs in, naming the connection, user and node. At `debug`, not
/// `info`: an enabled span takes a slot in the tracing registry's pool, which keeps every slot
/// it ever grew to, each with a small allocation made while the sessions were opening; after
/// 10,000 sessions those pinned about 40 MiB the allocator could not give back
/// (docs/PERFORMANCE.md). A session's warnings name their user themselves.
fn span(session: &Session) -> tracing::Span {
    tracing::debug_span!(
        "conn",
        conn.id = session.conn().0,
        user.id = %session.user_id(),
        node.id = %session.node().id,
    )
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

/// One clock for every socket's limiters: creating a `quanta` clock calibrates it (CPUID),
/// which profiled at a quarter of the gateway's CPU per connect when done per socket.
static CLOCK: LazyLock<QuantaClock> = LazyLock::new(QuantaClock::default);

fn limiter(
    per_period: u32,
    period: Duration,
    burst_factor: u32,
) -> RateLimiter<NotKeyed, InMemoryState, QuantaClock> {
    let n = NonZeroU32::new(per_period.max(1)).expect("max(1) is non-zero");
    let burst = NonZeroU32::new(per_period.max(1).saturating_mul(burst_factor)).expect("non-zero");
    let quota = Quota::with_period(period / n.get())
        .expect("a positive period")
        .allow_burst(burst);
    RateLimiter::direct_with_clock(quota, CLOCK.clone())
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
