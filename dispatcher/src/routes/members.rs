//! Channel membership: list (`GET /members`), join or add (`PUT`), change a role (`PATCH`),
//! leave or remove (`DELETE`).

use crate::{
    access, auth::Actor, error::ApiError, json::Json, path::Path, state::AppState, validate,
};
use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use shared::{
    acl::{Role, Standing},
    broker::{Change, Refusal},
    event::{Event, Member, MemberRoleUpdated},
    id::Id,
    room::Room,
};
use utoipa::ToSchema;

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    username: Option<String>,
    role: Option<Role>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    role: Role,
}

/// A membership as the API answers it.
#[derive(Serialize, ToSchema)]
pub struct Membership {
    channel_id: Id,
    user_id: Id,
    role: Role,
    username: Option<String>,
}

/// The most members one listing answers.
pub const LIST_LIMIT: usize = 1000;

/// `GET /channels/{id}/members`.
#[derive(Serialize, ToSchema)]
pub struct MemberList {
    members: Vec<Membership>,
}

/// 200 with the channel's members, their roles and names, in id order (at most
/// [`LIST_LIMIT`]); for its unbanned members (a service: any channel).
#[utoipa::path(get, operation_id = "listMembers", path = "/api/v1/channels/{id}/members", tag = "members", params(("id" = Id, Path, description = "channel id")), responses((status = 200, body = MemberList)))]
pub async fn list(
    State(state): State<AppState>,
    actor: Actor,
    Path(channel_id): Path<Id>,
) -> Result<Json<MemberList>, ApiError> {
    access::channel(&state.broker, &channel_id).await?;
    access::authority(&state.broker, &channel_id, &actor).await?;
    let members = state.broker.members(&channel_id, LIST_LIMIT).await?;
    let ids: Vec<Id> = members.iter().map(|(id, _)| id.clone()).collect();
    let names = state.broker.usernames(&ids).await?;
    let members = members
        .into_iter()
        .zip(names)
        .map(|((user_id, role), username)| Membership {
            channel_id: channel_id.clone(),
            user_id,
            role,
            username,
        })
        .collect();
    Ok(Json(MemberList { members }))
}

/// How a `PUT` member request is authorized.
#[derive(Debug, PartialEq, Eq)]
enum Admission {
    /// A user joins a public channel (or re-joins one they are in) as a plain member.
    SelfJoin,
    /// Anything else: needs moderator or higher, and may not grant above the caller's role.
    Moderated,
}

fn admission(
    actor: &Actor,
    target: &Id,
    role: Option<Role>,
    public: bool,
    standing: Standing,
) -> Result<Admission, ApiError> {
    if !actor.is_user(target) || role.is_some_and(|r| r != Role::Member) {
        return Ok(Admission::Moderated);
    }
    if standing.banned {
        return Err(ApiError::Banned);
    }
    if public || standing.role.is_some() {
        Ok(Admission::SelfJoin)
    } else {
        Err(ApiError::Forbidden(
            "only public channels can be joined without a moderator",
        ))
    }
}

/// 201 when newly added (publishes `member_joined`), 200 when already a member (publishes
/// `member_role_updated` if the role changed).
#[utoipa::path(put, operation_id = "addMember", path = "/api/v1/channels/{id}/members/{uid}", tag = "members", params(("id" = Id, Path, description = "channel id"), ("uid" = Id, Path, description = "user id")), request_body(content = Option<AddMember>, description = "optional: no body, `null` or `{}` joins as a member"), responses((status = 200, body = Membership, description = "already a member"), (status = 201, body = Membership, description = "added")))]
pub async fn add(
    State(state): State<AppState>,
    actor: Actor,
    Path((channel_id, user_id)): Path<(Id, Id)>,
    body: Option<Json<Option<AddMember>>>,
) -> Result<(StatusCode, Json<Membership>), ApiError> {
    let body = body.and_then(|Json(body)| body).unwrap_or_default();
    if let Some(name) = &body.username {
        validate::username(name)?;
    }
    let first = set_member(&state, &actor, &channel_id, &user_id, &body).await?;
    let answer = match first {
        // A racing join of the same user came first, and the commit refused this one (one
        // join, one `member_joined`): the request is now one for a member.
        Err(Refusal::AlreadyMember) => {
            set_member(&state, &actor, &channel_id, &user_id, &body).await?
        }
        answer => answer,
    };
    let (status, membership) = answer.map_err(refused)?;
    Ok((status, Json(membership)))
}

