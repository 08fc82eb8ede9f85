//! A socket's outbound side as the rest of the node sees it: a bounded queue of ready-made
//! frames plus a one-shot close signal that carries the reason. Fan-out never waits on it.
//! While a session greets, the queue can be held back so that the greeting (READY,
//! INIT_STATE) is written before any event of the rooms it joined ([`Outbound::hold`]).
//!
//! The fan-out may skip the queue: while it is empty and nothing is held back, a frame is
//! written straight into the socket ([`Outbound::try_write`], [`super::pump::SharedSocket`]).
//!
//! The queue is flume's: it allocates as frames arrive (tokio's mpsc allocates a 32-slot
//! block per channel up front), which matters with tens of thousands of idle sockets.
//!
//! The close signal has exactly one waiter, the socket's task, which polls it on every
//! wake-up (every queued delivery): an atomic read and an [`AtomicWaker`], where a
//! `CancellationToken` took a mutex twice per poll (profiled at ~5 % of the gateway's CPU
//! during fan-out). Node shutdown closes every session through the hub instead of through a
//! parent token.

use super::{
    CloseReason,
    pump::{SharedSocket, WriteNow},
};
use axum::extract::ws::Message;
use futures_util::task::AtomicWaker;
use shared::history::Position;
use std::{
    future::{Future, poll_fn},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU8, Ordering},
    },
    task::Poll,
};

/// A frame on its way to sockets: the message, shared by every socket of one format, and for
/// an event kept in history its place there (so that whoever writes it notes, per room, the
/// last event written: what a resumed session starts from).
pub struct Outgoing {
    pub message: Message,
    pub stamp: Option<Arc<Stamp>>,
}

/// Where an event stands: its room and its position in the room's history.
#[derive(Debug, PartialEq, Eq)]
pub struct Stamp {
    pub room: Box<str>,
    pub position: Position,
}

/// What the queue carries: cloned per socket as one reference count.
pub type Frame = Arc<Outgoing>;

impl Outgoing {
    /// A frame for one socket that is not an event with history (a reply, a notice).
    pub fn plain(message: Message) -> Frame {
        Arc::new(Outgoing {
            message,
            stamp: None,
        })
    }
}

