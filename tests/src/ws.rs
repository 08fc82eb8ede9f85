//! A WebSocket test client: send JSON, receive the next frame (or the next of a type) with a
//! timeout, and assert on close codes and silence.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderName;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const RECV_TIMEOUT: Duration = Duration::from_secs(5);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct WsClient {
    url: String,
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The `seq` of the last session frame received (0: none yet).
    last_seq: u64,
}

/// What the socket produced next, control frames aside.
enum Next {
    /// A Text or Binary frame.
    Data(Message),
    /// A Close frame, with its code and reason if it had any.
    Close(Option<(u16, String)>),
    /// The stream ended or failed without a Close frame.
    Ended(Option<tungstenite::Error>),
    TimedOut,
}

impl WsClient {
    /// Connects or panics with the URL and the error (for a refused upgrade, its HTTP status).
    pub async fn connect(url: &str) -> WsClient {
        match Self::try_connect(url).await {
            Ok(client) => client,
            Err(tungstenite::Error::Http(response)) => {
                panic!(
                    "WebSocket upgrade to {url} refused: HTTP {}",
                    response.status()
                )
            }
            Err(e) => panic!("WebSocket connect to {url} failed: {e}"),
        }
    }

    /// Connects, giving up after 5 s (an `Io` error of kind `TimedOut`).
    pub async fn try_connect(url: &str) -> Result<WsClient, tungstenite::Error> {
        Self::try_connect_from(url, None, &[]).await
    }