/// `add` from the user's standing on: who may do it, then the join or the role change.
async fn set_member(
    state: &AppState,
    actor: &Actor,
    channel_id: &Id,
    user_id: &Id,
    body: &AddMember,
) -> Result<Result<(StatusCode, Membership), Refusal>, ApiError> {
    let channel = access::channel(&state.broker, channel_id).await?;
    let standing = state.broker.standing(channel_id, user_id).await?;
    if admission(actor, user_id, body.role, channel.public, standing)? == Admission::Moderated {
        let authority =
            access::require_role(&state.broker, channel_id, actor, Role::Moderator).await?;
        if standing.banned {
            return Err(ApiError::Banned);
        }
        if let Some(role) = body.role {
            authority.ensure_may_grant(role)?;
            if let Some(current) = standing.role {
                authority.ensure_outranks(current)?;
            }
        }
    }
    let given_name = match &body.username {
        Some(name) => Some(name.clone()),
        None => actor
            .user()
            .filter(|own| &own.id == user_id)
            .and_then(|own| own.name.clone()),
    };
    if let Some(name) = &given_name {
        state.broker.set_username(user_id, name).await?;
    }
    let previous = standing.role;
    let role = body.role.or(previous).unwrap_or(Role::Member);
    let username = match given_name {
        Some(name) => Some(name),
        None => state.broker.username(user_id).await?,
    };
    let room = Room::Channel(channel_id.clone());
    let change = Change::SetMember {
        channel: channel_id.clone(),
        user: user_id.clone(),
        role,
        existing: previous.is_some(),
    };
    let (status, publications) = match previous {
        None => {
            let event = Event::MemberJoined(Member {
                channel_id: channel_id.clone(),
                user_id: user_id.clone(),
                username: username.clone(),
            });
            // A copy on the user's own room: their sessions learn of the channel without
            // being in it (a Discord client's implicit subscriptions follow it).
            let own = (Room::User(user_id.clone()), event.clone());
            (StatusCode::CREATED, vec![(room, event), own])
        }
        Some(old) if old != role => {
            let event = role_updated(channel_id, user_id, username.clone(), role);
            (StatusCode::OK, vec![(room, event)])
        }
        Some(_) => (StatusCode::OK, Vec::new()),
    };
    if !publications.is_empty()
        && let Err(refusal) = state.commit(Some(&change), publications).await?
    {
        return Ok(Err(refusal));
    }
    let membership = Membership {
        channel_id: channel_id.clone(),
        user_id: user_id.clone(),
        role,
        username,
    };
    Ok(Ok((status, membership)))
}

/// 200; needs moderator or higher, a role no higher than the caller's, and a target of lower
/// rank (an owner may change anyone). Publishes `member_role_updated`.
#[utoipa::path(patch, operation_id = "setMemberRole", path = "/api/v1/channels/{id}/members/{uid}", tag = "members", params(("id" = Id, Path, description = "channel id"), ("uid" = Id, Path, description = "user id")), request_body = RoleChange, responses((status = 200, body = Membership)))]
pub async fn set_role(
    State(state): State<AppState>,
    actor: Actor,
    Path((channel_id, user_id)): Path<(Id, Id)>,
    Json(body): Json<RoleChange>,
) -> Result<Json<Membership>, ApiError> {
    access::channel(&state.broker, &channel_id).await?;
    let authority =
        access::require_role(&state.broker, &channel_id, &actor, Role::Moderator).await?;
    authority.ensure_may_grant(body.role)?;
    let current = member(&state, &channel_id, &user_id).await?;
    authority.ensure_outranks(current)?;
    let username = access::display_name(&state.broker, &actor, &user_id).await?;
    let event = role_updated(&channel_id, &user_id, username.clone(), body.role);
    let change = Change::SetMember {
        channel: channel_id.clone(),
        user: user_id.clone(),
        role: body.role,
        existing: true,
    };
    let room = Room::Channel(channel_id.clone());
    state
        .commit(Some(&change), vec![(room, event)])
        .await?
        .map_err(refused)?;
    Ok(Json(Membership {
        channel_id,
        user_id,
        role: body.role,
        username,
    }))
}

