//! A CI-sized soak: the real binaries (the debug build `cargo build --bins` makes) under the
//! chat mix for about 12 seconds, three gateway nodes, every delivery checked. It fails on any
//! lost, duplicated or reordered message, a dropped socket, a refused publish, gateway memory
//! growth beyond the rule, or a dead or panicking process.

use clap::Parser;
use load::soak::{self, SoakArgs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_delivers_everything_exactly_once_in_order() {
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
        "12",
    ]);
    let report = soak::run(args).await.expect("the soak ran");
    println!("{report}");
    assert!(
        report.passed,
        "soak failed:\n{}",
        report.failures.join("\n")
    );
    assert!(
        report.chat.verdict.expected > 1_000,
        "too little traffic to prove anything: {}",
        report.chat.verdict
    );
}
