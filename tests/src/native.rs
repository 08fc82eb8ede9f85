//! The gateway's native dialect (`/api/ws`, docs/protocol.md) from a client's side: connect
//! as a user and read READY, join and leave rooms, heartbeat. Derefs to [`WsClient`] for
//! everything else (raw frames, `recv_type`, `expect_close`, `expect_no_message`).

use crate::auth::{token, token_named};
use crate::process::Gateway;
use crate::ws::WsClient;
use serde_json::{Value, json};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// A native-dialect socket that has been answered READY.
pub struct NativeClient {
    ws: WsClient,
    ready: Value,
}

impl NativeClient {
    /// Connects to `gateway` as `user` (`?token=`, native format) and reads READY.
    pub async fn connect(gateway: &Gateway, user: &str) -> NativeClient {
        let url = gateway.ws_url(&format!("/api/ws?token={}", token(user)));
        Self::connect_url(&url).await
    }

    /// Connects to `gateway` as `user` with display name `name` (the token's `name` claim)
    /// and reads READY.
    pub async fn connect_named(gateway: &Gateway, user: &str, name: &str) -> NativeClient {
        let url = gateway.ws_url(&format!("/api/ws?token={}", token_named(user, name)));
        Self::connect_url(&url).await
    }

    /// Connects to `gateway` as `user` with `?format=events` and reads READY.
    pub async fn connect_events(gateway: &Gateway, user: &str) -> NativeClient {
        let url = gateway.ws_url(&format!("/api/ws?format=events&token={}", token(user)));
        Self::connect_url(&url).await
    }

    /// Connects to `url` (which carries the token) and reads READY, the first frame.
    pub async fn connect_url(url: &str) -> NativeClient {
        let mut ws = WsClient::connect(url).await;
        let ready = ws.recv_json().await;
        assert_eq!(ready["type"], "READY", "first frame on {url}: {ready}");
        NativeClient { ws, ready }
    }

    /// The READY frame.
    pub fn ready(&self) -> &Value {
        &self.ready
    }

    /// Sends SUBSCRIBE and returns the next frame (SUBSCRIBED or ERROR).
    pub async fn try_subscribe(&mut self, room: &str) -> Value {
        self.ws
            .send_json(json!({"op": "SUBSCRIBE", "room": room}))
            .await;
        self.ws.recv_json().await
    }

    /// Joins `room`; panics unless the answer is `SUBSCRIBED` for it. Returns the room's
    /// position `{offset, epoch}` as the answer gives it.
    pub async fn subscribe(&mut self, room: &str) -> Value {
        let reply = self.try_subscribe(room).await;
        assert_subscribed(&reply, room);
        reply["data"].clone()
    }

    /// Sends `SUBSCRIBE {room, since}` and returns the next frame (SUBSCRIBED or ERROR).
    pub async fn try_subscribe_since(&mut self, room: &str, since: &Value) -> Value {
        self.ws
            .send_json(json!({"op": "SUBSCRIBE", "room": room, "since": since}))
            .await;
        self.ws.recv_json().await
    }

    /// Leaves `room`; panics unless the answer is `UNSUBSCRIBED` for it.
    pub async fn unsubscribe(&mut self, room: &str) {
        self.ws
            .send_json(json!({"op": "UNSUBSCRIBE", "room": room}))
            .await;
        let reply = self.ws.recv_json().await;
        assert_eq!(
            reply,
            json!({"type": "UNSUBSCRIBED", "room": room}),
            "UNSUBSCRIBE {room}"
        );
    }

    /// Sends HEARTBEAT; panics unless the next frame is `HEARTBEAT_ACK`. Proves the socket
    /// is open and answering.
    pub async fn heartbeat(&mut self) {
        self.ws.send_json(json!({"op": "HEARTBEAT"})).await;
        assert_eq!(self.ws.recv_json().await, json!({"type": "HEARTBEAT_ACK"}));
    }

    /// Sends HEARTBEAT and returns every frame that arrived before its `HEARTBEAT_ACK`. A
    /// node handles a socket's frames in order, so once this returns the ops sent before it
    /// are done (including what they published: ops with no reply of their own, such as
    /// `PRESENCE_UPDATE`, `TYPING` or `VOICE_STATE`, can be followed by a marker this way).
    pub async fn sync(&mut self) -> Vec<Value> {
        self.ws.send_json(json!({"op": "HEARTBEAT"})).await;
        let mut frames = Vec::new();
        loop {
            let frame = self.ws.recv_json().await;
            if frame == json!({"type": "HEARTBEAT_ACK"}) {
                return frames;
            }
            frames.push(frame);
        }
    }

    /// The next `n` JSON frames, in arrival order.
    pub async fn recv_n(&mut self, n: usize) -> Vec<Value> {
        let mut frames = Vec::with_capacity(n);
        for _ in 0..n {
            frames.push(self.ws.recv_json().await);
        }
        frames
    }

    /// Every frame before `marker` (see `Stack::publish_marker`), in arrival order; panics if
    /// a frame is more than 5 s apart from the previous one.
    pub async fn recv_until(&mut self, marker: &Value) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let frame = self.ws.recv_json().await;
            if &frame == marker {
                return frames;
            }
            frames.push(frame);
        }
    }

    /// The next JSON frame, waiting up to `within` (longer than `recv_json`'s 5 s, for
    /// events that follow a lease lapsing); panics on timeout.
    pub async fn recv_json_within(&mut self, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Slices shorter than recv_json's own 5 s timeout; reading a frame is cancel-safe.
            let slice = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(Duration::from_secs(4));
            if let Ok(frame) = tokio::time::timeout(slice, self.ws.recv_json()).await {
                return frame;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no frame within {within:?}"
            );
        }
    }

    pub fn into_inner(self) -> WsClient {
        self.ws
    }
}

impl Deref for NativeClient {
    type Target = WsClient;
    fn deref(&self) -> &WsClient {
        &self.ws
    }
}

impl DerefMut for NativeClient {
    fn deref_mut(&mut self) -> &mut WsClient {
        &mut self.ws
    }
}

/// Panics unless `frame` is `SUBSCRIBED` for `room` with the room's position
/// (`data: {offset, epoch}`, and `recovered` only after a `since`).
pub fn assert_subscribed(frame: &Value, room: &str) {
    assert_eq!(frame["type"], "SUBSCRIBED", "SUBSCRIBE {room}: {frame}");
    assert_eq!(frame["room"], room, "{frame}");
    assert!(frame["data"]["offset"].is_u64(), "an offset: {frame}");
    assert!(frame["data"]["epoch"].is_string(), "an epoch: {frame}");
}

/// The native `ERROR` frame, with the room it is about when there is one.
pub fn error_frame(room: Option<&str>, text: &str) -> Value {
    match room {
        Some(room) => json!({"type": "ERROR", "room": room, "data": text}),
        None => json!({"type": "ERROR", "data": text}),
    }
}

/// `frame` without its `timestamp` (set when the event is published), for comparisons.
pub fn untimed(mut frame: Value) -> Value {
    if let Some(object) = frame.as_object_mut() {
        object.remove("timestamp");
    }
    frame
}
