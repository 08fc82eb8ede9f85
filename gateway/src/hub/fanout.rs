//! The fan-out task: every broker message is parsed once, rendered at most once per format,
//! and queued to each local socket in its room with `try_send` (a full queue closes that
//! socket, never delays the others). Moderation events also take sockets out of rooms here.

use super::Hub;
use crate::{
    dialect::{Inbound, Rendered, render_revoked},
    metrics::Metrics,
    session::Delivery,
};
use shared::{
    broker::{ALL_PRESENCE, BrokerMessage, MessageStream, RecvError},
    event::Event,
};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

pub async fn run(
    hub: std::sync::Arc<Hub>,
    mut messages: MessageStream,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    loop {
        let received = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            received = messages.recv() => received,
        };
        match received {
            Ok(message) => deliver(&hub, &metrics, message),
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

fn deliver(hub: &Hub, metrics: &Metrics, message: BrokerMessage) {
    metrics.events_received.inc();
    let started = Instant::now();
    let Some(inbound) = Inbound::parse(&message.channel, message.payload) else {
        metrics.events_unroutable.inc();
        tracing::warn!(channel = %String::from_utf8_lossy(&message.channel), "dropping a broker message that is not an event");
        return;
    };
    // A message that came through the all-presence pattern goes to that room's followers.
    let room = if message.via_pattern {
        ALL_PRESENCE
    } else {
        inbound.room.as_str()
    };
    let effect = if message.via_pattern {
        Effect::None
    } else {
        Effect::of(&inbound)
    };
    if let Effect::EvictUser(user) = &effect {
        revoke(hub.evict_user(room, user), room);
    }
    let rendered = Rendered::new(&inbound);
    let (to_user, from_user) = (inbound.recipient(), inbound.sender());
    let delivered = hub.with_members(room, |room| {
        let mut delivered = 0;
        for member in room.members.values() {
            if to_user.is_some_and(|u| u != &member.user) || from_user == Some(&member.user) {
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
    if let Effect::EvictAll = effect {
        revoke(hub.evict_all(room), room);
    }
    metrics
        .fanout_seconds
        .observe(started.elapsed().as_secs_f64());
    if let Some(age) = inbound.age() {
        metrics.fanout_latency_seconds.observe(age.as_secs_f64());
    }
}

/// What an event does to room membership on this node.
enum Effect<'a> {
    None,
    /// The user is no longer a reader of the channel (kick, ban, leave).
    EvictUser(&'a shared::Id),
    /// The channel is gone.
    EvictAll,
}

impl<'a> Effect<'a> {
    fn of(inbound: &'a Inbound) -> Self {
        let Some(envelope) = &inbound.envelope else {
            return Effect::None;
        };
        if !inbound.room.starts_with("channel:") {
            return Effect::None;
        }
        match &envelope.event {
            Event::UserBanned(m) | Event::UserKicked(m) => {
                m.user_id.as_ref().map_or(Effect::None, Effect::EvictUser)
            }
            Event::MemberLeft(m) => Effect::EvictUser(&m.user_id),
            Event::ChannelDeleted(_) => Effect::EvictAll,
            _ => Effect::None,
        }
    }
}

/// Tells evicted sockets they left the room.
fn revoke(evicted: Vec<crate::session::MemberRef>, room: &str) {
    for member in evicted {
        member
            .outbound
            .try_send(render_revoked(member.format, room));
    }
}
