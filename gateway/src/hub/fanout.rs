//! The fan-out task: every broker message is parsed once, rendered at most once per format,
//! and handed to each local socket in its room without waiting (a full queue closes that
//! socket, never delays the others). While the fan-out keeps up with the broker, a frame for
//! a socket with nothing queued is written straight into it (one `send()`, no wake-up of the
//! socket's task), for up to [`WRITE_THROUGH_PER_EVENT`] sockets per event; the rest, and
//! everything once broker messages wait, is queued, so that the sockets' own tasks write it
//! (in batches, on every worker thread). Moderation events also take sockets out of rooms (and
//! users out of voice) here.
//!
//! Events of rooms with history are checked against the room's last offset on this node
//! ([`super::streams`]): repeats are dropped, gaps are filled from history first, and after the
//! node's Redis link comes back every room is caught up from history. What cannot be filled
//! (trimmed, or the history was reset) is announced to the room's sockets as stale.

use super::streams::{Check, Streams};
use crate::{
    dialect::{Inbound, Rendered, render_revoked, render_stale},
    live::voice,
    node::Node,
    session::{CloseReason, ConnSet, Delivery, Frame, MemberRef, Outgoing, resume},
};
use futures_util::StreamExt;
use shared::{
    Id, Room,
    broker::{ALL_PRESENCE, BrokerMessage, MessageStream, RecvError},
    event::Event,
    history::Position,
};
use std::{sync::Arc, time::Instant};
use tokio::sync::mpsc;

/// Rooms whose history is read at once when the node catches up after a reconnect.
const CATCH_UP_IN_FLIGHT: usize = 64;
/// Sockets of one room an event is written to straight from the fan-out; the rest are queued.
/// Writing happens under the hub's read lock, which a socket joining or leaving any room
/// waits for: this bounds that wait to about as long as queueing to a 16,000-member room
/// took before (~7 ms), and spreads a larger room's sends over the worker threads.
const WRITE_THROUGH_PER_EVENT: usize = 1024;

/// Runs until the node stops. `resyncs` fires when the node's subscriptions were restored
/// after its Redis link came back: every room is then caught up from history.
pub async fn run(
    node: Arc<Node>,
    mut messages: MessageStream,
    mut resyncs: mpsc::UnboundedReceiver<()>,
) {
    let metrics = &node.metrics;
    let mut streams = Streams::default();
    loop {
        let received = tokio::select! {
            biased;
            _ = node.stopped.cancelled() => return,
            Some(()) = resyncs.recv() => {
                catch_up_all(&node, &mut streams).await;
                continue;
            }
            received = messages.recv() => received,
        };
        match received {
            Ok(message) => {
                let write_through = messages.backlog() == 0;
                // Without tokio's task budget: writing into sockets spends it (one unit per
                // socket), and past it every write would report "not ready" and fall back to
                // the queue. Receiving stays budgeted: the task yields when the broker has
                // nothing, or when the budget its receives spend runs out.
                let receiving = receive(&node, &mut streams, message, write_through);
                tokio::task::unconstrained(receiving).await
            }
            Err(RecvError::Lagged(lost)) => {
                metrics.broker_lagged.inc_by(lost);
                tracing::error!(
                    lost,
                    "fan-out fell behind the broker; refilling from history"
                );
                catch_up_all(&node, &mut streams).await;
            }
            Err(RecvError::Closed) => {
                tracing::error!("broker message stream closed");
                return;
            }
        }
    }
}

