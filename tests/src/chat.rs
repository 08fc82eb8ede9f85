//! Chat state for gateway tests, set up through the dispatcher's HTTP API (DESIGN §5):
//! channels with members, messages, DMs, bans, kicks and deletions. Each call panics with the
//! dispatcher's answer unless it has the expected status.

use crate::auth::{SERVICE_TOKEN, token};
use crate::http::Api;
use serde_json::{Value, json};

/// The dispatcher API, acting as a trusted backend (service token) or as a user.
#[derive(Clone)]
pub struct Chat {
    base_url: String,
    service: Api,
}

impl Chat {
    pub fn new(dispatcher_url: &str) -> Chat {
        Chat {
            base_url: dispatcher_url.to_owned(),
            service: Api::new(dispatcher_url).bearer(SERVICE_TOKEN),
        }
    }

    /// The API with the service token.
    pub fn service(&self) -> &Api {
        &self.service
    }

    /// The API acting as `user` (a user token).
    pub fn as_user(&self, user: &str) -> Api {
        Api::new(&self.base_url).bearer(&token(user))
    }

    /// Creates channel `id` owned by `owner` (an owner is a member and may moderate), with
    /// `members` added as plain members.
    pub async fn channel(&self, id: &str, owner: &str, members: &[&str]) {
        let body = json!({"id": id, "name": format!("channel {id}"), "user_id": owner});
        expect(
            201,
            "create channel",
            self.service.post("/api/v1/channels", Some(body)).await,
        );
        for member in members {
            self.add_member(id, member).await;
        }
    }

    /// Creates voice channel `id` (`"kind": "voice"`) owned by `owner`, with `members` added
    /// as plain members.
    pub async fn voice_channel(&self, id: &str, owner: &str, members: &[&str]) {
        let body =
            json!({"id": id, "name": format!("voice {id}"), "user_id": owner, "kind": "voice"});
        expect(
            201,
            "create voice channel",
            self.service.post("/api/v1/channels", Some(body)).await,
        );
        for member in members {
            self.add_member(id, member).await;
        }
    }

    /// Adds `user` to `channel` as a member.
    pub async fn add_member(&self, channel: &str, user: &str) {
        let path = format!("/api/v1/channels/{channel}/members/{user}");
        expect(201, "add member", self.service.put(&path, None).await);
    }

    /// `author` posts `content` in `channel`; returns the dispatcher's 201 body.
    pub async fn post(&self, channel: &str, author: &str, content: &str) -> Value {
        self.post_with_id(channel, author, content, None).await
    }

    /// Like [`Self::post`] with the caller's own message id.
    pub async fn post_with_id(
        &self,
        channel: &str,
        author: &str,
        content: &str,
        id: Option<&str>,
    ) -> Value {
        let mut body = json!({"content": content});
        if let Some(id) = id {
            body["id"] = json!(id);
        }
        let path = format!("/api/v1/channels/{channel}/messages");
        expect(
            201,
            "post message",
            self.as_user(author).post(&path, Some(body)).await,
        )
    }

    /// `moderator` bans `user` from `channel`.
    pub async fn ban(&self, channel: &str, moderator: &str, user: &str) {
        let path = format!("/api/v1/channels/{channel}/bans/{user}");
        let body = json!({"motive": "spam"});
        expect(
            200,
            "ban",
            self.as_user(moderator).put(&path, Some(body)).await,
        );
    }

    /// `moderator` lifts the ban of `user` from `channel`.
    pub async fn unban(&self, channel: &str, moderator: &str, user: &str) {
        let path = format!("/api/v1/channels/{channel}/bans/{user}");
        let body = json!({"motive": "appeal granted"});
        expect(
            200,
            "unban",
            self.as_user(moderator).delete(&path, Some(body)).await,
        );
    }

    /// `user` leaves `channel` by themselves.
    pub async fn leave(&self, channel: &str, user: &str) {
        let path = format!("/api/v1/channels/{channel}/members/{user}");
        expect(204, "leave", self.as_user(user).delete(&path, None).await);
    }

    /// `moderator` kicks `user` out of `channel`.
    pub async fn kick(&self, channel: &str, moderator: &str, user: &str) {
        let path = format!("/api/v1/channels/{channel}/kicks");
        let body = json!({"user_id": user, "motive": "off topic"});
        expect(
            200,
            "kick",
            self.as_user(moderator).post(&path, Some(body)).await,
        );
    }

    /// `admin` deletes `channel`.
    pub async fn delete_channel(&self, channel: &str, admin: &str) {
        let path = format!("/api/v1/channels/{channel}");
        expect(
            204,
            "delete channel",
            self.as_user(admin).delete(&path, None).await,
        );
    }

    /// Creates DM thread `id` between `participants`.
    pub async fn dm(&self, id: &str, participants: &[&str]) {
        let body = json!({"id": id, "participants": participants});
        expect(
            201,
            "create DM",
            self.service.post("/api/v1/dms", Some(body)).await,
        );
    }

    /// `author` posts `content` (with message id `id`) in DM thread `dm`; returns the 201 body.
    pub async fn post_dm(&self, dm: &str, author: &str, content: &str, id: &str) -> Value {
        let path = format!("/api/v1/dms/{dm}/messages");
        let body = json!({"content": content, "id": id});
        expect(
            201,
            "post DM",
            self.as_user(author).post(&path, Some(body)).await,
        )
    }
}

/// The body, if the status is `want`; else panics with both.
fn expect(want: u16, what: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, want, "{what}: dispatcher answered {status} {body}");
    body
}
