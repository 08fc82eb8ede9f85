//! Who may do what (DESIGN §5), written once for every route: the acting user of a request,
//! channel membership, and the role rules of moderation.

use crate::{auth::Actor, error::ApiError};
use shared::{
    acl::{Channel, Role, Standing},
    broker::Broker,
    id::Id,
};

/// The user a request acts as: a user token's own user, or the one a service names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActingUser {
    pub id: Id,
    /// The token's `name` claim, when a user token carries one.
    pub name: Option<String>,
    /// Named by a service token: membership checks are skipped.
    pub trusted: bool,
}

impl ActingUser {
    /// The name shown in events: the token's claim, else the remembered username.
    pub async fn display_name(&self, broker: &Broker) -> Result<Option<String>, ApiError> {
        match &self.name {
            Some(name) => Ok(Some(name.clone())),
            None => Ok(broker.username(&self.id).await?),
        }
    }
}

/// The name shown in events about `user`: the caller's own `name` claim when the caller is
/// that user, else the remembered username.
pub async fn display_name(
    broker: &Broker,
    actor: &Actor,
    user: &Id,
) -> Result<Option<String>, ApiError> {
    match actor.user() {
        Some(own) if &own.id == user && own.name.is_some() => Ok(own.name.clone()),
        Some(_) | None => Ok(broker.username(user).await?),
    }
}

/// The acting user; a service must name one in the body field `field`.
pub fn acting_user(
    actor: &Actor,
    named: Option<Id>,
    field: &'static str,
) -> Result<ActingUser, ApiError> {
    optional_acting_user(actor, named)?.ok_or(ApiError::ActingUserRequired(field))
}

/// The acting user, if any: a user token's own, or the one a service names. A user token
/// naming someone else is refused.
pub fn optional_acting_user(
    actor: &Actor,
    named: Option<Id>,
) -> Result<Option<ActingUser>, ApiError> {
    match (actor, named) {
        (Actor::Service, None) => Ok(None),
        (Actor::Service, Some(id)) => Ok(Some(ActingUser {
            id,
            name: None,
            trusted: true,
        })),
        (Actor::User(user), Some(id)) if id != user.id => Err(ApiError::Forbidden(
            "a user token may only act as its own user",
        )),
        (Actor::User(user), _) => Ok(Some(ActingUser {
            id: user.id.clone(),
            name: user.name.clone(),
            trusted: false,
        })),
    }
}

/// The channel, or 404.
pub async fn channel(broker: &Broker, id: &Id) -> Result<Channel, ApiError> {
    broker
        .channel(id)
        .await?
        .ok_or(ApiError::NotFound("channel"))
}

/// A user acting in a channel must be an unbanned member; a service-named user is trusted.
pub async fn require_member(
    broker: &Broker,
    channel: &Id,
    user: &ActingUser,
) -> Result<(), ApiError> {
    if !user.trusted {
        member_role(broker.standing(channel, &user.id).await?)?;
    }
    Ok(())
}

/// The role of an unbanned member; banned wins over not a member.
pub fn member_role(standing: Standing) -> Result<Role, ApiError> {
    match standing {
        Standing { banned: true, .. } => Err(ApiError::Banned),
        Standing { role: None, .. } => Err(ApiError::NotMember),
        Standing {
            role: Some(role), ..
        } => Ok(role),
    }
}

/// What the caller may do in one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authority {
    /// A trusted backend: every role check passes.
    Service,
    /// An unbanned member with this role.
    User { id: Id, role: Role },
}

/// The caller's authority in a channel: a user must be an unbanned member.
pub async fn authority(
    broker: &Broker,
    channel: &Id,
    actor: &Actor,
) -> Result<Authority, ApiError> {
    match actor {
        Actor::Service => Ok(Authority::Service),
        Actor::User(user) => {
            let role = member_role(broker.standing(channel, &user.id).await?)?;
            Ok(Authority::User {
                id: user.id.clone(),
                role,
            })
        }
    }
}

/// The caller's authority in a channel, which must be at least `min`.
pub async fn require_role(
    broker: &Broker,
    channel: &Id,
    actor: &Actor,
    min: Role,
) -> Result<Authority, ApiError> {
    authority(broker, channel, actor).await?.at_least(min)
}

impl Authority {
    /// Refuses with 403 `forbidden` when the role is below `min`.
    pub fn at_least(self, min: Role) -> Result<Self, ApiError> {
        match &self {
            Authority::User { role, .. } if *role < min => Err(ApiError::Forbidden(match min {
                Role::Member => "members only",
                Role::Moderator => "needs the moderator role or higher",
                Role::Admin => "needs the admin role or higher",
                Role::Owner => "needs the owner role",
            })),
            Authority::User { .. } | Authority::Service => Ok(self),
        }
    }