/// Handles one broker message: checks its room's continuity, then delivers it.
/// `write_through`: frames may be written straight into idle sockets (see the module's notes).
async fn receive(
    node: &Arc<Node>,
    streams: &mut Streams,
    message: BrokerMessage,
    write_through: bool,
) {
    let metrics = &node.metrics;
    metrics.events_received.inc();
    let Some(inbound) = Inbound::parse(&message.channel, message.payload) else {
        metrics.events_unroutable.inc();
        tracing::warn!(channel = %String::from_utf8_lossy(&message.channel), "dropping a broker message that is not an event");
        return;
    };
    if let Some(generic) = &inbound.generic
        && generic.get("type").and_then(|t| t.as_str()) == Some(resume::TAKEOVER)
    {
        // A node resuming a session asks the one holding it to let it go.
        if let Some(owner) = inbound
            .room
            .strip_prefix("user:")
            .and_then(|u| Id::parse(u).ok())
            && let Some(conn) = generic
                .get("session_id")
                .and_then(|id| id.as_str())
                .and_then(|id| resume::local_conn(node, id))
        {
            node.hub
                .close_session(conn, &owner, CloseReason::Superseded);
        }
        return;
    }
    if !message.via_pattern
        && let Some((offset, epoch)) = inbound.position()
    {
        let room = inbound.room.as_str();
        if let Some(generation) = node.hub.with_members(room, |r| r.generation) {
            match streams.check(room, generation, offset, epoch) {
                Check::InOrder => {}
                Check::Repeat => {
                    metrics.events_repeated.inc();
                    return;
                }
                Check::Gap { after } => {
                    fill_gap(node, room, after, offset, epoch).await;
                }
                Check::NewEpoch => {
                    // What came before the reset is gone; the new epoch's own events before
                    // this one can still be in history.
                    metrics.stream_gaps.with_label_values(&["lost"]).inc();
                    tracing::warn!(room, "room history was reset; its sockets are told");
                    announce_stale(
                        node,
                        room,
                        &Position {
                            offset: 0,
                            epoch: epoch.to_owned(),
                        },
                    );
                    if offset > 1 {
                        fill_gap(node, room, 0, offset, epoch).await;
                    }
                }
            }
            streams.advance(room, generation, offset, epoch);
        } else {
            streams.forget(room);
        }
    }
    deliver(node, &inbound, message.via_pattern, write_through);
}

/// Delivers the room's events after `after` and before `next` from history, or tells the
/// room's sockets they are stale when history no longer holds them all.
async fn fill_gap(node: &Arc<Node>, room: &str, after: u64, next: u64, epoch: &str) {
    let missing = next - after - 1;
    let limit = node.config.limits.max_replay;
    let read = if missing as usize <= limit {
        node.broker
            .history_after(room, after, missing as usize)
            .await
            .ok()
    } else {
        None
    };
    let filled = read.filter(|read| {
        read.top.epoch == epoch
            && read.events.len() as u64 == missing
            && read
                .events
                .iter()
                .zip(after + 1..)
                .all(|((o, _), want)| *o == want)
    });
    match filled {
        Some(read) => {
            node.metrics
                .stream_gaps
                .with_label_values(&["filled"])
                .inc();
            tracing::info!(room, missing, "filled a gap from history");
            deliver_history(node, room, read.events);
        }
        None => {
            node.metrics.stream_gaps.with_label_values(&["lost"]).inc();
            tracing::warn!(
                room,
                missing,
                "a gap could not be filled from history; its sockets are told"
            );
            let position = Position {
                offset: next - 1,
                epoch: epoch.to_owned(),
            };
            announce_stale(node, room, &position);
        }
    }
}

/// Catches every room with a local socket up with its history: what was published while the
/// node's subscriptions were down is delivered, or the room's sockets are told it is lost.
async fn catch_up_all(node: &Arc<Node>, streams: &mut Streams) {
    let limit = node.config.limits.max_replay;
    // Rooms the node still holds, as the same hub room (not left and joined again since),
    // and the quiet ones no event came through yet, from their readers' floors.
    let mut rooms: Vec<(String, u64, u64, String)> = streams
        .snapshot()
        .into_iter()
        .filter(|(room, generation, _, _)| {
            node.hub.with_members(room, |r| r.generation) == Some(*generation)
        })
        .collect();
    for (room, generation, floor) in node.hub.quiet_rooms() {
        if !streams.tracks(&room, generation) {
            rooms.push((room, generation, floor.offset, floor.epoch));
        }
    }
    tracing::info!(rooms = rooms.len(), "catching up rooms from history");
    let broker = node.broker.clone();
    let mut reads = futures_util::stream::iter(rooms)
        .map(|(room, generation, offset, epoch)| {
            let broker = broker.clone();
            async move {
                let read = broker.history_after(&room, offset, limit).await;
                (room, generation, offset, epoch, read)
            }
        })
        .buffered(CATCH_UP_IN_FLIGHT);
    while let Some((room, generation, offset, epoch, read)) = reads.next().await {
        let mut read = match read {
            Ok(read) => read,
            Err(error) => {
                // The next event in the room reveals the gap and fills it.
                node.metrics.broker_errors.inc();
                tracing::warn!(%error, room, "catch-up read failed");
                continue;
            }
        };
        let mut offset = offset;
        let was = Position {
            offset,
            epoch: epoch.clone(),
        };
        if !was.continues_in(&read.top) {
            // The history was reset: what came before is lost, the new epoch's events are not.
            node.metrics.stream_gaps.with_label_values(&["lost"]).inc();
            tracing::warn!(room, "room history was reset while the link was down");
            let reset = Position {
                offset: 0,
                epoch: read.top.epoch.clone(),
            };
            announce_stale(node, &room, &reset);
            offset = 0;
            match node.broker.history_after(&room, 0, limit).await {
                Ok(again) if again.top.epoch == reset.epoch => read = again,
                _ => {
                    streams.advance(&room, generation, read.top.offset, &read.top.epoch);
                    continue;
                }
            }
        }
        if read.top.offset <= offset {
            streams.advance(&room, generation, read.top.offset, &read.top.epoch);
            continue;
        }
        if read.is_complete_after(offset) {
            node.metrics
                .stream_gaps
                .with_label_values(&["filled"])
                .inc();
            deliver_history(node, &room, read.events);
        } else {
            node.metrics.stream_gaps.with_label_values(&["lost"]).inc();
            tracing::warn!(
                room,
                "events missed while the link was down are no longer in history"
            );
            announce_stale(node, &room, &read.top);
        }
        streams.advance(&room, generation, read.top.offset, &read.top.epoch);
    }
}

