//! One client socket's task: joins its rooms, then reads frames until told to stop or until its
//! lifetime ends, scoring probes against its rooms, counting typing notices (and echoes of its own)
//! and sending heartbeats. Frames are classified from their bytes (see `probe`), never parsed as
//! JSON.

use super::{RoomTrack, Ws};
use crate::ledger::Ledger;
use crate::probe::{self, Frame};
use crate::stats::Stats;
use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

const JOIN_TIMEOUT: Duration = Duration::from_secs(15);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Not subscribed yet: nothing is owed to the socket in this room.
const NOT_JOINED: u64 = u64::MAX;

pub struct Socket {
    id: usize,
    /// The socket's user, whose own typing notices are not counted.
    user: String,
    ws: Ws,
    heartbeat: Duration,
    tracks: Vec<RoomTrack>,
    stats: Arc<Stats>,
}

/// What a socket saw, returned when its task ends.
#[derive(Debug)]
pub struct Outcome {
    pub tracks: Vec<RoomTrack>,
    /// False for a socket that left by itself before the run stopped (churn).
    pub stayed: bool,
    /// Set when the server or the network ended the socket before it was told to stop.
    pub failure: Option<String>,
}

impl Socket {
    pub fn new(id: usize, user: String, ws: Ws, heartbeat: Duration, stats: Arc<Stats>) -> Socket {
        Socket {
            id,
            user,
            ws,
            heartbeat,
            tracks: Vec::new(),
            stats,
        }
    }

    /// Subscribes to `rooms` (ledger indexes), all requests sent before the first answer is
    /// read. Each room's `from_seq` is read from the ledger when its `SUBSCRIBED` arrives.
    pub async fn join(&mut self, rooms: &[usize], ledger: &Ledger) -> anyhow::Result<()> {
        for &room in rooms {
            let name = ledger.room(room).room.clone();
            let request = json!({"op": "SUBSCRIBE", "room": name}).to_string();
            self.ws.send(Message::text(request)).await?;
            self.tracks.push(RoomTrack::new(room, name, NOT_JOINED));
        }
        tokio::time::timeout(JOIN_TIMEOUT, self.await_subscribed(ledger))
            .await
            .with_context(|| format!("no SUBSCRIBED within {JOIN_TIMEOUT:?}"))?
    }

    async fn await_subscribed(&mut self, ledger: &Ledger) -> anyhow::Result<()> {
        let mut pending = self.tracks.len();
        while pending > 0 {
            let frame = self.ws.next().await.context("closed while subscribing")??;
            let Message::Text(text) = frame else {
                continue;
            };
            match self.on_text(&text) {
                "SUBSCRIBED" => {
                    let reply: serde_json::Value = serde_json::from_str(&text)?;
                    let track = self
                        .tracks
                        .iter_mut()
                        .find(|t| reply["room"] == t.name.as_str())
                        .with_context(|| format!("SUBSCRIBED for a room not asked: {reply}"))?;
                    track.from_seq = ledger.room(track.room).issued();
                    pending -= 1;
                }
                "ERROR" => bail!("SUBSCRIBE refused: {}", text.as_str()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads frames until `stop` is cancelled or `lifetime` (if any) has passed.
    pub async fn run(mut self, stop: CancellationToken, lifetime: Option<Duration>) -> Outcome {
        // Spread the heartbeats of many sockets over the interval.
        let offset = self.heartbeat * (self.id % 1000) as u32 / 1000;
        let mut beat = tokio::time::interval_at(Instant::now() + offset, self.heartbeat);
        let leave = async {
            match lifetime {
                Some(lifetime) => tokio::time::sleep(lifetime).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(leave);
        // Created once: a fresh `cancelled()` future per frame would register and unregister
        // with the token (two lock round trips) on every delivery.
        let stopped = stop.cancelled();
        tokio::pin!(stopped);
        let (stayed, failure) = loop {
            // Frames first: while data is waiting, the timers and the stop signal are not
            // polled at all (the stop comes after the traffic, when reads go idle).
            tokio::select! {
                biased;
                frame = self.ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        self.on_text(&text);
                    }
                    Some(Ok(Message::Ping(_))) => {
                        let _ = self.ws.flush().await; // sends the queued Pong
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let why = frame
                            .map_or("no code".to_owned(), |f| format!("{} {}", f.code, f.reason));
                        break (true, Some(format!("closed by the server: {why}")));
                    }
                    Some(Ok(_)) => {
                        self.stats.other_frames.fetch_add(1, Relaxed);
                    }
                    Some(Err(e)) => break (true, Some(format!("read failed: {e}"))),
                    None => break (true, Some("connection ended".to_owned())),
                },
                _ = beat.tick() => {
                    let heartbeat = Message::text(r#"{"op":"HEARTBEAT"}"#);
                    if let Err(e) = self.ws.send(heartbeat).await {
                        break (true, Some(format!("sending a heartbeat failed: {e}")));
                    }
                }
                _ = &mut stopped => break (true, None),
                _ = &mut leave => break (false, None),
            }
        };
        if failure.is_none() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.ws.close(None)).await;
        } else {
            self.stats.unexpected_closes.fetch_add(1, Relaxed);
        }
        self.stats.ended.fetch_add(1, Relaxed);
        Outcome {
            tracks: self.tracks,
            stayed,
            failure,
        }
    }

    /// Scores one text frame; returns its type when it is neither a probe nor typing.
    fn on_text<'t>(&mut self, text: &'t str) -> &'t str {
        match probe::scan(text) {
            Frame::Probe { room, seq, sent_ns } => {
                self.stats
                    .probe(self.id, probe::now_ns().saturating_sub(sent_ns));
                if let Some(track) = self.tracks.iter_mut().find(|t| t.name == room) {
                    track.observe(seq);
                }
                ""
            }
            Frame::Typing { user } => {
                if user == self.user {
                    self.stats.typing_echoes.fetch_add(1, Relaxed);
                } else {
                    self.stats.typing(self.id);
                }
                ""
            }
            Frame::Other(kind) => {
                self.stats.other_frames.fetch_add(1, Relaxed);
                kind
            }
        }
    }
}
