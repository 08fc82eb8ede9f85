//! Limits per client address (DESIGN §6): open sockets per address
//! (`GATEWAY_MAX_SOCKETS_PER_IP`) and new sockets per address per second
//! (`GATEWAY_NEW_SOCKETS_PER_IP_PER_SECOND`). A refusal is HTTP 429 with `Retry-After` and a
//! JSON body, counted in `gateway_upgrades_refused_total`. The address is the TCP peer's, or
//! behind a trusted proxy the one it forwards (see [`address`]).
//!
//! The rate of a peer that is not a trusted proxy is checked as its connection is accepted,
//! before any HTTP parsing, and answered with [`TOO_FAST_RESPONSE`] written straight on the
//! socket: a flood from one address costs the node little (docs/PERFORMANCE.md). Behind a
//! trusted proxy the address is only known from the request, so [`guard`] checks the rate
//! there; it also counts open sockets, for every upgrade.

pub mod address;

use crate::{config::SourceLimits, node::Node};
use axum::{
    Json,
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures_util::FutureExt;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::{
    collections::HashMap,
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

/// How often the rate limiter forgets addresses that have been quiet.
const TIDY_EVERY: Duration = Duration::from_secs(10);

/// The per-address counts of one node.
pub struct Sources {
    trusted: Vec<ipnet::IpNet>,
    max_open: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
    /// None when the rate limit is off.
    rate: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooFast,
    TooManyOpen,
}

impl Refusal {
    /// The `reason` label of `gateway_upgrades_refused_total`.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::TooFast => "ip_rate",
            Refusal::TooManyOpen => "sockets_per_ip",
        }
    }

    /// `Retry-After`, in seconds.
    fn retry_after(self) -> &'static str {
        match self {
            Refusal::TooFast => "1",
            Refusal::TooManyOpen => "10",
        }
    }

    /// The JSON error body.
    fn body(self) -> serde_json::Value {
        let (error, code) = match self {
            Refusal::TooFast => (
                "too many new sockets from this address (see GATEWAY_NEW_SOCKETS_PER_IP_PER_SECOND)",
                "ip_rate_limited",
            ),
            Refusal::TooManyOpen => (
                "this address has too many open sockets (see GATEWAY_MAX_SOCKETS_PER_IP)",
                "too_many_sockets_per_ip",
            ),
        };
        serde_json::json!({"error": error, "code": code})
    }
}

impl Sources {
    pub fn new(limits: &SourceLimits) -> Arc<Sources> {
        let rate = NonZeroU32::new(limits.new_sockets_per_ip_per_second).map(|per_second| {
            let burst = per_second.saturating_mul(NonZeroU32::new(2).expect("2"));
            RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
        });
        Arc::new(Sources {
            trusted: limits.trusted_proxies.clone(),
            max_open: limits.max_sockets_per_ip,
            open: Mutex::default(),
            rate,
        })
    }

    /// Whether `peer` is a trusted proxy, whose requests name the client address.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&peer))
    }

    /// Takes one new socket from `ip` off its rate, or says it is too fast.
    pub fn check_rate(&self, ip: IpAddr) -> Result<(), Refusal> {
        match &self.rate {
            Some(rate) if rate.check_key(&ip).is_err() => Err(Refusal::TooFast),
            _ => Ok(()),
        }
    }

    /// Whether a connection just accepted from `peer` is refused for its rate (checked here
    /// only for peers that are not trusted proxies).
    pub fn refuses_connection(&self, peer: IpAddr) -> bool {
        !self.trusts(peer) && self.check_rate(peer).is_err()
    }

    /// Counts a new open socket from `ip`, or says it has too many.
    pub fn hold(self: &Arc<Self>, ip: IpAddr) -> Result<IpSlot, Refusal> {
        if self.max_open == 0 {
            return Ok(IpSlot::default());
        }
        let mut open = self.open.lock().expect("source counts");
        let count = open.entry(ip).or_default();
        if *count >= self.max_open {
            return Err(Refusal::TooManyOpen);
        }
        *count += 1;
        let held = Held {
            ip,
            sources: self.clone(),
        };
        Ok(IpSlot {
            _held: Some(Arc::new(held)),
        })
    }

    /// Sockets open from `ip`.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().expect("source counts");
        open.get(&ip).copied().unwrap_or(0)
    }

    fn release(&self, ip: IpAddr) {
        let mut open = self.open.lock().expect("source counts");
        if let Some(count) = open.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// The answer to a connection from an address past its rate, written before any HTTP
/// parsing: the same 429 as [`guard`]'s, as raw HTTP/1.1.
pub static TOO_FAST_RESPONSE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let refusal = Refusal::TooFast;
    let body = refusal.body().to_string();
    format!(
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        refusal.retry_after(),
        body.len()
    )
    .into_bytes()
});

