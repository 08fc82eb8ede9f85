//! Voice channels: `VOICE_STATE` joins, updates or leaves a voice channel; the channel's
//! members (each user once) are broadcast as `VOICE_STATE_UPDATE` on every change, including
//! a socket closing and a dead node's lease lapsing. `VOICE_SIGNAL` relays WebRTC signaling
//! between the members.

use super::{Aggregate, update};
use crate::node::Node;
use serde_json::Value;
use shared::{
    Id, Room,
    acl::Channel,
    broker::BrokerError,
    event::{ChannelKind, Envelope, Event, VoiceMemberState, VoiceSignal},
    live::{LeaseOp, LiveKind, now_ms},
    voice::{self, SessionVoice},
};

/// Largest signal payload (an SDP offer with many candidates fits comfortably).
pub const MAX_SIGNAL_BYTES: usize = 8 * 1024;

/// Why a voice op was refused; each is one `ERROR` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VoiceError {
    #[error("forbidden room")]
    Forbidden,
    #[error("not a voice channel")]
    NotVoice,
    #[error("join the voice channel first")]
    NotInVoice,
    #[error("signal too large")]
    SignalTooLarge,
    #[error("room unavailable, try again")]
    Unavailable,
}

impl From<BrokerError> for VoiceError {
    fn from(_: BrokerError) -> Self {
        VoiceError::Unavailable
    }
}

/// Checks that `room` is a voice channel the user may read, and returns its id.
pub async fn voice_channel(node: &Node, room: &Room, user: &Id) -> Result<Id, VoiceError> {
    let Room::Channel(id) = room else {
        return Err(VoiceError::NotVoice);
    };
    if !node.broker.may_read(room, user).await? {
        return Err(VoiceError::Forbidden);
    }
    match node.broker.channel(id).await? {
        Some(Channel {
            kind: ChannelKind::Voice,
            ..
        }) => Ok(id.clone()),
        Some(_) => Err(VoiceError::NotVoice),
        None => Err(VoiceError::Forbidden),
    }
}

/// Joins (or updates this session's flags in) the voice channel.
pub async fn join(
    node: &Node,
    channel: &Id,
    field: &str,
    user: &Id,
    muted: bool,
    deafened: bool,
) -> Result<(), BrokerError> {
    let entry = SessionVoice {
        user_id: user.clone(),
        muted,
        deafened,
        at: now_ms(),
    };
    let value = serde_json::to_string(&entry).expect("voice entries serialize");
    update(
        node,
        &room(channel),
        LeaseOp::Set {
            field: field.to_owned(),
            value,
        },
        Aggregate::Voice { joined: true },
    )
    .await
}

/// Leaves the voice channel (op, socket closed).
pub async fn leave(node: &Node, channel: &Id, field: &str) -> Result<(), BrokerError> {
    update(
        node,
        &room(channel),
        LeaseOp::Remove {
            field: field.to_owned(),
        },
        Aggregate::Voice { joined: false },
    )
    .await
}

pub fn room(channel: &Id) -> String {
    format!("channel:{channel}")
}

/// (canonical, payload) of a channel's voice state.
pub(super) fn render(channel: &Id, joined: bool, entries: &[(String, String)]) -> (String, String) {
    let sessions: Vec<SessionVoice> = entries
        .iter()
        .filter_map(|(_, v)| serde_json::from_str(v).ok())
        .collect();
    let state = voice::aggregate(channel, joined, &sessions);
    (
        voice::canonical(&state),
        Envelope::new(Event::VoiceStateUpdate(state)).to_json(),
    )
}

/// Takes `user`'s sockets on this node out of the channel's voice: they were kicked, banned
/// or left the channel. (Their session still thinks it is in; leaving again is harmless.)
pub async fn evict(node: std::sync::Arc<Node>, channel: Id, user: Id) {
    let room = room(&channel);
    for field in node.leases.fields(LiveKind::Voice, &room) {
        let conn = field
            .rsplit_once('|')
            .and_then(|(_, c)| c.parse().ok())
            .map(crate::session::ConnId);
        if conn.and_then(|c| node.hub.session_user(c)).as_ref() != Some(&user) {
            continue;
        }
        if let Err(error) = leave(&node, &channel, &field).await {
            tracing::warn!(%error, "taking an evicted user out of voice failed; retried");
            node.leases.remove_later(LiveKind::Voice, &room, &field);
        }
    }
}

/// Relays a signal from a member of the voice channel to the others (or to one of them).
pub async fn signal(
    node: &Node,
    channel: &Id,
    from: &Id,
    signal: Value,
    to: Option<Id>,
) -> Result<(), VoiceError> {
    if serde_json::to_string(&signal).map_or(true, |s| s.len() > MAX_SIGNAL_BYTES) {
        return Err(VoiceError::SignalTooLarge);
    }
    if !node
        .broker
        .may_read(&Room::Channel(channel.clone()), from)
        .await?
    {
        return Err(VoiceError::Forbidden);
    }
    let current = node.broker.live_current(&[room(channel)]).await?;
    let members: Option<(Vec<Id>, Vec<VoiceMemberState>)> = current
        .into_iter()
        .next()
        .flatten()
        .and_then(|json| serde_json::from_str(&json).ok());
    if !members.is_some_and(|(ids, _)| ids.contains(from)) {
        return Err(VoiceError::NotInVoice);
    }
    let event = Event::VoiceSignal(VoiceSignal {
        from_user_id: from.clone(),
        signal,
        to_user_id: to,
    });
    node.broker
        .publish_transient(&Room::Channel(channel.clone()), &Envelope::new(event))
        .await?;
    Ok(())
}
