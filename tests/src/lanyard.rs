//! The gateway's Lanyard dialect (`/socket`, docs/protocol-lanyard.md) from a client's side:
//! connect and read Hello, Initialize and read `INIT_STATE`, unsubscribe, heartbeat. Text
//! frames only (`?compression=zlib_json` frames are binary: read them with
//! [`WsClient::recv_raw`]). Derefs to [`WsClient`] for everything else (`send_json`,
//! `expect_close`, `last_seq`: [`WsClient`] checks that frames are numbered 1, 2, 3, ...).

use crate::process::Gateway;
use crate::ws::WsClient;
use serde_json::{Value, json};
use std::ops::{Deref, DerefMut};

/// A Lanyard socket that has been sent Hello.
pub struct LanyardClient {
    ws: WsClient,
    hello: Value,
}

impl LanyardClient {
    /// Connects to `gateway`'s `/socket` (public, no token) and reads Hello.
    pub async fn connect(gateway: &Gateway) -> LanyardClient {
        Self::connect_url(&gateway.ws_url("/socket")).await
    }

    /// Connects to `url` and reads Hello, the first frame (op 1).
    pub async fn connect_url(url: &str) -> LanyardClient {
        let mut ws = WsClient::connect(url).await;
        let hello = ws.recv_json().await;
        assert_eq!(hello["op"], 1, "first frame on {url}: {hello}");
        LanyardClient { ws, hello }
    }

    /// The Hello frame (without its `seq`).
    pub fn hello(&self) -> &Value {
        &self.hello
    }

    /// Sends op 2 Initialize with `d` and returns the `d` of the answer, which must be the next
    /// frame and an `INIT_STATE` event.
    pub async fn initialize(&mut self, d: Value) -> Value {
        self.ws.send_json(json!({"op": 2, "d": d})).await;
        let frame = self.ws.recv_json().await;
        assert_eq!(frame["op"], 0, "answer to Initialize {d}: {frame}");
        assert_eq!(
            frame["t"], "INIT_STATE",
            "answer to Initialize {d}: {frame}"
        );
        frame["d"].clone()
    }

    /// Sends op 4 Unsubscribe with `d` (no answer).
    pub async fn unsubscribe(&mut self, d: Value) {
        self.ws.send_json(json!({"op": 4, "d": d})).await;
    }

    /// Sends op 3 Heartbeat (no answer).
    pub async fn heartbeat(&mut self) {
        self.ws.send_json(json!({"op": 3})).await;
    }

    /// The next frame, which must be a `PRESENCE_UPDATE` event; returns its `d`.
    pub async fn recv_update(&mut self) -> Value {
        let frame = self.ws.recv_json().await;
        assert_eq!(frame["op"], 0, "{frame}");
        assert_eq!(frame["t"], "PRESENCE_UPDATE", "{frame}");
        frame["d"].clone()
    }

    pub fn into_inner(self) -> WsClient {
        self.ws
    }
}

impl Deref for LanyardClient {
    type Target = WsClient;
    fn deref(&self) -> &WsClient {
        &self.ws
    }
}

impl DerefMut for LanyardClient {
    fn deref_mut(&mut self) -> &mut WsClient {
        &mut self.ws
    }
}
