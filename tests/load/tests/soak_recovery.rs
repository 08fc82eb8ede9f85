//! A CI-sized soak in recovery mode: the real binaries (the debug build `cargo build --bins`
//! makes) under the chat mix for about 10 seconds while clients are dropped abruptly at random,
//! reconnect and re-subscribe each room with `since` their last offset and epoch. It fails on
//! any lost, duplicated or reordered message (nothing is deduplicated on the client), a
//! `recovered: false` answer, a hole or repeat in a room's offsets, a socket closed by anyone
//! but the test, a refused publish, memory growth, or a dead or panicking process.

use clap::Parser;
use load::soak::{self, SoakArgs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_with_dropped_clients_recovers_everything_exactly_once_in_order() {
    let args = SoakArgs::parse_from([
        "soak",
        "--users",
        "60",
        "--rooms",
        "15",
        "--max-room",
        "30",
        "--rate",
        "40",
        "--typing",
        "0.2",
        "--duration",
        "10",
        "--drop-rate",
        "3",
        "--max-outage-ms",
        "500",
    ]);
    let report = soak::run(args).await.expect("the soak ran");
    println!("{report}");
    assert!(
        report.passed,
        "soak failed:\n{}",
        report.failures.join("\n")
    );
    let recovery = report.chat.recovery.as_ref().expect("recovery mode");
    assert!(
        recovery.drops >= 5 && recovery.reconnects == recovery.drops,
        "too few drops, or not all reconnected: {recovery:?}"
    );
    assert!(
        recovery.replayed > 0,
        "no event was replayed: the outages proved nothing: {recovery:?}"
    );
    assert!(
        report.chat.verdict.expected > 1_000,
        "too little traffic to prove anything: {}",
        report.chat.verdict
    );
}
