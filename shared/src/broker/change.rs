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
    /// Records who wrote a message (edit and delete rights). Refused, in this order: the
    /// channel does not exist; when `as_member`, the author is banned or not a member; the
    /// `parent` (of a reply) is not a message of the channel; the id is taken. Checked in the
    /// step that writes, so a ban, a kick or a deletion is never overtaken by a post that
    /// read the state before it.
    RecordMessage {
        channel: Id,
        message: Id,
        author: Id,
        parent: Option<Id>,
        as_member: bool,
    },
    /// Writes nothing: the conditions an edit's `message_updated` is published on. Refused, in
    /// this order: the channel does not exist; with an `editor` (a user, not a service), the
    /// editor is banned or not a member; the message does not exist; it is not the editor's.
    /// Checked in the step that publishes, so an edit is never published after the message's
    /// deletion, the channel's, or the editor's ban or kick.
    EditMessage {
        channel: Id,
        message: Id,
        editor: Option<Id>,
    },
    /// Forgets a message. Refused as an edit with `author` as its editor: with an `author`
    /// (a user deleting their own message; a moderator's or a service's deletion has none),
    /// the author must still be an unbanned member.
    ForgetMessage {
        channel: Id,
        message: Id,
        author: Option<Id>,
    },
    /// Sets a user's role in the channel: a join, or with `existing` a member's role change.
    /// Refused, in this order: the channel does not exist; the user is banned; with
    /// `existing`, the user is no longer a member (a kick came first); without, the user is
    /// a member already (a racing join came first: one join, one `member_joined`).
    SetMember {
        channel: Id,
        user: Id,
        role: Role,
        existing: bool,
    },
    /// Removes a member. Refused: not a member.
    RemoveMember { channel: Id, user: Id },
    /// Bans a user, which also removes their membership. Banning again is allowed. Refused:
    /// the channel does not exist.
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
    Refused(Refusal),
}

/// Why a change was refused: the first of its conditions (see [`Change`]) that did not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The channel does not exist.
    NoChannel,
    /// The channel or message id is taken.
    Taken,
    /// The user is banned from the channel.
    Banned,
    /// The user is not a member of the channel.
    NotMember,
    /// The user is already a member of the channel.
    AlreadyMember,
    /// The user is not banned.
    NotBanned,
    /// The message (or the parent of a reply) does not exist.
    NoMessage,
    /// The message is not the acting user's.
    NotAuthor,
}

impl Change {
    /// The channel whose state the change touches.
    pub fn channel(&self) -> &Id {
        match self {
            Change::CreateChannel { channel, .. } | Change::UpdateChannel(channel) => &channel.id,
            Change::DeleteChannel(id) => id,
            Change::RecordMessage { channel, .. }
            | Change::EditMessage { channel, .. }
            | Change::ForgetMessage { channel, .. }
            | Change::SetMember { channel, .. }
            | Change::RemoveMember { channel, .. }
            | Change::Ban { channel, .. }
            | Change::Unban { channel, .. } => channel,
        }
    }
}
