//! A socket's outbound side as the rest of the node sees it: a bounded queue of ready-made
//! frames plus a one-shot close signal that carries the reason. Fan-out never waits on it.
//!
//! The queue is flume's: it allocates as frames arrive (tokio's mpsc allocates a 32-slot
//! block per channel up front), which matters with tens of thousands of idle sockets.

use super::CloseReason;
use axum::extract::ws::Message;
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

/// What happened to a frame handed to [`Outbound::try_send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Queued,
    /// The queue was full: the socket is now being closed as a slow consumer.
    Overflowed,
    /// The socket is already closing.
    Gone,
}

/// The sending half, cloned into every room the socket joins.
#[derive(Clone)]
pub struct Outbound {
    tx: flume::Sender<Message>,
    close: CloseSignal,
}

/// The receiving half, owned by the socket's writer.
pub struct OutboundQueue {
    pub rx: flume::Receiver<Message>,
    pub close: CloseSignal,
}

/// Asks a socket to close, once, with a reason; later reasons are ignored.
#[derive(Clone)]
pub struct CloseSignal {
    token: CancellationToken,
    reason: Arc<OnceLock<CloseReason>>,
}

pub fn channel(capacity: usize, parent: &CancellationToken) -> (Outbound, OutboundQueue) {
    let (tx, rx) = flume::bounded(capacity);
    let close = CloseSignal {
        token: parent.child_token(),
        reason: Arc::default(),
    };
    (
        Outbound {
            tx,
            close: close.clone(),
        },
        OutboundQueue { rx, close },
    )
}

impl Outbound {
    pub fn try_send(&self, frame: Message) -> Delivery {
        match self.tx.try_send(frame) {
            Ok(()) => Delivery::Queued,
            Err(flume::TrySendError::Full(_)) => {
                self.close.close(CloseReason::SlowConsumer);
                Delivery::Overflowed
            }
            Err(flume::TrySendError::Disconnected(_)) => Delivery::Gone,
        }
    }

    pub fn close(&self, reason: CloseReason) {
        self.close.close(reason);
    }

    pub fn close_signal(&self) -> &CloseSignal {
        &self.close
    }
}

impl CloseSignal {
    pub fn close(&self, reason: CloseReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    pub async fn closed(&self) {
        self.token.cancelled().await
    }

    pub fn is_closed(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The first reason given; a cancelled parent (node shutdown) reads as `ServerShutdown`.
    pub fn reason(&self) -> Option<CloseReason> {
        match self.reason.get() {
            Some(r) => Some(*r),
            None if self.token.is_cancelled() => Some(CloseReason::ServerShutdown),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_closes_as_slow_consumer() {
        let root = CancellationToken::new();
        let (out, queue) = channel(1, &root);
        assert_eq!(out.try_send(Message::Text("a".into())), Delivery::Queued);
        assert_eq!(
            out.try_send(Message::Text("b".into())),
            Delivery::Overflowed
        );
        assert_eq!(queue.close.reason(), Some(CloseReason::SlowConsumer));
        // The first reason sticks.
        out.close(CloseReason::HeartbeatTimeout);
        assert_eq!(queue.close.reason(), Some(CloseReason::SlowConsumer));
    }

    #[test]
    fn node_shutdown_reads_as_server_shutdown() {
        let root = CancellationToken::new();
        let (_out, queue) = channel(1, &root);
        assert_eq!(queue.close.reason(), None);
        root.cancel();
        assert_eq!(queue.close.reason(), Some(CloseReason::ServerShutdown));
    }
}
