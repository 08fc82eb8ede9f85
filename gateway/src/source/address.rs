//! Which address a client connects from: the TCP peer, or, when the peer is a trusted proxy
//! (`GATEWAY_TRUSTED_PROXIES`), the right-most `X-Forwarded-For` entry that is not itself a
//! trusted proxy. Entries left of that one are whatever the client wrote, so never believed.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// The client's address as seen by the node.
pub fn client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Every `X-Forwarded-For` line in order, split on commas: the hops, nearest last.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A hop a trusted proxy wrote but that is not an address: the client cannot be told
        // apart from that proxy.
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append("x-forwarded-for", line.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let h = headers(&["1.2.3.4"]);
        assert_eq!(client(ip("9.9.9.9"), &h, &[]), ip("9.9.9.9"));
        assert_eq!(
            client(ip("9.9.9.9"), &h, &nets(&["10.0.0.0/8"])),
            ip("9.9.9.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_last_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client wrote a fake first hop; the proxy appended the real address.
        let h = headers(&["6.6.6.6, 1.2.3.4"]);
        assert_eq!(client(ip("10.0.0.5"), &h, &trusted), ip("1.2.3.4"));
        // Two trusted proxies in a row, over two header lines.
        let h = headers(&["6.6.6.6, 1.2.3.4", "10.1.1.1"]);
        assert_eq!(client(ip("10.0.0.5"), &h, &trusted), ip("1.2.3.4"));
    }

    #[test]
    fn a_trusted_proxy_without_a_usable_header_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "::1/128"]);
        assert_eq!(
            client(ip("10.0.0.5"), &HeaderMap::new(), &trusted),
            ip("10.0.0.5")
        );
        let h = headers(&["1.2.3.4, garbage"]);
        assert_eq!(client(ip("10.0.0.5"), &h, &trusted), ip("10.0.0.5"));
        // Only proxies in the chain: the farthest one.
        let h = headers(&["10.9.9.9, 10.1.1.1"]);
        assert_eq!(client(ip("::1"), &h, &trusted), ip("10.9.9.9"));
    }
}
