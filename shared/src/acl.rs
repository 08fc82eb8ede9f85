//! Access-control state: channels, member roles, bans and DM participants, and the rules
//! that read them. The state lives in the broker so every node enforces one ACL.

use crate::{event::ChannelKind, id::Id};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// A member's role in a channel, in increasing order of power.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Moderator,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// May kick, ban, unban and change roles.
    pub fn can_moderate(self) -> bool {
        self >= Role::Moderator
    }

    /// May update and delete the channel.
    pub fn can_manage_channel(self) -> bool {
        self >= Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "member" => Ok(Role::Member),
            "moderator" => Ok(Role::Moderator),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            _ => Err(()),
        }
    }
}

/// A channel's metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Channel {
    pub id: Id,
    pub name: String,
    pub kind: ChannelKind,
    pub public: bool,
    pub created_at: String,
}

/// A user's standing in a channel, as the gateway needs it to admit a subscription.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    pub role: Option<Role>,
    pub banned: bool,
}

impl Standing {
    /// Members who are not banned may read the channel.
    pub fn may_read(self) -> bool {
        self.role.is_some() && !self.banned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(!Role::Member.can_moderate());
        assert!(Role::Moderator.can_moderate());
        assert!(!Role::Moderator.can_manage_channel());
        assert!(Role::Admin.can_manage_channel());
        assert!(Role::Owner > Role::Admin);
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn banned_members_may_not_read() {
        assert!(
            Standing {
                role: Some(Role::Member),
                banned: false
            }
            .may_read()
        );
        assert!(
            !Standing {
                role: Some(Role::Member),
                banned: true
            }
            .may_read()
        );
        assert!(
            !Standing {
                role: None,
                banned: false
            }
            .may_read()
        );
    }
}