/// Forgets, every [`TIDY_EVERY`], the rate state of addresses that have been quiet.
pub async fn tidy_forever(node: Arc<Node>) {
    let mut tick = tokio::time::interval(TIDY_EVERY);
    loop {
        tokio::select! {
            _ = node.stopped.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Some(rate) = &node.sources.rate {
            rate.retain_recent();
        }
    }
}

/// One socket counted against its address until the last clone is dropped: the handler moves
/// it into the socket's task. Extracted from the request ([`guard`] puts it there); uncounted
/// when the limit is off or the request did not come through the node's own server.
#[derive(Clone, Default)]
pub struct IpSlot {
    _held: Option<Arc<Held>>,
}

struct Held {
    ip: IpAddr,
    sources: Arc<Sources>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.sources.release(self.ip);
    }
}

impl IpSlot {
    /// Runs `socket` (a socket's whole task) with the slot held. A combinator rather than an
    /// `async fn`, which would keep the socket's future twice (as argument and as the
    /// future it awaits): that cost every socket 1 KiB.
    pub fn held_while(self, socket: impl Future<Output = ()>) -> impl Future<Output = ()> {
        socket.map(move |()| drop(self))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IpSlot {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts.extensions.remove::<IpSlot>().unwrap_or_default())
    }
}

/// The middleware on the WebSocket routes: admits the upgrade's address or answers 429.
pub async fn guard(State(node): State<Arc<Node>>, mut request: Request, next: Next) -> Response {
    let Some(&ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return next.run(request).await;
    };
    let sources = &node.sources;
    let ip = address::client(peer.ip(), request.headers(), &sources.trusted);
    // A direct peer's rate was checked as its connection was accepted (serve.rs).
    let rate = match sources.trusts(peer.ip()) {
        true => sources.check_rate(ip),
        false => Ok(()),
    };
    let refusal = match rate.and_then(|()| sources.hold(ip)) {
        Ok(slot) => {
            request.extensions_mut().insert(slot);
            return next.run(request).await;
        }
        Err(refusal) => refusal,
    };
    node.metrics
        .upgrades_refused
        .with_label_values(&[refusal.label()])
        .inc();
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, refusal.retry_after())],
        Json(refusal.body()),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(max_open: usize, per_second: u32) -> Arc<Sources> {
        Sources::new(&SourceLimits {
            max_sockets_per_ip: max_open,
            new_sockets_per_ip_per_second: per_second,
            trusted_proxies: Vec::new(),
        })
    }

    #[test]
    fn open_sockets_are_counted_per_address_until_their_slots_drop() {
        let s = sources(2, 0);
        let (a, b) = ("1.1.1.1".parse().unwrap(), "2.2.2.2".parse().unwrap());
        let first = s.hold(a).unwrap();
        let second = s.hold(a).unwrap();
        assert_eq!(s.hold(a).err(), Some(Refusal::TooManyOpen));
        assert!(s.hold(b).is_ok(), "another address has its own count");
        let copy = first.clone();
        drop(first);
        assert_eq!(s.open_from(a), 2, "a clone still holds the slot");
        drop((copy, second));
        assert_eq!(s.open_from(a), 0);
        assert!(s.hold(a).is_ok());
    }

    #[test]
    fn new_sockets_past_the_burst_are_too_fast() {
        let s = sources(0, 3);
        let ip = "1.1.1.1".parse().unwrap();
        for _ in 0..6 {
            assert!(s.check_rate(ip).is_ok());
        }
        assert_eq!(s.check_rate(ip), Err(Refusal::TooFast));
        assert!(s.refuses_connection(ip));
        assert!(s.check_rate("2.2.2.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn a_trusted_proxy_is_not_refused_at_the_connection() {
        let s = Sources::new(&SourceLimits {
            max_sockets_per_ip: 0,
            new_sockets_per_ip_per_second: 1,
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        });
        let proxy = "10.1.2.3".parse().unwrap();
        for _ in 0..10 {
            assert!(!s.refuses_connection(proxy));
        }
    }

    #[test]
    fn the_early_answer_is_a_well_formed_429() {
        let text = std::str::from_utf8(&TOO_FAST_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 429 "));
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["code"], "ip_rate_limited");
    }
}