    /// Connects from the local address `source` (127.0.0.2, … are other client addresses on
    /// loopback), with `headers` added to the upgrade request; gives up after 5 s. The URL's
    /// host must be an IP address.
    pub async fn try_connect_from(
        url: &str,
        source: Option<IpAddr>,
        headers: &[(&str, &str)],
    ) -> Result<WsClient, tungstenite::Error> {
        let mut request = url.into_client_request()?;
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("a header name");
            let value = value.parse().expect("a header value");
            request.headers_mut().insert(name, value);
        }
        let authority = request
            .uri()
            .authority()
            .expect("a URL with a host")
            .as_str();
        let addr: SocketAddr = authority.parse().expect("an IP address and a port");
        let connect = async {
            let tcp = match source {
                Some(source) => {
                    let socket = TcpSocket::new_v4()?;
                    socket.bind(SocketAddr::new(source, 0))?;
                    socket.connect(addr).await?
                }
                None => TcpStream::connect(addr).await?,
            };
            tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp)).await
        };
        let (stream, _response) = tokio::time::timeout(RECV_TIMEOUT, connect)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        Ok(WsClient {
            url: url.to_owned(),
            stream,
            last_seq: 0,
        })
    }

    /// The `seq` of the last session frame received (0 when none came yet).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub async fn send_json(&mut self, v: Value) {
        self.send(Message::text(v.to_string())).await
    }

    pub async fn send_text(&mut self, s: &str) {
        self.send(Message::text(s)).await
    }

    pub async fn send_binary(&mut self, bytes: impl Into<Vec<u8>>) {
        self.send(Message::binary(bytes.into())).await
    }

    /// A WebSocket ping (the server's pong is skipped by the `recv` methods).
    pub async fn send_ping(&mut self, data: &'static [u8]) {
        self.send(Message::Ping(data.into())).await
    }

    /// Like [`Self::send_text`], but returns the error instead of panicking: for floods the
    /// server may cut short by closing the socket.
    pub async fn try_send_text(&mut self, s: &str) -> Result<(), tungstenite::Error> {
        self.stream.send(Message::text(s)).await
    }

    /// Writes every frame of `texts` before flushing once (a client that floods), returning
    /// the error if the server cut it short.
    pub async fn try_send_all(&mut self, texts: &[String]) -> Result<(), tungstenite::Error> {
        for text in texts {
            self.stream.feed(Message::text(text.as_str())).await?;
        }
        self.stream.flush().await
    }

    async fn send(&mut self, message: Message) {
        if let Err(e) = self.stream.send(message).await {
            panic!("send on {} failed: {e}", self.url);
        }
    }

    /// The next Text frame, parsed as JSON. Panics on timeout (5 s), a Binary frame, a Close
    /// or the end of the stream.
    pub async fn recv_json(&mut self) -> Value {
        let deadline = Instant::now() + RECV_TIMEOUT;
        let text = self.recv_data(deadline, "a JSON text frame").await;
        parse_text(&text)
    }

    /// The next Text or Binary frame (5 s timeout); panics on a Close or end of stream.
    pub async fn recv_raw(&mut self) -> Message {
        let deadline = Instant::now() + RECV_TIMEOUT;
        self.recv_data(deadline, "a data frame").await
    }

    /// Skips frames until a JSON text frame whose `type` is `t`, within 5 s in total.
    pub async fn recv_type(&mut self, t: &str) -> Value {
        let deadline = Instant::now() + RECV_TIMEOUT;
        let mut skipped = Vec::new();
        loop {
            let what = format!("a frame of type {t:?} (skipped so far: {skipped:?})");
            let frame = self.recv_data(deadline, &what).await;
            if let Message::Text(_) = frame {
                let value = parse_text(&frame);
                if value["type"] == t {
                    return value;
                }
                skipped.push(value.to_string());
            } else {
                skipped.push(describe(&frame));
            }
        }
    }

    /// The next data frame as JSON, or how the socket ended: `Err(Some(code))` for a Close
    /// frame, `Err(None)` for an end without one (a reset). Panics on a timeout (5 s).
    pub async fn recv_or_close(&mut self) -> Result<Value, Option<u16>> {
        match self.next(Instant::now() + RECV_TIMEOUT).await {
            Next::Data(frame) => Ok(parse_text(&frame)),
            Next::Close(frame) => Err(frame.map(|(code, _)| code)),
            Next::Ended(_) => Err(None),
            Next::TimedOut => panic!("{}: timed out waiting for a frame or a close", self.url),
        }
    }

    /// Waits up to 10 s for the server to close, skipping data frames. Returns the close
    /// code, or None if the stream ended without one.
    pub async fn expect_close(&mut self) -> Option<u16> {
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        loop {
            match self.next(deadline).await {
                Next::Data(_) => continue,
                Next::Close(frame) => return frame.map(|(code, _)| code),
                Next::Ended(_) => return None,
                Next::TimedOut => panic!("{}: no close within {CLOSE_TIMEOUT:?}", self.url),
            }
        }
    }

    /// Panics if a data frame arrives, or the connection closes, within `within`.
    pub async fn expect_no_message(&mut self, within: Duration) {
        match self.next(Instant::now() + within).await {
            Next::TimedOut => {}
            Next::Data(frame) => panic!("{}: expected silence, got {}", self.url, describe(&frame)),
            Next::Close(frame) => panic!("{}: expected silence, got Close {frame:?}", self.url),
            Next::Ended(e) => panic!("{}: expected silence, stream ended ({e:?})", self.url),
        }
    }

    /// Sends a Close frame and waits (briefly) for the server's reply.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
        let deadline = Instant::now() + RECV_TIMEOUT;
        while let Next::Data(_) = self.next(deadline).await {}
    }

    /// The next data frame before `deadline`; panics naming `what` otherwise.
    async fn recv_data(&mut self, deadline: Instant, what: &str) -> Message {
        match self.next(deadline).await {
            Next::Data(frame) => frame,
            Next::Close(frame) => panic!("{}: waiting for {what}, got Close {frame:?}", self.url),
            Next::Ended(e) => panic!("{}: waiting for {what}, stream ended ({e:?})", self.url),
            Next::TimedOut => panic!("{}: timed out waiting for {what}", self.url),
        }
    }

    /// The next frame that is not a control frame. Pings and Closes are answered (tungstenite
    /// queues the reply; the flush sends it).
    async fn next(&mut self, deadline: Instant) -> Next {
        loop {
            let Ok(item) = tokio::time::timeout_at(deadline, self.stream.next()).await else {
                return Next::TimedOut;
            };
            match item {
                None => return Next::Ended(None),
                Some(Err(e)) => return Next::Ended(Some(e)),
                Some(Ok(Message::Ping(_))) => {
                    let _ = self.stream.flush().await;
                }
                Some(Ok(Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(frame))) => {
                    if let Some(frame) = &frame {
                        let what = format!("the close reason of {} ({})", self.url, frame.code);
                        crate::leaks::assert_no_internals(&what, &frame.reason);
                    }
                    let _ = self.stream.flush().await; // sends the queued Close reply
                    return Next::Close(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                }
                Some(Ok(Message::Text(text))) => {
                    if text.contains("\"ERROR\"") {
                        let what = format!("an ERROR frame on {}", self.url);
                        crate::leaks::assert_no_internals(&what, &text);
                    }
                    return Next::Data(self.unnumbered(text));
                }
                Some(Ok(data)) => return Next::Data(data),
            }
        }
    }

    /// A session frame without its `seq`, after checking that it is the next number: every
    /// frame of a session is numbered 1, 2, 3, ... (frames before the session, such as a
    /// redirect, have none).
    fn unnumbered(&mut self, text: tungstenite::Utf8Bytes) -> Message {
        let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(&text) else {
            return Message::Text(text);
        };
        let Some(seq) = object.remove("seq") else {
            return Message::Text(text);
        };
        assert_eq!(
            seq.as_u64(),
            Some(self.last_seq + 1),
            "{}: frames of a session are numbered in order: {}",
            self.url,
            text.as_str()
        );
        self.last_seq += 1;
        Message::text(Value::Object(object).to_string())
    }
}

/// Parses a Text frame as JSON; panics on anything else.
fn parse_text(frame: &Message) -> Value {
    match frame {
        Message::Text(text) => serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("text frame is not JSON ({e}): {}", text.as_str())),
        other => panic!("expected a text frame, got {}", describe(other)),
    }
}

fn describe(frame: &Message) -> String {
    match frame {
        Message::Text(text) => format!("Text {}", text.as_str()),
        Message::Binary(bytes) => format!("Binary ({} bytes)", bytes.len()),
        other => format!("{other:?}"),
    }
}

/// A WebSocket upgrade request made by hand (`GET url` with the upgrade headers and `extra`),
/// for answers given before the upgrade: the status, headers and body a client sees.
pub async fn upgrade_request(url: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(url)
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e:?}"))
}
