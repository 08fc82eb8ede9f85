//! Probe messages published straight into Redis (`PUBLISH channel:<id> <envelope>`, the
//! seed-001 `channel_message` envelope the dispatcher would publish) to load the gateway alone.
//! Commands are pipelined; a reader task matches the replies, in order, to what was sent and
//! acknowledges them in the ledger.

use super::SendCounters;
use crate::ledger::Ledger;
use crate::probe;
use crate::redis::{Reply, RespConn, encode, read_reply};
use anyhow::{Context, bail};
use shared::Id;
use shared::event::{Envelope, Event, Message, now_rfc3339};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub struct RedisPublisher {
    writer: OwnedWriteHalf,
    /// (room, seq) of each command sent and not yet answered, in order.
    pending: mpsc::UnboundedSender<(usize, u64)>,
    replies: JoinHandle<anyhow::Result<()>>,
    ledger: Arc<Ledger>,
    counters: Arc<SendCounters>,
    author: Id,
    content_len: usize,
}

impl RedisPublisher {
    pub async fn connect(
        redis: SocketAddr,
        ledger: Arc<Ledger>,
        counters: Arc<SendCounters>,
        author: &str,
        content_len: usize,
    ) -> anyhow::Result<RedisPublisher> {
        let RespConn { mut reader, writer } = RespConn::connect(redis).await?;
        let (pending, mut answered) = mpsc::unbounded_channel::<(usize, u64)>();
        let (acks, counted) = (ledger.clone(), counters.clone());
        let replies = tokio::spawn(async move {
            while let Some((room, seq)) = answered.recv().await {
                match read_reply(&mut reader).await? {
                    Reply::Int(_) => {
                        acks.room(room).ack(seq);
                        counted.acked();
                    }
                    other => {
                        counted.failed(format!("PUBLISH answered {other:?}"));
                    }
                }
            }
            anyhow::Ok(())
        });
        Ok(RedisPublisher {
            writer,
            pending,
            replies,
            ledger,
            counters,
            author: Id::parse(author).context("author id")?,
            content_len,
        })
    }

    /// Publishes the next probe of `room`.
    pub async fn message(&mut self, room: usize) -> anyhow::Result<()> {
        let log = self.ledger.room(room);
        let seq = log.next_seq();
        let id = Id::parse(&format!("m{seq}"))?;
        let envelope = Envelope::new(Event::ChannelMessage(Message {
            channel_id: Id::parse(&log.channel)?,
            message_id: id.clone(),
            parent_message_id: None,
            user_id: self.author.clone(),
            username: None,
            content: probe::content(seq, probe::now_ns(), self.content_len),
            id,
            author_id: self.author.clone(),
            created_at: now_rfc3339(),
        }));
        let command = encode(&[
            b"PUBLISH",
            log.room.as_bytes(),
            envelope.to_json().as_bytes(),
        ]);
        self.pending.send((room, seq))?;
        self.counters.sent();
        self.writer.write_all(&command).await?;
        Ok(())
    }

    /// Waits for the replies to everything sent.
    pub async fn finish(self) -> anyhow::Result<()> {
        drop(self.pending);
        match self.replies.await? {
            Ok(()) => Ok(()),
            Err(e) => bail!("reading PUBLISH replies: {e}"),
        }
    }
}
