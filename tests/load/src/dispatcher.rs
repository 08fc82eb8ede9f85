//! The dispatcher's HTTP API as the load generator uses it, acting as a trusted backend (the
//! service token names the acting user): create channels, add members, post messages, send
//! typing. A refusal is an error carrying the status and the body.

use anyhow::bail;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct DispatcherApi {
    client: reqwest::Client,
    base_url: String,
    service_token: String,
}

impl DispatcherApi {
    /// The dispatcher's address, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The service token requests carry (for an outside client posting on our behalf).
    pub fn service_token(&self) -> &str {
        &self.service_token
    }

    pub fn new(base_url: &str, service_token: &str) -> DispatcherApi {
        DispatcherApi {
            client: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            service_token: service_token.to_owned(),
        }
    }

    /// Creates channel `id` with `owner` as its owner.
    pub async fn create_channel(&self, id: &str, owner: &str) -> anyhow::Result<()> {
        let body = json!({"id": id, "name": format!("load {id}"), "user_id": owner});
        self.send(Method::POST, "/api/v1/channels".to_owned(), body, 201)
            .await
    }

    /// Adds `user` to `channel` as a plain member.
    pub async fn add_member(&self, channel: &str, user: &str) -> anyhow::Result<()> {
        let path = format!("/api/v1/channels/{channel}/members/{user}");
        self.send(Method::PUT, path, json!({}), 201).await
    }

    /// `author` posts `content` in `channel`.
    pub async fn post_message(
        &self,
        channel: &str,
        author: &str,
        content: &str,
    ) -> anyhow::Result<()> {
        let path = format!("/api/v1/channels/{channel}/messages");
        let body = json!({"content": content, "author_id": author});
        self.send(Method::POST, path, body, 201).await
    }

    /// Posts the JSON `body` in `channel` with the `Authorization` header `authorization`: the
    /// answer's status (0: no answer).
    pub async fn post_status(&self, channel: &str, authorization: &str, body: &str) -> u16 {
        let url = format!("{}/api/v1/channels/{channel}/messages", self.base_url);
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the body so the connection goes back to the pool.
                let _ = response.bytes().await;
                status
            }
            Err(_) => 0,
        }
    }

    /// `user` is typing in `channel`.
    pub async fn typing(&self, channel: &str, user: &str) -> anyhow::Result<()> {
        let path = format!("/api/v1/channels/{channel}/typing");
        self.send(Method::POST, path, json!({"user_id": user}), 204)
            .await
    }

    async fn send(
        &self,
        method: Method,
        path: String,
        body: Value,
        want: u16,
    ) -> anyhow::Result<()> {
        let response = self
            .client
            .request(method.clone(), format!("{}{path}", self.base_url))
            .bearer_auth(&self.service_token)
            .json(&body)
            .send()
            .await?;
        let status = response.status().as_u16();
        if status != want {
            let text = response.text().await.unwrap_or_default();
            bail!("{method} {path} answered {status} (wanted {want}): {text}");
        }
        Ok(())
    }
}