/// Delivers events read from history (each as published) to the room's sockets.
fn deliver_history(node: &Arc<Node>, room: &str, events: Vec<(u64, bytes::Bytes)>) {
    for (_, payload) in events {
        if let Some(inbound) = Inbound::parse(room.as_bytes(), payload) {
            node.metrics.events_refilled.inc();
            deliver(node, &inbound, false, false);
        }
    }
}

/// Tells the room's sockets that events up to `position` may be missing from what they got.
fn announce_stale(node: &Arc<Node>, room: &str, position: &Position) {
    let cap = node.config.limits.outbound_queue;
    node.hub.with_members(room, |members| {
        hand_to_members(members, cap, false, |member| {
            render_stale(member.format, room, position).map(Outgoing::plain)
        });
    });
}

/// How a room's members took a frame.
#[derive(Default)]
struct Handed {
    /// Queued or written (not counting frames held for seats catching up).
    delivered: u64,
    /// Of those, written straight into the socket.
    written: u64,
    /// Closed as slow consumers instead.
    overflowed: u64,
}

/// Hands a frame to each member of a room (`frame` picks it, or skips the member), holding it
/// for seats that are catching up; with `write_through`, written straight into (at most
/// [`WRITE_THROUGH_PER_EVENT`]) sockets that have nothing queued.
fn hand_to_members(
    members: &super::RoomMembers,
    cap: usize,
    write_through: bool,
    frame: impl Fn(&MemberRef) -> Option<Frame>,
) -> Handed {
    let mut seats = members.catching_up.as_ref().map(|c| c.lock());
    let mut handed = Handed::default();
    let mut direct_budget = if write_through {
        WRITE_THROUGH_PER_EVENT
    } else {
        0
    };
    for member in members.members.values() {
        let Some(frame) = frame(member) else {
            continue;
        };
        let frame = match seats.as_mut() {
            Some(seats) => match super::catchup::route(seats, member.conn, frame, cap) {
                Some(frame) => frame,
                None => continue,
            },
            None => frame,
        };
        let delivery = if direct_budget > 0 {
            direct_budget -= 1;
            member.outbound.try_write(frame)
        } else {
            member.outbound.try_send(frame)
        };
        match delivery {
            Delivery::Queued => handed.delivered += 1,
            Delivery::Written => {
                handed.delivered += 1;
                handed.written += 1;
            }
            Delivery::Overflowed => handed.overflowed += 1,
            Delivery::Gone => {}
        }
    }
    handed
}

