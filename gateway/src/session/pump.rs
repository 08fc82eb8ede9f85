//! One socket driven by one task in both directions. Whenever the socket's task is polled,
//! whatever it is waiting for (the next client frame, or the codec handling the last one),
//! the frames the node queued for the socket are moved into the WebSocket, up to a batch, with
//! one flush per batch. No split halves, no second task, no lock between reader and writer:
//! an idle socket is one small task, and a delivery is one wake-up of that task.
//!
//! The pump numbers the frames it writes (the session's `seq`, stamped into each frame by the
//! dialect) and remembers, per room, the last event with history it wrote: what a resumed
//! session starts from.

use super::{
    Frame, Stamp,
    outbound::{CloseSignal, Next},
};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use std::{
    collections::VecDeque,
    future::{Future, poll_fn},
    pin::{Pin, pin},
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

/// Frames moved into the socket before one flush.
const WRITE_BATCH: usize = 64;
/// Batches written in one poll before the task lets others run.
const BATCHES_PER_POLL: usize = 8;
/// Events with history a pump remembers by number, for a client that missed the last ones.
const TAIL: usize = 64;
/// How long the goodbye (queued frames, close frame, close handshake) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The events with history a socket's task wrote: per room the last one, and the last
/// [`TAIL`] by number (what a client that missed the last few frames is owed).
#[derive(Default)]
struct WriteLog {
    /// One entry per room (few rooms each).
    written: Vec<Arc<Stamp>>,
    tail: VecDeque<(u64, Arc<Stamp>)>,
    /// The number of the newest event that fell out of `tail` (0: none did).
    tail_floor: u64,
}

impl WriteLog {
    fn note(&mut self, seq: u64, stamp: &Arc<Stamp>) {
        match self.written.iter_mut().find(|s| s.room == stamp.room) {
            Some(last) => *last = stamp.clone(),
            None => self.written.push(stamp.clone()),
        }
        if self.tail.len() == TAIL
            && let Some((dropped, _)) = self.tail.pop_front()
        {
            self.tail_floor = dropped;
        }
        self.tail.push_back((seq, stamp.clone()));
    }
}

/// Turns a queued frame into what goes on the wire as the socket's `seq`-th frame: the
/// dialect puts the sequence number where its clients read it, then compresses if the client
/// asked. One per socket; a stateless encoder is a zero-sized closure (boxing it allocates
/// nothing), a compressing one holds the socket's zlib context.
pub trait Encoder: Send + 'static {
    fn encode(&mut self, message: &Message, seq: u64) -> Message;
}

impl<F: FnMut(&Message, u64) -> Message + Send + 'static> Encoder for F {
    fn encode(&mut self, message: &Message, seq: u64) -> Message {
        self(message, seq)
    }
}

pub struct Pump {
    /// Boxed: the WebSocket is large (~370 bytes) and moved through several futures on its
    /// way here, each of which would otherwise keep its own copy in the socket's task.
    socket: Box<WebSocket>,
    frames: flume::r#async::RecvStream<'static, Frame>,
    /// Says whether the queue is held back for a greeting, and hands the greeting over.
    signal: CloseSignal,
    encoder: Box<dyn Encoder>,
    /// Frames written so far: the last one written carried this number.
    seq: u64,
    /// What was written, for resuming; boxed and created with the first event with history,
    /// so an idle socket pays one word for it.
    log: Option<Box<WriteLog>>,
    /// Frames were written since the last completed flush.
    unflushed: bool,
    /// A write failed: the client is gone; reads report the end of the socket.
    failed: bool,
}

impl Pump {
    pub fn new(
        socket: Box<WebSocket>,
        frames: flume::Receiver<Frame>,
        signal: CloseSignal,
        encoder: Box<dyn Encoder>,
    ) -> Self {
        Pump {
            socket,
            frames: frames.into_stream(),
            signal,
            encoder,
            seq: 0,
            log: None,
            unflushed: false,
            failed: false,
        }
    }

    /// The next client frame (None once the socket is gone), writing queued frames meanwhile.
    /// Cancel-safe: all state lives in `self`.
    pub async fn next(&mut self) -> Option<Result<Message, axum::Error>> {
        poll_fn(|cx| {
            self.poll_write(cx);
            if self.failed {
                return Poll::Ready(None);
            }
            Pin::new(&mut self.socket).poll_next(cx)
        })
        .await
    }

