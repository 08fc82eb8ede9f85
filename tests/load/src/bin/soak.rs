//! `soak`: starts Redis, a dispatcher and three gateways, runs the chat mix for `--duration`
//! seconds and exits non-zero, with the reasons, unless every check passed; `--json`,
//! `--svg DIR` and `--html PATH` write the figures and the charts. See docs/PERFORMANCE.md.

use clap::Parser;
use load::plot::{self, Charts, RunInfo};
use load::report::Report;
use load::soak::{self, SoakArgs};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = SoakArgs::parse();
    let (json, svg, html, nodes) = (
        args.json.clone(),
        args.svg.clone(),
        args.html.clone(),
        args.nodes,
    );
    let report = soak::run(args).await?;
    let summary = report.to_string();
    println!("{summary}");
    let written = Report::new("soak", nodes, true, &report);
    if let Some(path) = json {
        written.write(&path)?;
    }
    let run = RunInfo::new(nodes, written.finished_unix);
    plot::write(
        "soak",
        &run,
        &summary,
        report.charts(&run),
        svg.as_deref(),
        html.as_deref(),
    )?;
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
