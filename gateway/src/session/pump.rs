//! One socket driven by one task in both directions. Whenever the socket's task is polled,
//! whatever it is waiting for (the next client frame, or the codec handling the last one),
//! the frames the node queued for the socket are moved into the WebSocket, up to a batch, with
//! one flush per batch. No split halves, no second task: an idle socket is one small task.
//!
//! The socket itself sits in a [`SharedSocket`] that the node's fan-out shares: when the
//! socket's queue is empty and nothing is held back for a greeting, the fan-out writes a frame
//! straight into the socket (one `send()`, no wake-up of the socket's task, no queue), and
//! falls back to the queue whenever that would have to wait (the socket's task is busy with
//! it, the kernel's buffer is full, frames are queued). Order and the slow-consumer rule are
//! the queue's.
//!
//! On a socket the node accepted itself, the fan-out's frame goes from the session's encoder
//! straight to the kernel ([`crate::serve::Wire`]): one `send()` of the frame's header and
//! body, without tungstenite's and hyper's write paths, whenever those have nothing buffered
//! (a frame the socket's task wrote through them is flushed, and no reply to a client's ping
//! or close may be waiting in tungstenite).
//!
//! Whoever writes numbers the frames it writes (the session's `seq`, stamped into each frame by the
//! dialect) and remembers, per room, the last event with history it wrote: what a resumed
//! session starts from.

use super::{
    Frame, Stamp,
    outbound::{CloseSignal, Next, OutboundQueue},
};
use crate::serve::{Kind, Sent, Wire};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use std::{
    collections::VecDeque,
    future::{Future, poll_fn},
    pin::{Pin, pin},
    sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError},
    task::{Context, Poll, Waker},
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

/// The events with history written to a socket: per room the last one, and the last
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

/// The socket and what writing to it needs, shared by the socket's task (which reads from it
/// and writes its queue) and the node's fan-out (which may write a frame straight in: see
/// [`SharedSocket::write_now`]). The lock is only ever held for one poll, never across an
/// `.await`, and the fan-out only tries it.
#[derive(Default)]
pub struct SharedSocket(Mutex<WriteState>);

#[derive(Default)]
struct WriteState {
    /// None before the socket's task starts and once it says goodbye: frames wait in the queue.
    open: Option<Open>,
    numbering: Numbering,
    /// The socket's task, as it last parked: a write started elsewhere that has to finish
    /// later (or failed) wakes it.
    waker: Option<Waker>,
    /// Frames were written since the last completed flush.
    unflushed: bool,
    /// A write failed: the client is gone; reads report the end of the socket.
    failed: bool,
}

struct Open {
    /// Boxed: the WebSocket is large (~370 bytes) and moved through several futures on its
    /// way here, each of which would otherwise keep its own copy in the socket's task.
    socket: Box<WebSocket>,
    /// The socket's TCP stream, for frames written straight in (None: a socket served by
    /// something other than the node's own accept loop).
    wire: Option<Arc<Wire>>,
    encoder: Box<dyn Encoder>,
}

#[derive(Default)]
struct Numbering {
    /// Frames written so far: the last one written carried this number.
    seq: u64,
    /// What was written, for resuming; boxed and created with the first event with history,
    /// so an idle socket pays one word for it.
    log: Option<Box<WriteLog>>,
}

impl Numbering {
    /// The number of the next frame written, noting where its room stands.
    fn next(&mut self, frame: &Frame) -> u64 {
        self.seq += 1;
        if let Some(stamp) = &frame.stamp {
            self.log.get_or_insert_default().note(self.seq, stamp);
        }
        self.seq
    }
}

/// What [`SharedSocket::write_now`] did with a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteNow {
    /// In the socket (or in its write buffer, which the socket's task flushes).
    Written,
    /// The write failed: the client is gone, and so is the frame.
    Failed,
    /// Not now: queue it.
    Busy,
}

