//! `loadgen`: runs one load scenario against a cluster it starts (or an existing one), prints
//! a progress line every second and a summary at the end, writes the figures as JSON with
//! `--json`, and draws them as SVG with `--svg DIR` or as an HTML page with `--html PATH`.
//! See docs/PERFORMANCE.md.

use clap::Parser;
use load::cluster::TargetArgs;
use load::harness::{ClientArgs, Harness};
use load::plot::{self, Charts, RunInfo};
use load::report::Report;
use load::scenario::{Scenario, ceiling, chat, churn, fanout, flood, idle, silent};
use load::workers::WorkerId;
use serde::Serialize;
use std::fmt::Display;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Load generator for the chat gateway",
    version
)]
struct Args {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    client: ClientArgs,
    /// Also write the results as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Also draw the charts (fanout: latency and CPU per delivery against delivery rate; idle:
    /// memory per socket against sockets held) as SVG files into this directory.
    #[arg(long, global = true, value_name = "DIR")]
    svg: Option<PathBuf>,
    /// Also write one self-contained HTML page with the summary and the charts to this file.
    #[arg(long, global = true, value_name = "PATH")]
    html: Option<PathBuf>,
    /// Worker threads of the load generator's runtime. Default: one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// Load generator processes holding the sockets (`idle` only): one process may hold at
    /// most about 19,000 sockets here.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Internal: this process is worker I of K (started by `--workers`).
    #[arg(long, hide = true)]
    worker: Option<WorkerId>,
    /// Internal: the run id of the parent (started by `--workers`).
    #[arg(long, hide = true)]
    run_id: Option<String>,
    #[command(subcommand)]
    scenario: Scenario,
}

/// One process holds at most 20,000 open files here (../shared/TOOLING.md); leave room for
/// the dispatcher connections, Redis and the log files.
const MAX_SOCKETS: usize = 19_000;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads);
    }
    runtime.enable_all().build()?.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let per_process = match &args.scenario {
        Scenario::Idle(a) => {
            let processes = args.worker.map_or(args.workers, |w| w.count);
            // The chat mix after the hold runs in the parent.
            let chat = match (a.then_chat, args.worker) {
                (true, None) => a.chat.users,
                _ => 0,
            };
            a.sockets.div_ceil(processes.max(1)) + chat
        }
        Scenario::Fanout(a) => a.subscribers,
        Scenario::Chat(a) => a.users,
        Scenario::Churn(a) => a.subscribers + (a.churn_rate * (a.lifetime + 1.0)) as usize,
        Scenario::Silent(a) => a.sockets,
        Scenario::Flood(a) => a.concurrency + a.others_rate as usize,
        Scenario::Ceiling(a) => a.concurrency,
    };
    anyhow::ensure!(
        per_process <= MAX_SOCKETS,
        "{per_process} sockets in one process exceed what it may hold here ({MAX_SOCKETS}): \
         use --workers (idle), or several loadgen processes against one deployment \
         (--dispatcher/--gateways/--redis)"
    );
    anyhow::ensure!(
        args.workers <= 1 || matches!(args.scenario, Scenario::Idle(_)),
        "--workers is supported by the idle scenario only"
    );
    let mut h = Harness::new(args.target, args.client).await?;
    if let Some(run_id) = args.run_id {
        h.run_id = run_id;
    }
    let out = Outputs {
        json: args.json.as_deref(),
        svg: args.svg.as_deref(),
        html: args.html.as_deref(),
    };
    match (&args.scenario, args.worker) {
        (Scenario::Idle(a), Some(worker)) => idle::run_worker(&h, a, worker).await,
        (_, Some(_)) => anyhow::bail!("only the idle scenario runs as a worker"),
        (Scenario::Idle(a), None) => finish(&h, "idle", idle::run(&h, a, args.workers).await?, out),
        (Scenario::Fanout(a), None) => finish(&h, "fanout", fanout::run(&h, a).await?, out),
        (Scenario::Chat(a), None) => finish(&h, "chat", chat::run(&h, a, None).await?, out),
        (Scenario::Churn(a), None) => finish(&h, "churn", churn::run(&h, a).await?, out),
        (Scenario::Silent(a), None) => finish(&h, "silent", silent::run(&h, a).await?, out),
        (Scenario::Flood(a), None) => finish(&h, "flood", flood::run(&h, a).await?, out),
        (Scenario::Ceiling(a), None) => finish(&h, "ceiling", ceiling::run(&h, a).await?, out),
    }
}

/// Where a run's results go besides stdout.
#[derive(Clone, Copy)]
struct Outputs<'a> {
    json: Option<&'a Path>,
    svg: Option<&'a Path>,
    html: Option<&'a Path>,
}

/// Prints the summary and writes the JSON and the charts.
fn finish(
    h: &Harness,
    scenario: &str,
    result: impl Serialize + Display + Charts,
    out: Outputs<'_>,
) -> anyhow::Result<()> {
    let summary = result.to_string();
    println!("{summary}");
    let report = Report::new(scenario, h.cluster.nodes.len(), h.cluster.is_own(), &result);
    if let Some(path) = out.json {
        report.write(path)?;
        println!("results written to {}", path.display());
    }
    let run = RunInfo::new(report.gateway_nodes, report.finished_unix);
    plot::write(
        &format!("loadgen {scenario}"),
        &run,
        &summary,
        result.charts(&run),
        out.svg,
        out.html,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_valid() {
        Args::command().debug_assert();
    }

    #[test]
    fn a_worker_gets_its_share_of_sockets() {
        let args =
            Args::try_parse_from(["loadgen", "--worker", "1/2", "idle", "--sockets", "30000"])
                .expect("parses");
        assert_eq!(args.worker, Some(WorkerId { index: 1, count: 2 }));
    }
}