    /// May moderate: kick, ban, change roles, delete others' messages.
    pub fn can_moderate(&self) -> bool {
        match self {
            Authority::Service => true,
            Authority::User { role, .. } => role.can_moderate(),
        }
    }

    /// Nobody grants a role above their own.
    pub fn ensure_may_grant(&self, role: Role) -> Result<(), ApiError> {
        match self {
            Authority::User { role: own, .. } if role > *own => {
                Err(ApiError::Forbidden("cannot grant a role above your own"))
            }
            Authority::User { .. } | Authority::Service => Ok(()),
        }
    }

    /// Acting on a member needs a higher rank than theirs; an owner may act on anyone.
    pub fn ensure_outranks(&self, target: Role) -> Result<(), ApiError> {
        match self {
            Authority::User { role: own, .. } if *own != Role::Owner && target >= *own => Err(
                ApiError::Forbidden("cannot act on a member of equal or higher rank"),
            ),
            Authority::User { .. } | Authority::Service => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::auth::User;

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    fn user(s: &str) -> Actor {
        Actor::User(User {
            id: id(s),
            name: Some(format!("{s}-name")),
        })
    }

    fn as_user(role: Role) -> Authority {
        Authority::User { id: id("me"), role }
    }

    #[test]
    fn a_user_acts_as_itself() {
        let acting = acting_user(&user("u1"), None, "user_id").unwrap();
        assert_eq!(acting.id, id("u1"));
        assert_eq!(acting.name.as_deref(), Some("u1-name"));
        assert!(!acting.trusted);
        assert!(acting_user(&user("u1"), Some(id("u1")), "user_id").is_ok());
        assert!(matches!(
            acting_user(&user("u1"), Some(id("u2")), "user_id"),
            Err(ApiError::Forbidden(_))
        ));
    }

    #[test]
    fn a_service_names_the_acting_user() {
        let acting = acting_user(&Actor::Service, Some(id("u2")), "author_id").unwrap();
        assert!(acting.trusted);
        assert_eq!(acting.id, id("u2"));
        assert!(matches!(
            acting_user(&Actor::Service, None, "author_id"),
            Err(ApiError::ActingUserRequired("author_id"))
        ));
        assert_eq!(optional_acting_user(&Actor::Service, None).unwrap(), None);
    }

    #[test]
    fn standing_rules() {
        let standing = |role, banned| Standing { role, banned };
        assert_eq!(
            member_role(standing(Some(Role::Admin), false)).unwrap(),
            Role::Admin
        );
        assert!(matches!(
            member_role(standing(None, false)),
            Err(ApiError::NotMember)
        ));
        assert!(matches!(
            member_role(standing(None, true)),
            Err(ApiError::Banned)
        ));
        assert!(matches!(
            member_role(standing(Some(Role::Member), true)),
            Err(ApiError::Banned)
        ));
    }

    #[test]
    fn roles_gate_actions() {
        assert!(as_user(Role::Member).at_least(Role::Moderator).is_err());
        assert!(as_user(Role::Moderator).at_least(Role::Moderator).is_ok());
        assert!(as_user(Role::Moderator).at_least(Role::Admin).is_err());
        assert!(Authority::Service.at_least(Role::Owner).is_ok());
        assert!(!as_user(Role::Member).can_moderate());
        assert!(as_user(Role::Moderator).can_moderate());
        assert!(Authority::Service.can_moderate());
    }

    #[test]
    fn nobody_grants_above_their_own_role() {
        assert!(
            as_user(Role::Moderator)
                .ensure_may_grant(Role::Moderator)
                .is_ok()
        );
        assert!(
            as_user(Role::Moderator)
                .ensure_may_grant(Role::Admin)
                .is_err()
        );
        assert!(as_user(Role::Owner).ensure_may_grant(Role::Owner).is_ok());
        assert!(Authority::Service.ensure_may_grant(Role::Owner).is_ok());
    }

    #[test]
    fn only_owners_act_on_equals() {
        assert!(
            as_user(Role::Moderator)
                .ensure_outranks(Role::Member)
                .is_ok()
        );
        assert!(
            as_user(Role::Moderator)
                .ensure_outranks(Role::Moderator)
                .is_err()
        );
        assert!(as_user(Role::Admin).ensure_outranks(Role::Owner).is_err());
        assert!(as_user(Role::Owner).ensure_outranks(Role::Owner).is_ok());
        assert!(Authority::Service.ensure_outranks(Role::Owner).is_ok());
    }
}
