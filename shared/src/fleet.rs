//! The gateway fleet as the node registry records it, and the assignment of users to nodes by
//! rendezvous (highest-random-weight) hashing: every user gets the live, non-draining node
//! with the highest `xxh3(node id, user id)`, so the answer is the same wherever it is
//! computed, and adding or removing one of N nodes moves only about 1/N of the users.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

/// One gateway node's registry entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: String,
    /// The WebSocket URL clients use to reach this node.
    pub url: String,
    /// Sockets open on the node at its last heartbeat.
    pub connections: u64,
    /// A draining node takes no new users.
    pub draining: bool,
}

/// The node `user` belongs on, among the live nodes that are not draining.
pub fn assign<'a>(user: &str, nodes: &'a [NodeInfo]) -> Option<&'a NodeInfo> {
    nodes.iter().filter(|n| !n.draining).max_by(|a, b| {
        // Ties (practically impossible) go to the smaller id, so every caller agrees.
        weight(&a.id, user)
            .cmp(&weight(&b.id, user))
            .then_with(|| b.id.cmp(&a.id))
    })
}

fn weight(node: &str, user: &str) -> u64 {
    let mut key = Vec::with_capacity(node.len() + user.len() + 1);
    key.extend_from_slice(node.as_bytes());
    key.push(0);
    key.extend_from_slice(user.as_bytes());
    xxh3_64(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(n: usize) -> Vec<NodeInfo> {
        (0..n).map(|i| node(&format!("gw-{i}"))).collect()
    }

    fn node(id: &str) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            url: format!("ws://{id}/api/ws"),
            connections: 0,
            draining: false,
        }
    }

    fn users() -> Vec<String> {
        (0..10_000).map(|i| format!("user-{i}")).collect()
    }

    fn assignments(nodes: &[NodeInfo]) -> Vec<String> {
        users()
            .iter()
            .map(|u| assign(u, nodes).unwrap().id.clone())
            .collect()
    }

    #[test]
    fn the_same_fleet_gives_the_same_answer_in_any_order() {
        let nodes = fleet(5);
        let mut reversed = nodes.clone();
        reversed.reverse();
        assert_eq!(assignments(&nodes), assignments(&reversed));
    }

    #[test]
    fn users_spread_over_the_nodes() {
        let nodes = fleet(5);
        let picked = assignments(&nodes);
        for n in &nodes {
            let share = picked.iter().filter(|p| **p == n.id).count();
            assert!(
                (1600..=2400).contains(&share),
                "{} got {share} of 10000",
                n.id
            );
        }
    }

    #[test]
    fn adding_a_node_moves_about_one_nth_and_only_onto_it() {
        let before = assignments(&fleet(4));
        let after = assignments(&fleet(5));
        let moved: Vec<usize> = (0..before.len())
            .filter(|&i| before[i] != after[i])
            .collect();
        assert!(
            (1600..=2400).contains(&moved.len()),
            "moved {} of 10000",
            moved.len()
        );
        assert!(
            moved.iter().all(|&i| after[i] == "gw-4"),
            "users only move to the new node"
        );
    }

    #[test]
    fn removing_a_node_moves_only_its_users() {
        let nodes = fleet(5);
        let before = assignments(&nodes);
        let without: Vec<NodeInfo> = nodes.iter().filter(|n| n.id != "gw-2").cloned().collect();
        let after = assignments(&without);
        for i in 0..before.len() {
            if before[i] != "gw-2" {
                assert_eq!(before[i], after[i], "a user of a surviving node moved");
            }
        }
        let moved = (0..before.len()).filter(|&i| before[i] != after[i]).count();
        assert!((1600..=2400).contains(&moved), "moved {moved} of 10000");
    }

    #[test]
    fn draining_nodes_take_no_one_and_an_empty_fleet_gives_none() {
        let mut nodes = fleet(2);
        nodes[0].draining = true;
        assert!(
            users()
                .iter()
                .all(|u| assign(u, &nodes).unwrap().id == "gw-1")
        );
        nodes[1].draining = true;
        assert_eq!(assign("u", &nodes), None);
        assert_eq!(assign("u", &[]), None);
    }
}

/// The Discord v3 endpoint of a node whose (native) URL is `url`: the same origin at `/`
/// (`ws://host:port/api/ws` → `ws://host:port/`). A URL with another path keeps it and gets
/// the Discord endpoint's path (`/`) appended to its origin only when it ends in `/api/ws`.
pub fn discord_url(url: &str) -> String {
    match url.strip_suffix("/api/ws") {
        Some(origin) => format!("{origin}/"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod dialect_url_tests {
    #[test]
    fn the_discord_endpoint_is_the_origin() {
        assert_eq!(
            super::discord_url("ws://10.0.0.1:8080/api/ws"),
            "ws://10.0.0.1:8080/"
        );
        assert_eq!(super::discord_url("wss://gw.example/"), "wss://gw.example/");
    }
}
