//! What no answer to a client may contain: the system's insides. Every error answer the suite
//! reads (an HTTP status of 400 or more, an `ERROR` frame, a close reason) goes through
//! [`assert_no_internals`], in the helpers that read them, so every test checks it.

/// Signs of internal error text: the Redis client and its errors, panics, source paths,
/// Rust error debug output.
const INTERNALS: [&str; 16] = [
    "redis",
    "fred",
    "panicked",
    "stack backtrace",
    ".rs:",
    "/src/",
    "/root/",
    "/home/",
    "/tmp/",
    "Os {",
    "Error {",
    "Error(",
    "NOSCRIPT",
    "WRONGTYPE",
    "CLUSTERDOWN",
    "connection refused",
];

/// Panics when `text`, an answer to a client, shows internal error text.
#[track_caller]
pub fn assert_no_internals(what: &str, text: &str) {
    let lower = text.to_lowercase();
    for sign in INTERNALS {
        assert!(
            !lower.contains(&sign.to_lowercase()),
            "{what} shows internal error text ({sign:?}): {text}"
        );
    }
}