impl SharedSocket {
    fn lock(&self) -> MutexGuard<'_, WriteState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `frame` into the socket now, if the socket's task is not using it, `may_write`
    /// says nothing is waiting to go first (checked under the lock, which the socket's task
    /// holds while it moves queued frames), and the socket takes it without waiting. A flush
    /// the kernel cannot take whole is finished by the socket's task, which is woken for it;
    /// frames after it are queued.
    pub fn write_now(&self, frame: &Frame, may_write: impl FnOnce() -> bool) -> WriteNow {
        let mut state = match self.0.try_lock() {
            Ok(state) => state,
            Err(TryLockError::WouldBlock) => return WriteNow::Busy,
            Err(TryLockError::Poisoned(poisoned)) => {
                // A write panicked half-way: this socket's state cannot be trusted; its task
                // ends the session.
                let mut state = poisoned.into_inner();
                state.failed = true;
                if let Some(waker) = &state.waker {
                    waker.wake_by_ref();
                }
                return WriteNow::Failed;
            }
        };
        let WriteState {
            open: Some(open),
            numbering,
            waker: Some(waker),
            unflushed: unflushed @ false,
            failed: failed @ false,
        } = &mut *state
        else {
            return WriteNow::Busy;
        };
        if !may_write() {
            return WriteNow::Busy;
        }
        if let Some(wire) = &open.wire {
            let message = open.encoder.encode(&frame.message, numbering.next(frame));
            let written = match &message {
                Message::Text(text) => wire.write_frame(Kind::Text, text.as_bytes()),
                Message::Binary(bytes) => wire.write_frame(Kind::Binary, bytes),
                // Encoders make data frames only.
                _ => Err(std::io::Error::other("not a data frame")),
            };
            return match written {
                Ok(Sent::Whole) => WriteNow::Written,
                Ok(Sent::Part) => {
                    // The rest goes out with the socket task's next flush, before anything
                    // else; until then frames are queued.
                    *unflushed = true;
                    waker.wake_by_ref();
                    WriteNow::Written
                }
                Err(error) => {
                    tracing::debug!(%error, "socket write failed");
                    *failed = true;
                    waker.wake_by_ref();
                    WriteNow::Failed
                }
            };
        }
        // The socket task's waker, so that what the socket registers (writable again) wakes
        // that task.
        let mut cx = Context::from_waker(waker);
        let written = match Pin::new(&mut open.socket).poll_ready(&mut cx) {
            Poll::Pending => return WriteNow::Busy,
            Poll::Ready(Err(error)) => Err(error),
            Poll::Ready(Ok(())) => {
                let message = open.encoder.encode(&frame.message, numbering.next(frame));
                Pin::new(&mut open.socket)
                    .start_send(message)
                    .and_then(|()| match Pin::new(&mut open.socket).poll_flush(&mut cx) {
                        Poll::Ready(result) => result.map(|()| false),
                        Poll::Pending => Ok(true),
                    })
            }
        };
        match written {
            Ok(pending) => {
                *unflushed = pending;
                WriteNow::Written
            }
            Err(error) => {
                // The socket's task ends the session.
                tracing::debug!(%error, "socket write failed");
                *failed = true;
                waker.wake_by_ref();
                WriteNow::Failed
            }
        }
    }
}

impl WriteState {
    /// Remembers the socket's task to wake (cloning its waker only when it changed).
    fn park(&mut self, waker: &Waker) {
        match &mut self.waker {
            Some(known) if known.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }
}

pub struct Pump {
    socket: Arc<SharedSocket>,
    frames: flume::r#async::RecvStream<'static, Frame>,
    /// Says whether the queue is held back for a greeting, and hands the greeting over.
    signal: CloseSignal,
}

impl Pump {
    /// Puts the socket into the queue's shared socket, from where this task (and the fan-out, when
    /// the queue is empty) writes it.
    pub fn new(
        socket: Box<WebSocket>,
        wire: Option<Arc<Wire>>,
        queue: &OutboundQueue,
        encoder: Box<dyn Encoder>,
    ) -> Self {
        let mut state = queue.socket.lock();
        state.open = Some(Open {
            socket,
            wire,
            encoder,
        });
        // Before the session, tungstenite may have answered a client's ping and kept part of
        // the answer: nothing is written straight in before the task's first flush.
        state.unflushed = true;
        drop(state);
        Pump {
            socket: queue.socket.clone(),
            frames: queue.rx.clone().into_stream(),
            signal: queue.close.clone(),
        }
    }

    /// The next client frame (None once the socket is gone), writing queued frames meanwhile.
    /// Cancel-safe: all state lives in `self`.
    pub async fn next(&mut self) -> Option<Result<Message, axum::Error>> {
        poll_fn(|cx| {
            let mut state = self.socket.lock();
            state.park(cx.waker());
            state.poll_write(cx, &mut self.frames, &self.signal);
            let WriteState {
                open: Some(open),
                failed: false,
                unflushed,
                ..
            } = &mut *state
            else {
                return Poll::Ready(None);
            };
            let read = Pin::new(&mut open.socket).poll_next(cx);
            if let Poll::Ready(Some(Ok(Message::Ping(_) | Message::Close(_)))) = &read {
                // tungstenite answers these itself and may hold its answer until a flush:
                // nothing is written straight in before that flush.
                *unflushed = true;
            }
            read
        })
        .await
    }

