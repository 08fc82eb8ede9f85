//! Access-control changes, committed together with the events that announce them
//! ([`super::Broker::commit`]): the change and its publications are one Redis step, so no
//! failure leaves a change without its event, or an event without its change.

use crate::{
    acl::{Channel, Role},
    id::Id,
};

/// One change to the access-control state. Some are refused when the state is not what the
/// caller saw (the commit then writes and publishes nothing).
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Creates the channel (and its owner's membership). Refused: the id is taken.
    CreateChannel { channel: Channel, owner: Option<Id> },
    /// Overwrites an existing channel's metadata. Refused: the channel does not exist.
    UpdateChannel(Channel),
    /// Deletes the channel with its members, bans, messages and history (after its
    /// publications, which announce the deletion).
    DeleteChannel(Id),
    /// Records who wrote a message (edit and delete rights). Refused: the channel does not
    /// exist, or the id is taken.
    RecordMessage {
        channel: Id,
        message: Id,
        author: Id,
    },
    /// Forgets a message. Refused: no such message.
    ForgetMessage { channel: Id, message: Id },
    /// Sets a member's role, adding them if needed.
    SetMember { channel: Id, user: Id, role: Role },
    /// Removes a member. Refused: not a member.
    RemoveMember { channel: Id, user: Id },
    /// Bans a user, which also removes their membership. Banning again is allowed.
    Ban { channel: Id, user: Id },
    /// Lifts a ban. Refused: not banned.
    Unban { channel: Id, user: Id },
}

/// What a commit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Committed {
    /// The change is made and every publication is out, at these positions (in order).
    Done(Vec<crate::history::Position>),
    /// The change was refused (see [`Change`]): nothing was written or published.
    Refused,
}

impl Change {
    /// The channel whose state the change touches.
    pub fn channel(&self) -> &Id {
        match self {
            Change::CreateChannel { channel, .. } | Change::UpdateChannel(channel) => &channel.id,
            Change::DeleteChannel(id) => id,
            Change::RecordMessage { channel, .. }
            | Change::ForgetMessage { channel, .. }
            | Change::SetMember { channel, .. }
            | Change::RemoveMember { channel, .. }
            | Change::Ban { channel, .. }
            | Change::Unban { channel, .. } => channel,
        }
    }
}
