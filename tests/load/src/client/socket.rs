//! One client socket's task: joins its rooms, then reads frames until told to stop or until its
//! lifetime ends, scoring probes against its rooms, counting typing notices (and echoes of its own)
//! and sending heartbeats; in recovery mode it is also dropped and reopened now and then (see
//! `recover`). Frames are classified from their bytes (see `probe`), never parsed as JSON,
//! except the rare `SUBSCRIBED` and `ERROR` answers; under `zlib-stream` each binary frame is
//! inflated first.

use super::recover::{Recovery, RecoveryTally};
use super::{Inflate, Opened, RoomTrack, Ws};
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
/// The drop timer of a socket not in recovery mode (never polled).
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);

pub struct Socket {
    ws: Ws,
    inflate: Option<Inflate>,
    heartbeat: Duration,
    reader: Reader,
    recovery: Option<Recovery>,
}

/// What a socket's frames are scored into, apart from the connection so that a recovering
/// socket can replace its connection and keep its counts.
struct Reader {
    id: usize,
    /// The socket's user, whose own typing notices are not counted.
    user: String,
    tracks: Vec<RoomTrack>,
    stats: Arc<Stats>,
    /// Recovery mode: also follow each room's offsets.
    offsets: bool,
}

/// What a socket saw, returned when its task ends.
#[derive(Debug)]
pub struct Outcome {
    pub tracks: Vec<RoomTrack>,
    /// False for a socket that left by itself before the run stopped (churn).
    pub stayed: bool,
    /// Set when the server or the network ended the socket before it was told to stop (the
    /// drops of recovery mode are not failures).
    pub failure: Option<String>,
    /// Recovery mode only: the socket's drops, reconnects and answers.
    pub recovery: Option<RecoveryTally>,
}

impl Socket {
    pub fn new(id: usize, user: String, opened: Opened, stats: Arc<Stats>) -> Socket {
        let Opened {
            ws,
            heartbeat,
            inflate,
        } = opened;
        Socket {
            ws,
            inflate,
            heartbeat,
            reader: Reader {
                id,
                user,
                tracks: Vec::new(),
                stats,
                offsets: false,
            },
            recovery: None,
        }
    }

    /// Recovery mode: the socket will be dropped and reopened as `recovery` says.
    pub fn recover_with(&mut self, recovery: Recovery) {
        self.reader.offsets = true;
        self.recovery = Some(recovery);
    }

    /// Subscribes to `rooms` (ledger indexes), all requests sent before the first answer is
    /// read. Each room's `from_seq` is read from the ledger when its `SUBSCRIBED` arrives.
    pub async fn join(&mut self, rooms: &[usize], ledger: &Ledger) -> anyhow::Result<()> {
        for &room in rooms {
            let name = ledger.room(room).room.clone();
            let request = json!({"op": "SUBSCRIBE", "room": name}).to_string();
            self.ws.send(Message::text(request)).await?;
            self.reader
                .tracks
                .push(RoomTrack::new(room, name, NOT_JOINED));
        }
        tokio::time::timeout(JOIN_TIMEOUT, self.await_subscribed(ledger))
            .await
            .with_context(|| format!("no SUBSCRIBED within {JOIN_TIMEOUT:?}"))?
    }

