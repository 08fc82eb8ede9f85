//! A client that must not lose a message, written the way docs/protocol.md ("Delivery") tells
//! client authors to: it asks `GET /api/gateway` where to connect, follows its rooms, keeps
//! each room's last `offset` and `epoch`, and whenever its socket ends (node killed, drained,
//! closed as a slow consumer) it reconnects and re-subscribes every room with `since`. It
//! records the messages it received per room, to be checked against what the dispatcher
//! acknowledged.

use crate::auth::token;
use crate::http::Api;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const RETRY_EVERY: Duration = Duration::from_millis(100);

pub struct Follower {
    user: String,
    dispatcher: Api,
    rooms: Vec<String>,
    socket: Option<Socket>,
    node_url: Option<String>,
    /// Per room: the offset of the last event received and the room's epoch.
    positions: HashMap<String, (u64, String)>,
    /// Per room: (offset, message id) of every MESSAGE_CREATE, in arrival order.
    pub received: HashMap<String, Vec<(u64, String)>>,
    /// Sockets opened after the first.
    pub reconnects: u32,
    /// `recovered: false` answers and stale notices: the client would have to reload.
    pub not_recovered: u32,
}

impl Follower {
    /// Connects as `user` where the dispatcher at `dispatcher_url` says, and follows `rooms`.
    pub async fn start(dispatcher_url: &str, user: &str, rooms: &[String]) -> Follower {
        let mut follower = Follower {
            user: user.to_owned(),
            dispatcher: Api::new(dispatcher_url),
            rooms: rooms.to_vec(),
            socket: None,
            node_url: None,
            positions: HashMap::new(),
            received: rooms.iter().map(|r| (r.clone(), Vec::new())).collect(),
            reconnects: 0,
            not_recovered: 0,
        };
        follower.connect().await;
        // Wait for every room's SUBSCRIBED, so what is posted from now on is followed.
        let deadline = Instant::now() + Duration::from_secs(15);
        while follower.positions.len() < rooms.len() {
            assert!(
                Instant::now() < deadline,
                "{user}: rooms not all subscribed"
            );
            follower.step(deadline).await;
        }
        follower
    }

    /// The node this follower is connected to now.
    pub fn node_url(&self) -> Option<&str> {
        self.node_url.as_deref()
    }

    /// Reads (reconnecting as needed) until `done` holds or `timeout` passes; true if done.
    pub async fn follow_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&HashMap<String, Vec<(u64, String)>>) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        while !done(&self.received) {
            if Instant::now() >= deadline {
                return false;
            }
            self.step(deadline).await;
        }
        true
    }

    /// Handles the next frame, or reconnects when the socket is gone.
    async fn step(&mut self, deadline: Instant) {
        let Some(socket) = self.socket.as_mut() else {
            self.connect().await;
            return;
        };
        let next = match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return,
            Ok(next) => next,
        };
        match next {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).expect("a JSON frame");
                self.on_frame(&frame);
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                self.socket = None;
            }
            Some(Ok(_)) => {}
        }
    }

    fn on_frame(&mut self, frame: &Value) {
        let room = frame["room"].as_str().unwrap_or_default().to_owned();
        match frame["type"].as_str() {
            Some("MESSAGE_CREATE") => {
                let offset = frame["offset"].as_u64().expect("events carry their offset");
                let id = match &frame["data"]["id"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if let Some(position) = self.positions.get_mut(&room) {
                    position.0 = offset;
                }
                self.received.entry(room).or_default().push((offset, id));
            }
            Some("SUBSCRIBED") => {
                let data = &frame["data"];
                let epoch = data["epoch"].as_str().expect("an epoch").to_owned();
                let offset = data["offset"].as_u64().expect("an offset");
                match data["recovered"].as_bool() {
                    // What was missed follows, each event moving the offset on.
                    Some(true) => {
                        let position = self
                            .positions
                            .entry(room)
                            .or_insert((offset, String::new()));
                        position.1 = epoch;
                    }
                    Some(false) => {
                        self.not_recovered += 1;
                        self.positions.insert(room, (offset, epoch));
                    }
                    None => {
                        self.positions.insert(room, (offset, epoch));
                    }
                }
            }
            _ => {}
        }
    }

    /// Asks the dispatcher for a node, connects, reads READY and (re-)subscribes every room,
    /// with `since` where the room's position is known; retries until it works.
    async fn connect(&mut self) {
        if self.node_url.is_some() {
            self.reconnects += 1;
        }
        loop {
            if let Some(socket) = self.try_connect().await {
                self.socket = Some(socket);
                return;
            }
            tokio::time::sleep(RETRY_EVERY).await;
        }
    }

    async fn try_connect(&mut self) -> Option<Socket> {
        let api = self.dispatcher.clone().bearer(&token(&self.user));
        let (status, body) = api.get("/api/gateway", None).await;
        if status != 200 {
            return None;
        }
        let url = body["url"].as_str()?.to_owned();
        let with_token = format!("{url}?token={}", token(&self.user));
        let connect = tokio_tungstenite::connect_async(with_token.as_str());
        let (mut socket, _) = tokio::time::timeout(Duration::from_secs(5), connect)
            .await
            .ok()?
            .ok()?;
        // READY first (or RECONNECT then a close, on the wrong node: try again).
        let first = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .ok()??;
        let Ok(Message::Text(text)) = first else {
            return None;
        };
        let ready: Value = serde_json::from_str(&text).ok()?;
        if ready["type"] != "READY" {
            return None;
        }
        for room in self.rooms.clone() {
            let mut op = json!({"op": "SUBSCRIBE", "room": room});
            if let Some((offset, epoch)) = self.positions.get(&room) {
                op["since"] = json!({"offset": offset, "epoch": epoch});
            }
            socket.send(Message::text(op.to_string())).await.ok()?;
        }
        self.node_url = Some(url);
        Some(socket)
    }
}

/// Panics unless, in every room, `follower` received exactly the acknowledged message ids, in
/// order, with rising offsets (nothing lost, nothing twice).
pub fn assert_exactly_once(follower: &Follower, acked: &HashMap<String, Vec<String>>) {
    for (room, want) in acked {
        let got = &follower.received[room];
        let ids: Vec<&String> = got.iter().map(|(_, id)| id).collect();
        let want: Vec<&String> = want.iter().collect();
        if ids != want {
            let missing = want.iter().filter(|id| !ids.contains(id)).count();
            let mut seen = std::collections::HashSet::new();
            let twice = ids.iter().filter(|id| !seen.insert(**id)).count();
            panic!(
                "{} in {room}: {} received, {} acknowledged, {missing} missing, {twice} twice, \
                 first difference at {:?}",
                follower.user,
                ids.len(),
                want.len(),
                ids.iter().zip(&want).position(|(a, b)| a != b)
            );
        }
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "{} in {room}: offsets not rising",
            follower.user
        );
    }
}
