//! `soak`: starts Redis, a dispatcher and three gateways, runs the chat mix for `--duration`
//! seconds and exits non-zero, with the reasons, unless every check passed. See
//! docs/PERFORMANCE.md.

use clap::Parser;
use load::report::Report;
use load::soak::{self, SoakArgs};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = SoakArgs::parse();
    let (json, nodes) = (args.json.clone(), args.nodes);
    let report = soak::run(args).await?;
    println!("{report}");
    if let Some(path) = json {
        Report::new("soak", nodes, true, &report).write(&path)?;
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
