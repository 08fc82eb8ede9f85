//! The fan-out task: every broker message is parsed once, rendered at most once per format,
//! and queued to each local socket in its room with `try_send` (a full queue closes that
//! socket, never delays the others). Moderation events also take sockets out of rooms (and
//! users out of voice) here.

use crate::{
    dialect::{Inbound, Rendered, render_revoked},
    live::voice,
    node::Node,
    session::{ConnId, Delivery, MemberRef},
};
use shared::{
    Id,
    broker::{ALL_PRESENCE, BrokerMessage, MessageStream, RecvError},
    event::Event,
};
use std::{collections::HashSet, sync::Arc, time::Instant};

pub async fn run(node: Arc<Node>, mut messages: MessageStream) {
    let metrics = &node.metrics;
    loop {
        let received = tokio::select! {
            biased;
            _ = node.stopped.cancelled() => return,
            received = messages.recv() => received,
        };
        match received {
            Ok(message) => deliver(&node, message),
            Err(RecvError::Lagged(lost)) => {
                metrics.broker_lagged.inc_by(lost);
                tracing::error!(lost, "fan-out fell behind the broker; messages were lost");
            }
            Err(RecvError::Closed) => {
                tracing::error!("broker message stream closed");
                return;
            }
        }
    }
}

fn deliver(node: &Arc<Node>, message: BrokerMessage) {
    let (hub, metrics) = (&node.hub, &node.metrics);
    metrics.events_received.inc();
    let started = Instant::now();
    let Some(inbound) = Inbound::parse(&message.channel, message.payload) else {
        metrics.events_unroutable.inc();
        tracing::warn!(channel = %String::from_utf8_lossy(&message.channel), "dropping a broker message that is not an event");
        return;
    };
    // A message that came through the all-presence pattern goes to that room's followers,
    // except those who also follow the user directly (they get the direct copy).
    let (room, skip) = if message.via_pattern {
        let direct: HashSet<ConnId> = hub
            .with_members(&inbound.room, |r| r.members.keys().copied().collect())
            .unwrap_or_default();
        (ALL_PRESENCE, direct)
    } else {
        (inbound.room.as_str(), HashSet::new())
    };
    let effect = if message.via_pattern {
        Effect::default()
    } else {
        Effect::of(&inbound)
    };
    if let Some(user) = effect.evict_user {
        revoke(hub.evict_user(room, user), room);
    }
    if let Some((channel, user)) = effect.leave_voice {
        tokio::spawn(voice::evict(node.clone(), channel, user));
    }
    let rendered = Rendered::new(&inbound);
    let (to_user, from_user) = (inbound.recipient(), inbound.sender());
    let delivered = hub.with_members(room, |room| {
        let mut delivered = 0;
        for member in room.members.values() {
            if to_user.is_some_and(|u| u != &member.user)
                || from_user == Some(&member.user)
                || skip.contains(&member.conn)
            {
                continue;
            }
            let Some(frame) = rendered.frame(member.format) else {
                continue;
            };
            match member.outbound.try_send(frame) {
                Delivery::Queued => delivered += 1,
                Delivery::Overflowed => metrics.slow_consumer_closes.inc(),
                Delivery::Gone => {}
            }
        }
        delivered
    });
    match delivered {
        Some(n) => metrics.events_delivered.inc_by(n),
        None => metrics.events_unroutable.inc(),
    }
    if effect.evict_all {
        revoke(hub.evict_all(room), room);
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
            _ => Effect::default(),
        }
    }
}

/// Tells evicted sockets they left the room.
fn revoke(evicted: Vec<MemberRef>, room: &str) {
    for member in evicted {
        member
            .outbound
            .try_send(render_revoked(member.format, room));
    }
}