    /// Runs `work` to completion, writing queued frames meanwhile (a failed write is
    /// remembered for [`Pump::next`]; it does not cut `work` short).
    pub async fn writing_while<F: Future>(&mut self, work: F) -> F::Output {
        let mut work = pin!(work);
        poll_fn(|cx| {
            {
                let mut state = self.socket.lock();
                state.park(cx.waker());
                state.poll_write(cx, &mut self.frames, &self.signal);
            }
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
        // Out of the shared socket: from here on nothing is written straight in.
        let (open, failed) = {
            let mut state = self.socket.lock();
            (state.open.take(), state.failed)
        };
        let Some(Open {
            mut socket,
            mut encoder,
            ..
        }) = open.filter(|_| !failed)
        else {
            return;
        };
        let shared = &self.socket;
        let mut numbered = |frame: &Frame| {
            let seq = shared.lock().numbering.next(frame);
            encoder.encode(&frame.message, seq)
        };
        let goodbye = async {
            if let Next::Greeting(frames) = self.signal.next() {
                for frame in frames {
                    socket.feed(numbered(&frame)).await?;
                }
            }
            if flush_queue {
                while let Some(Some(frame)) = self.frames.next().now_or_never() {
                    socket.feed(numbered(&frame)).await?;
                }
            }
            if let Some(frame) = close {
                socket.send(Message::Close(Some(frame))).await?;
            }
            socket.close().await
        };
        if let Ok(Err(error)) = tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await {
            tracing::debug!(%error, "closing the socket failed");
        }
    }

    /// The last events with history written, numbered, and the number of the newest one that
    /// is no longer among them.
    pub fn tail(&self) -> (Vec<(u64, Arc<Stamp>)>, u64) {
        match &self.socket.lock().numbering.log {
            Some(log) => (log.tail.iter().cloned().collect(), log.tail_floor),
            None => (Vec::new(), 0),
        }
    }

    /// The number of the last frame written (0: none yet).
    pub fn seq(&self) -> u64 {
        self.socket.lock().numbering.seq
    }

    /// Per room, the last event with history written.
    pub fn written(&self) -> Vec<Arc<Stamp>> {
        self.socket
            .lock()
            .numbering
            .log
            .as_ref()
            .map_or_else(Vec::new, |log| log.written.clone())
    }
}

impl WriteState {
    /// Moves queued frames into the socket and flushes, as far as the socket takes them.
    fn poll_write(&mut self, cx: &mut Context<'_>, frames: &mut Queue, signal: &CloseSignal) {
        if self.failed {
            return;
        }
        if let Err(error) = self.try_poll_write(cx, frames, signal) {
            tracing::debug!(%error, "socket write failed");
            self.failed = true;
        }
    }

    fn try_poll_write(
        &mut self,
        cx: &mut Context<'_>,
        frames: &mut Queue,
        signal: &CloseSignal,
    ) -> Result<(), axum::Error> {
        let Some(open) = &mut self.open else {
            return Ok(());
        };
        for _ in 0..BATCHES_PER_POLL {
            let moved = move_batch(open, &mut self.numbering, cx, frames, signal)?;
            if moved > 0 {
                self.unflushed = true;
            }
            if self.unflushed && Pin::new(&mut open.socket).poll_flush(cx)?.is_ready() {
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
}

type Queue = flume::r#async::RecvStream<'static, Frame>;

/// Moves up to [`WRITE_BATCH`] queued frames (the greeting first) into the socket's write
/// buffer.
fn move_batch(
    open: &mut Open,
    numbering: &mut Numbering,
    cx: &mut Context<'_>,
    frames: &mut Queue,
    signal: &CloseSignal,
) -> Result<usize, axum::Error> {
    let mut moved = 0;
    let mut greeting = match signal.next() {
        Next::Queued => Vec::new(),
        // The socket's own task hands the greeting over and polls again right after.
        Next::Held => return Ok(0),
        Next::Greeting(frames) => frames,
    }
    .into_iter();
    while moved < WRITE_BATCH && Pin::new(&mut open.socket).poll_ready(cx)?.is_ready() {
        let frame = match greeting.next() {
            Some(frame) => frame,
            None => match Pin::new(&mut *frames).poll_next(cx) {
                Poll::Ready(Some(frame)) => frame,
                _ => break,
            },
        };
        let message = open.encoder.encode(&frame.message, numbering.next(&frame));
        Pin::new(&mut open.socket).start_send(message)?;
        moved += 1;
    }
    // The socket took less than the greeting: the rest still goes first.
    signal.unwritten(greeting.collect());
    Ok(moved)
}