    async fn await_subscribed(&mut self, ledger: &Ledger) -> anyhow::Result<()> {
        let mut pending = self.reader.tracks.len();
        while pending > 0 {
            let frame = self.ws.next().await.context("closed while subscribing")??;
            let Some(text) = data(&frame, &mut self.inflate).transpose()? else {
                continue;
            };
            match self.reader.on_text(text) {
                "SUBSCRIBED" => {
                    let reply: serde_json::Value = serde_json::from_str(text)?;
                    let track = self
                        .reader
                        .tracks
                        .iter_mut()
                        .find(|t| reply["room"] == t.name.as_str())
                        .with_context(|| format!("SUBSCRIBED for a room not asked: {reply}"))?;
                    track.from_seq = ledger.room(track.room).issued();
                    let data = &reply["data"];
                    if let (Some(offset), Some(epoch)) =
                        (data["offset"].as_u64(), data["epoch"].as_str())
                    {
                        track.position = Some((offset, epoch.to_owned()));
                    }
                    pending -= 1;
                }
                "ERROR" => bail!("SUBSCRIBE refused: {text}"),
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads frames until `stop` is cancelled or `lifetime` (if any) has passed.
    pub async fn run(self, stop: CancellationToken, lifetime: Option<Duration>) -> Outcome {
        let Socket {
            mut ws,
            mut inflate,
            heartbeat,
            mut reader,
            mut recovery,
        } = self;
        // Spread the heartbeats of many sockets over the interval.
        let offset = heartbeat * (reader.id % 1000) as u32 / 1000;
        let mut beat = tokio::time::interval_at(Instant::now() + offset, heartbeat);
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
        let recovering = recovery.is_some();
        let first_drop = recovery
            .as_mut()
            .map_or_else(|| Instant::now() + NEVER, Recovery::next_drop);
        let drop_timer = tokio::time::sleep_until(first_drop);
        tokio::pin!(drop_timer);
        let (stayed, failure) = loop {
            // Frames first: while data is waiting, the timers and the stop signal are not
            // polled at all (the stop comes after the traffic, when reads go idle).
            tokio::select! {
                biased;
                frame = ws.next() => match frame {
                    Some(Ok(frame @ (Message::Text(_) | Message::Binary(_)))) => {
                        reader.stats.received(reader.id, frame.len());
                        let text = match data(&frame, &mut inflate) {
                            Some(Ok(text)) => text,
                            Some(Err(e)) => break (true, Some(format!("{e:#}"))),
                            None => {
                                reader.stats.other_frames.fetch_add(1, Relaxed);
                                continue;
                            }
                        };
                        let kind = reader.on_text(text);
                        if let Some(recovery) = &mut recovery
                            && matches!(kind, "SUBSCRIBED" | "ERROR")
                        {
                            recovery.on_answer(kind, text, &mut reader.tracks);
                        }
                    }
                    Some(Ok(Message::Ping(_))) => {
                        let _ = ws.flush().await; // sends the queued Pong
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let why = frame
                            .map_or("no code".to_owned(), |f| format!("{} {}", f.code, f.reason));
                        break (true, Some(format!("closed by the server: {why}")));
                    }
                    Some(Ok(_)) => {
                        reader.stats.other_frames.fetch_add(1, Relaxed);
                    }
                    Some(Err(e)) => break (true, Some(format!("read failed: {e}"))),
                    None => break (true, Some("connection ended".to_owned())),
                },
                _ = beat.tick() => {
                    let heartbeat = Message::text(r#"{"op":"HEARTBEAT"}"#);
                    if let Err(e) = ws.send(heartbeat).await {
                        break (true, Some(format!("sending a heartbeat failed: {e}")));
                    }
                }
                _ = &mut stopped => {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await;
                    break (true, None);
                }
                _ = &mut leave => {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await;
                    break (false, None);
                }
                _ = &mut drop_timer, if recovering => {
                    let recovery = recovery.as_mut().expect("a socket in recovery mode");
                    if recovery.active() {
                        match recovery.drop_and_reopen(ws, &mut reader.tracks).await {
                            Ok(reopened) => (ws, inflate) = (reopened.ws, reopened.inflate),
                            Err(e) => break (true, Some(format!("{e:#}"))),
                        }
                    }
                    drop_timer.as_mut().reset(recovery.next_drop());
                }
            }
        };
        if failure.is_some() {
            reader.stats.unexpected_closes.fetch_add(1, Relaxed);
        }
        reader.stats.ended.fetch_add(1, Relaxed);
        Outcome {
            tracks: reader.tracks,
            stayed,
            failure,
            recovery: recovery.map(Recovery::into_tally),
        }
    }
}

/// The message a data frame carries: a text frame's own text, or a binary frame inflated when
/// the socket asked for `zlib-stream` (None for a binary frame otherwise).
fn data<'f>(
    frame: &'f Message,
    inflate: &'f mut Option<Inflate>,
) -> Option<anyhow::Result<&'f str>> {
    match (frame, inflate) {
        (Message::Text(text), _) => Some(Ok(text.as_str())),
        (Message::Binary(bytes), Some(inflate)) => Some(inflate.message(bytes)),
        _ => None,
    }
}

impl Reader {
    /// Scores one text frame; returns its type when it is neither a probe nor typing.
    fn on_text<'t>(&mut self, text: &'t str) -> &'t str {
        match probe::scan(text) {
            Frame::Probe { room, seq, sent_ns } => {
                let mut replayed = false;
                if let Some(track) = self.tracks.iter_mut().find(|t| t.name == room) {
                    track.observe(seq);
                    if self.offsets {
                        replayed = probe::offset(text).is_some_and(|o| track.observe_offset(o));
                    }
                }
                if replayed {
                    self.stats.replayed_probe(self.id);
                } else {
                    self.stats
                        .probe(self.id, probe::now_ns().saturating_sub(sent_ns));
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
                // Any other event of a followed room with an offset (recovery mode), so that
                // the offsets run without a hole.
                if self.offsets
                    && kind != "SUBSCRIBED"
                    && let Some(offset) = probe::offset(text)
                    && let Some(room) = probe::room(text)
                    && let Some(track) = self.tracks.iter_mut().find(|t| t.name == room)
                {
                    track.observe_offset(offset);
                }
                kind
            }
        }
    }
}