    /// Runs `work` to completion, writing queued frames meanwhile (a failed write is
    /// remembered for [`Pump::next`]; it does not cut `work` short).
    pub async fn writing_while<F: Future>(&mut self, work: F) -> F::Output {
        let mut work = pin!(work);
        poll_fn(|cx| {
            self.poll_write(cx);
            let done = work.as_mut().poll(cx);
            // `work` handed a greeting over and waits on something else: write it now, not
            // when that wakes us.
            if done.is_pending() && self.signal.greeting_waits() {
                cx.waker().wake_by_ref();
            }
            done
        })
        .await
    }

    /// Says goodbye within [`CLOSE_TIMEOUT`]: the frames still queued (if `flush_queue`),
    /// then `close` (if any), then the closing handshake.
    pub async fn finish(&mut self, flush_queue: bool, close: Option<CloseFrame>) {
        if self.failed {
            return;
        }
        let goodbye = async {
            if let Next::Greeting(frames) = self.signal.next() {
                for frame in frames {
                    let message = self.numbered(&frame);
                    self.socket.feed(message).await?;
                }
            }
            if flush_queue {
                while let Some(Some(frame)) = self.frames.next().now_or_never() {
                    let message = self.numbered(&frame);
                    self.socket.feed(message).await?;
                }
            }
            if let Some(frame) = close {
                self.socket.send(Message::Close(Some(frame))).await?;
            }
            self.socket.close().await
        };
        if let Ok(Err(error)) = tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await {
            tracing::debug!(%error, "closing the socket failed");
        }
    }

    /// The frame's message with the next sequence number, noting where its room stands.
    fn numbered(&mut self, frame: &Frame) -> Message {
        self.seq += 1;
        if let Some(stamp) = &frame.stamp {
            self.log.get_or_insert_default().note(self.seq, stamp);
        }
        self.encoder.encode(&frame.message, self.seq)
    }

    /// The last events with history written, numbered, and the number of the newest one that
    /// is no longer among them.
    pub fn tail(&self) -> (Vec<(u64, Arc<Stamp>)>, u64) {
        match &self.log {
            Some(log) => (log.tail.iter().cloned().collect(), log.tail_floor),
            None => (Vec::new(), 0),
        }
    }

    /// The number of the last frame written (0: none yet).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Per room, the last event with history written.
    pub fn written(&self) -> &[Arc<Stamp>] {
        self.log.as_ref().map_or(&[], |log| &log.written)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) {
        if self.failed {
            return;
        }
        if let Err(error) = self.try_poll_write(cx) {
            tracing::debug!(%error, "socket write failed");
            self.failed = true;
        }
    }

    fn try_poll_write(&mut self, cx: &mut Context<'_>) -> Result<(), axum::Error> {
        for _ in 0..BATCHES_PER_POLL {
            let moved = self.move_batch(cx)?;
            if self.unflushed && Pin::new(&mut self.socket).poll_flush(cx)?.is_ready() {
                self.unflushed = false;
            }
            if moved < WRITE_BATCH || self.unflushed {
                // The queue is empty or the socket is full: a wake-up is registered either way.
                return Ok(());
            }
        }
        // More may be queued and no wake-up is registered for it: come back after letting
        // other tasks run.
        cx.waker().wake_by_ref();
        Ok(())
    }

    /// Moves up to [`WRITE_BATCH`] queued frames into the socket's write buffer.
    fn move_batch(&mut self, cx: &mut Context<'_>) -> Result<usize, axum::Error> {
        let mut moved = 0;
        let mut greeting = match self.signal.next() {
            Next::Queued => Vec::new(),
            // The socket's own task hands the greeting over and polls again right after.
            Next::Held => return Ok(0),
            Next::Greeting(frames) => frames,
        }
        .into_iter();
        while moved < WRITE_BATCH && Pin::new(&mut self.socket).poll_ready(cx)?.is_ready() {
            let frame = match greeting.next() {
                Some(frame) => frame,
                None => match Pin::new(&mut self.frames).poll_next(cx) {
                    Poll::Ready(Some(frame)) => frame,
                    _ => break,
                },
            };
            let message = self.numbered(&frame);
            Pin::new(&mut self.socket).start_send(message)?;
            self.unflushed = true;
            moved += 1;
        }
        // The socket took less than the greeting: the rest still goes first.
        self.signal.unwritten(greeting.collect());
        Ok(moved)
    }
}