/// How long [`Outbound::send_waiting`] waits for room in a full queue.
const SEND_WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What happened to a frame handed to [`Outbound::try_write`] or [`Outbound::try_send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Queued,
    /// Written straight into the socket (the queue was empty).
    Written,
    /// The queue was full: the socket is now being closed as a slow consumer.
    Overflowed,
    /// The socket is already closing, or its client is gone.
    Gone,
}

/// The sending half, cloned into every room the socket joins.
#[derive(Clone)]
pub struct Outbound {
    tx: flume::Sender<Frame>,
    close: CloseSignal,
    socket: Arc<SharedSocket>,
}

/// The receiving half, owned by the socket's task.
pub struct OutboundQueue {
    pub rx: flume::Receiver<Frame>,
    pub close: CloseSignal,
    /// Where the socket goes once its task starts ([`super::pump::Pump::new`]).
    pub socket: Arc<SharedSocket>,
}

/// Asks a socket to close, once, with a reason; later reasons are ignored.
#[derive(Clone, Default)]
pub struct CloseSignal(Arc<CloseState>);

#[derive(Default)]
struct CloseState {
    reason: OnceLock<CloseReason>,
    /// The socket's task, waiting in [`CloseSignal::closed`].
    waiter: AtomicWaker,
    /// [`OPEN`], [`HELD`] or [`AHEAD`]: see [`Outbound::hold`].
    ahead: AtomicU8,
    /// The greeting, once handed over, until the socket's task writes it (no allocation
    /// while empty).
    greeting: Mutex<Vec<Frame>>,
}

/// Queued frames are written as they come.
const OPEN: u8 = 0;
/// Queued frames wait for the greeting.
const HELD: u8 = 1;
/// The greeting is waiting in `greeting`, to be written before the queued frames.
const AHEAD: u8 = 2;

pub fn channel(capacity: usize) -> (Outbound, OutboundQueue) {
    let (tx, rx) = flume::bounded(capacity);
    let close = CloseSignal::default();
    let socket = Arc::<SharedSocket>::default();
    (
        Outbound {
            tx,
            close: close.clone(),
            socket: socket.clone(),
        },
        OutboundQueue { rx, close, socket },
    )
}

impl Outbound {
    /// Writes `frame` straight into the socket when nothing is queued or held back for it and
    /// the socket takes it at once; queues it otherwise ([`Outbound::try_send`]). For the
    /// fan-out: it saves waking the socket's task (and the queue) per delivery.
    pub fn try_write(&self, frame: Frame) -> Delivery {
        // The queue is checked under the socket's lock only (its length takes flume's lock).
        let written = self
            .socket
            .write_now(&frame, || self.close.writes_through() && self.tx.is_empty());
        match written {
            WriteNow::Written => Delivery::Written,
            WriteNow::Failed => Delivery::Gone,
            WriteNow::Busy => self.try_send(frame),
        }
    }

    /// Queues `frame` for the socket's task; a full queue closes the socket as a slow consumer.
    pub fn try_send(&self, frame: Frame) -> Delivery {
        match self.tx.try_send(frame) {
            Ok(()) => Delivery::Queued,
            Err(flume::TrySendError::Full(_)) => {
                self.close.close(CloseReason::SlowConsumer);
                Delivery::Overflowed
            }
            Err(flume::TrySendError::Disconnected(_)) => Delivery::Gone,
        }
    }

    /// Queues `frame`, waiting while the queue is full (for replays, which the socket's own
    /// task writes while it waits; never on the fan-out path). A socket that takes no frame
    /// for [`SEND_WAIT_LIMIT`] is closed as a slow consumer.
    pub async fn send_waiting(&self, frame: Frame) -> Delivery {
        if self.close.is_closed() {
            return Delivery::Gone;
        }
        match tokio::time::timeout(SEND_WAIT_LIMIT, self.tx.send_async(frame)).await {
            Ok(Ok(())) => Delivery::Queued,
            Ok(Err(_)) => Delivery::Gone,
            Err(_) => {
                self.close.close(CloseReason::SlowConsumer);
                Delivery::Overflowed
            }
        }
    }

    pub fn close(&self, reason: CloseReason) {
        self.close.close(reason);
    }

    /// Holds back what is queued for the socket until [`Outbound::send_ahead`]: a session
    /// that greets (READY, INIT_STATE) joins its rooms first, and an event fanned out to it
    /// meanwhile must not reach the client before the greeting.
    ///
    /// A greeting handed over earlier and not written yet stays first: the hold then starts
    /// only after it (the queue is not held meanwhile).
    pub fn hold(&self) {
        let _ =
            self.close
                .0
                .ahead
                .compare_exchange(OPEN, HELD, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Lets the queue go again without a greeting (the greeting failed).
    pub fn release(&self) {
        let _ =
            self.close
                .0
                .ahead
                .compare_exchange(HELD, OPEN, Ordering::AcqRel, Ordering::Acquire);
        self.close.0.waiter.wake();
    }

    /// Writes `frames` before everything queued, in order (after a greeting not written yet),
    /// and lets the queue go again. For greetings: a session holds its queue before it joins
    /// any room, so what is queued then came after the hold.
    pub fn send_ahead(&self, frames: Vec<Frame>) {
        self.close.0.restore(frames);
        self.close.0.waiter.wake();
    }
}

impl CloseState {
    /// Adds `frames` to the greeting still to be written (never replaces it).
    fn restore(&self, frames: Vec<Frame>) {
        let mut greeting = self.greeting.lock().unwrap_or_else(|e| e.into_inner());
        if greeting.is_empty() {
            *greeting = frames;
        } else {
            greeting.extend(frames);
        }
        self.ahead.store(AHEAD, Ordering::Release);
    }
}

/// What the socket's task may write next: see [`Outbound::hold`].
pub enum Next {
    Queued,
    Held,
    Greeting(Vec<Frame>),
}

impl CloseSignal {
    /// Whether queued frames may be written, or the greeting goes first. Cheap when nothing
    /// is held: one atomic read per batch of frames.
    pub fn next(&self) -> Next {
        match self.0.ahead.load(Ordering::Acquire) {
            OPEN => Next::Queued,
            HELD => Next::Held,
            _ => {
                let mut greeting = self.0.greeting.lock().unwrap_or_else(|e| e.into_inner());
                let frames = std::mem::take(&mut *greeting);
                self.0.ahead.store(OPEN, Ordering::Release);
                Next::Greeting(frames)
            }
        }
    }

    /// A greeting has been handed over and is not written yet.
    pub fn greeting_waits(&self) -> bool {
        self.0.ahead.load(Ordering::Acquire) == AHEAD
    }

    /// Gives back the part of a greeting that could not be written yet: it still goes first
    /// (the greeting was taken whole, so nothing can be ahead of it).
    pub fn unwritten(&self, rest: Vec<Frame>) {
        if !rest.is_empty() {
            self.0.restore(rest);
        }
    }
}

impl CloseSignal {
    pub fn close(&self, reason: CloseReason) {
        if self.0.reason.set(reason).is_ok() {
            self.0.waiter.wake();
        }
    }

    /// Resolves once the socket is asked to close. One waiter at a time: the socket's task.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + '_ {
        poll_fn(|cx| {
            if self.is_closed() {
                return Poll::Ready(());
            }
            self.0.waiter.register(cx.waker());
            // Closed between the check and the registration: do not sleep through it.
            if self.is_closed() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    pub fn is_closed(&self) -> bool {
        self.0.reason.get().is_some()
    }

    /// Nothing is held back for a greeting and the socket is not closing: a frame may skip
    /// the queue (when it is empty).
    fn writes_through(&self) -> bool {
        self.0.ahead.load(Ordering::Acquire) == OPEN && !self.is_closed()
    }

    /// The first reason given.
    pub fn reason(&self) -> Option<CloseReason> {
        self.0.reason.get().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_closes_as_slow_consumer() {
        let (out, queue) = channel(1);
        assert_eq!(
            out.try_send(Outgoing::plain(Message::Text("a".into()))),
            Delivery::Queued
        );
        assert_eq!(
            out.try_send(Outgoing::plain(Message::Text("b".into()))),
            Delivery::Overflowed
        );
        assert_eq!(queue.close.reason(), Some(CloseReason::SlowConsumer));
        // The first reason sticks.
        out.close(CloseReason::HeartbeatTimeout);
        assert_eq!(queue.close.reason(), Some(CloseReason::SlowConsumer));
    }

    #[test]
    fn a_held_queue_waits_for_the_greeting_which_goes_first() {
        let (out, queue) = channel(4);
        assert!(matches!(queue.close.next(), Next::Queued));
        out.hold();
        out.try_send(Outgoing::plain(Message::Text("event".into())));
        assert!(matches!(queue.close.next(), Next::Held));
        out.send_ahead(vec![
            Outgoing::plain(Message::Text("invalid".into())),
            Outgoing::plain(Message::Text("ready".into())),
        ]);
        match queue.close.next() {
            Next::Greeting(frames) => {
                let texts: Vec<_> = frames.iter().map(|f| f.message.clone()).collect();
                assert_eq!(
                    texts,
                    [
                        Message::Text("invalid".into()),
                        Message::Text("ready".into())
                    ]
                );
            }
            _ => panic!("the greeting comes first"),
        }
        assert!(matches!(queue.close.next(), Next::Queued));
    }

    #[test]
    fn a_greeting_not_written_yet_is_neither_replaced_nor_held_back() {
        let (out, queue) = channel(4);
        let text = |t: &str| Outgoing::plain(Message::Text(t.into()));
        out.hold();
        out.send_ahead(vec![text("first")]);
        // A second greeting before the first was written: both go, in order.
        out.hold();
        out.send_ahead(vec![text("second")]);
        match queue.close.next() {
            Next::Greeting(frames) => assert_eq!(frames.len(), 2),
            _ => panic!("both greetings go first"),
        }
        // A greeting given back unwritten is still first.
        out.send_ahead(vec![text("third")]);
        let Next::Greeting(frames) = queue.close.next() else {
            panic!("a greeting");
        };
        queue.close.unwritten(frames);
        assert!(queue.close.greeting_waits());
        out.release();
        assert!(matches!(queue.close.next(), Next::Greeting(_)));
    }

    #[tokio::test]
    async fn closing_wakes_the_waiter() {
        let (out, queue) = channel(1);
        let waiter = tokio::spawn(async move {
            queue.close.closed().await;
            queue.close.reason()
        });
        tokio::task::yield_now().await;
        out.close(CloseReason::ServerShutdown);
        assert_eq!(waiter.await.unwrap(), Some(CloseReason::ServerShutdown));
    }
}