/// 204; a user leaves, or a moderator removes a member of lower rank. Publishes `member_left`.
#[utoipa::path(delete, operation_id = "removeMember", path = "/api/v1/channels/{id}/members/{uid}", tag = "members", params(("id" = Id, Path, description = "channel id"), ("uid" = Id, Path, description = "user id")), responses((status = 204, description = "removed")))]
pub async fn remove(
    State(state): State<AppState>,
    actor: Actor,
    Path((channel_id, user_id)): Path<(Id, Id)>,
) -> Result<StatusCode, ApiError> {
    access::channel(&state.broker, &channel_id).await?;
    let authority = if actor.is_user(&user_id) {
        None
    } else {
        Some(access::require_role(&state.broker, &channel_id, &actor, Role::Moderator).await?)
    };
    let current = member(&state, &channel_id, &user_id).await?;
    if let Some(authority) = &authority {
        authority.ensure_outranks(current)?;
    }
    let event = Event::MemberLeft(Member {
        channel_id: channel_id.clone(),
        user_id: user_id.clone(),
        username: access::display_name(&state.broker, &actor, &user_id).await?,
    });
    let change = Change::RemoveMember {
        channel: channel_id.clone(),
        user: user_id.clone(),
    };
    let room = Room::Channel(channel_id.clone());
    if state
        .commit(Some(&change), vec![(room, event)])
        .await?
        .is_err()
    {
        return Err(ApiError::NotFound("member"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The role of a member of the channel, or 404.
async fn member(state: &AppState, channel: &Id, user: &Id) -> Result<Role, ApiError> {
    let standing = state.broker.standing(channel, user).await?;
    standing.role.ok_or(ApiError::NotFound("member"))
}

fn role_updated(channel: &Id, user: &Id, username: Option<String>, role: Role) -> Event {
    Event::MemberRoleUpdated(MemberRoleUpdated {
        channel_id: channel.clone(),
        user_id: user.clone(),
        username,
        new_role: role.as_str().to_owned(),
    })
}

/// The answer to a membership change the commit refused: the state moved since it was read
/// (the channel deleted, the user banned before joining, or removed before a role change).
fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::NoChannel => ApiError::NotFound("channel"),
        Refusal::Banned => ApiError::Banned,
        Refusal::NotMember => ApiError::NotFound("member"),
        // Not conditions of a membership change (a join refused for a racing one is
        // retried by `add`): the broker's fault.
        Refusal::Taken
        | Refusal::NotBanned
        | Refusal::NoMessage
        | Refusal::AlreadyMember
        | Refusal::NotAuthor => ApiError::Unavailable(shared::broker::BrokerError::Corrupt {
            key: "commit".into(),
            detail: format!("a membership change refused as {refusal:?}"),
        }),
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
            name: None,
        })
    }

    const OUTSIDER: Standing = Standing {
        role: None,
        banned: false,
    };

    #[test]
    fn users_join_public_channels_themselves() {
        let me = id("me");
        assert_eq!(
            admission(&user("me"), &me, None, true, OUTSIDER).unwrap(),
            Admission::SelfJoin
        );
        assert_eq!(
            admission(&user("me"), &me, Some(Role::Member), true, OUTSIDER).unwrap(),
            Admission::SelfJoin
        );
    }

    #[test]
    fn private_channels_need_a_moderator() {
        let me = id("me");
        assert!(matches!(
            admission(&user("me"), &me, None, false, OUTSIDER),
            Err(ApiError::Forbidden(_))
        ));
        let member = Standing {
            role: Some(Role::Member),
            banned: false,
        };
        assert_eq!(
            admission(&user("me"), &me, None, false, member).unwrap(),
            Admission::SelfJoin
        );
    }

    #[test]
    fn banned_users_cannot_rejoin() {
        let banned = Standing {
            role: None,
            banned: true,
        };
        assert!(matches!(
            admission(&user("me"), &id("me"), None, true, banned),
            Err(ApiError::Banned)
        ));
    }

    #[test]
    fn others_and_higher_roles_are_moderated() {
        let me = id("me");
        for (actor, target, role) in [
            (user("me"), id("other"), None),
            (user("me"), me.clone(), Some(Role::Moderator)),
            (Actor::Service, me.clone(), None),
        ] {
            assert_eq!(
                admission(&actor, &target, role, true, OUTSIDER).unwrap(),
                Admission::Moderated
            );
        }
    }
}