fn deliver(node: &Arc<Node>, inbound: &Inbound, via_pattern: bool, write_through: bool) {
    let (hub, metrics) = (&node.hub, &node.metrics);
    let started = Instant::now();
    // A message that came through the all-presence pattern goes to that room's followers,
    // except those who also follow the user directly (they get the direct copy).
    let (room, skip) = if via_pattern {
        let direct: ConnSet = hub
            .with_members(&inbound.room, |r| r.members.keys().copied().collect())
            .unwrap_or_default();
        (ALL_PRESENCE, direct)
    } else {
        (inbound.room.as_str(), ConnSet::default())
    };
    let effect = if via_pattern {
        Effect::default()
    } else {
        Effect::of(inbound)
    };
    if let Some(user) = effect.evict_user {
        revoke(hub.evict_user(room, user), room);
    }
    if let Some((channel, user)) = effect.leave_voice {
        tokio::spawn(voice::evict(node.clone(), channel, user));
    }
    let rendered = Rendered::new(inbound);
    let (to_user, from_user) = (inbound.recipient(), inbound.sender());
    let cap = node.config.limits.outbound_queue;
    let delivered = hub.with_members(room, |members| {
        hand_to_members(members, cap, write_through, |member| {
            if to_user.is_some_and(|u| u != &member.user)
                || from_user == Some(&member.user)
                || skip.contains(&member.conn)
            {
                return None;
            }
            rendered.frame(member.format)
        })
    });
    match delivered {
        Some(handed) => {
            metrics.events_delivered.inc_by(handed.delivered);
            metrics.events_written_through.inc_by(handed.written);
            metrics.slow_consumer_closes.inc_by(handed.overflowed);
        }
        None => metrics.events_unroutable.inc(),
    }
    if effect.evict_all {
        revoke(hub.evict_all(room), room);
    }
    if let Some(granted) = effect.grant {
        hub.with_members(room, |members| grant(members, &granted));
    }
    metrics
        .fanout_seconds
        .observe(started.elapsed().as_secs_f64());
    if let Some(age) = inbound.age() {
        metrics.fanout_latency_seconds.observe(age.as_secs_f64());
    }
}

/// What an event does to this node's sockets besides delivering it.
#[derive(Default)]
struct Effect<'a> {
    /// The user is no longer a reader of the channel (kick, ban, leave): out of the room.
    evict_user: Option<&'a Id>,
    /// The channel is gone: every socket out of the room.
    evict_all: bool,
    /// The user may no longer be in the channel's voice: (channel, user).
    leave_voice: Option<(Id, Id)>,
    /// The room's user was let into this room (a channel, a DM): sessions that follow their
    /// rooms implicitly join it.
    grant: Option<Room>,
}

impl<'a> Effect<'a> {
    fn of(inbound: &'a Inbound) -> Self {
        let Some(envelope) = &inbound.envelope else {
            return Effect::default();
        };
        // Kicks and bans come twice: on the channel (with user_id) and on the user's own room
        // (without it). A node whose sockets are in voice may not be subscribed to the channel,
        // so voice reacts to either copy.
        let own_room_user = inbound
            .room
            .strip_prefix("user:")
            .and_then(|u| Id::parse(u).ok());
        let on_channel = inbound.room.starts_with("channel:");
        let voice = |user: &Id, channel: &Id| Some((channel.clone(), user.clone()));
        match &envelope.event {
            Event::UserBanned(m) | Event::UserKicked(m) if on_channel => match &m.user_id {
                Some(user) => Effect {
                    evict_user: Some(user),
                    leave_voice: voice(user, &m.channel_id),
                    ..Effect::default()
                },
                None => Effect::default(),
            },
            Event::UserBanned(m) | Event::UserKicked(m) => match &own_room_user {
                Some(user) => Effect {
                    leave_voice: voice(user, &m.channel_id),
                    ..Effect::default()
                },
                None => Effect::default(),
            },
            Event::MemberLeft(m) if on_channel => Effect {
                evict_user: Some(&m.user_id),
                leave_voice: voice(&m.user_id, &m.channel_id),
                ..Effect::default()
            },
            Event::ChannelDeleted(_) if on_channel => Effect {
                evict_all: true,
                ..Effect::default()
            },
            Event::MemberJoined(m) if own_room_user.as_ref() == Some(&m.user_id) => Effect {
                grant: Some(Room::Channel(m.channel_id.clone())),
                ..Effect::default()
            },
            Event::DmCreated(dm) if own_room_user.is_some() => Effect {
                grant: Some(Room::Dm(dm.dm_id.clone())),
                ..Effect::default()
            },
            _ => Effect::default(),
        }
    }
}

/// Tells the sessions that follow their rooms implicitly that they were let into `granted`;
/// one whose grants are not being taken is closed as a slow consumer.
fn grant(members: &super::RoomMembers, granted: &Room) {
    for member in members.members.values() {
        if let Some(grants) = &member.grants
            && let Err(flume::TrySendError::Full(_)) = grants.try_send(granted.clone())
        {
            member.outbound.close(CloseReason::SlowConsumer);
        }
    }
}

/// Tells evicted sockets they left the room.
fn revoke(evicted: Vec<MemberRef>, room: &str) {
    for member in evicted {
        if let Some(notice) = render_revoked(member.format, room) {
            member.outbound.try_send(Outgoing::plain(notice));
        }
    }
}
