//! The gateway takes the hard open-file limit at start-up: every socket is a file descriptor,
//! and container runtimes often start processes with a soft limit of 1,024.
//!
//! Its own test binary on purpose: it lowers this process's soft limit, which the gateway it
//! spawns inherits, and no other test may run in this process meanwhile.

use integration_tests::*;
use rlimit::Resource;

#[tokio::test]
async fn the_gateway_raises_its_soft_open_file_limit_to_the_hard_limit() {
    let redis = RedisServer::start();
    let (_, hard) = Resource::NOFILE.get().unwrap();
    let lowered = 256.min(hard);
    Resource::NOFILE.set(lowered, hard).unwrap();
    let gateway = gateway_on(&redis, "gw-files", &[]);

    let limits = std::fs::read_to_string(format!("/proc/{}/limits", gateway.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a `Max open files` line");
    // "Max open files            <soft>               <hard>               files"
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, [hard.to_string(), hard.to_string()], "{line}");
}
