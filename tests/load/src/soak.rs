//! The soak test: Redis, a dispatcher and three gateway processes under the `chat` mix for a
//! given time, then the verdict. It passes only if every subscriber received every
//! acknowledged message of its rooms exactly once and in order (and every typing notice), no
//! socket was dropped and no publish refused, gateway memory stayed flat, and every process
//! is alive with no panic in its log. Deliveries and gateway RSS are sampled every second
//! (the report's `timeline`, drawn by `--svg`/`--html`).
//!
//! Recovery mode (`--drop-rate`): clients are also dropped abruptly at random during the
//! traffic, reconnect and re-subscribe with `since`; the delivery rule stays exactly once and in
//! order per subscriber, the drops the test made are not counted as dropped sockets, and a
//! `recovered: false` answer, an offset gap or repeat, or an error after a reconnect fails the
//! run. Typing notices are live only, so there a socket may miss some (never get more).

use crate::client::RecoveryArgs;
use crate::cluster::{Cluster, TargetArgs};
use crate::harness::{ClientArgs, Harness};
use crate::procstat::Watch;
use crate::scenario::chat::{self, ChatArgs, ChatResult};
use crate::stats::Stats;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(clap::Parser, Clone, Debug)]
#[command(
    name = "soak",
    about = "Soak test of the chat gateway cluster",
    version
)]
pub struct SoakArgs {
    #[command(flatten)]
    pub chat: ChatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Gateway processes to start.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Directory holding the gateway and dispatcher binaries. Default: this program's own
    /// directory when it holds them, else target/debug.
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Directory for the processes' logs (scanned for panics). Default: a new one under /tmp.
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// Memory rule: each gateway's largest RSS in the last third of the traffic may be at most
    /// this factor times its largest RSS in the first third …
    #[arg(long, default_value_t = 1.5)]
    pub rss_factor: f64,
    /// … plus this many MiB.
    #[arg(long, default_value_t = 8)]
    pub rss_slack_mib: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also write the charts (deliveries and gateway RSS over time) as SVG into this
    /// directory (`soak.svg`).
    #[arg(long, value_name = "DIR")]
    pub svg: Option<PathBuf>,
    /// Also write an HTML page with the summary and the charts inline to this file.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    // Last: the heading applies to every option after it.
    #[command(flatten, next_help_heading = "Recovery mode")]
    pub recovery: RecoveryArgs,
}

#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub passed: bool,
    /// Why it failed; empty when it passed.
    pub failures: Vec<String>,
    pub chat: ChatResult,
    pub memory: Vec<MemoryTrend>,
    /// Once a second during the traffic: deliveries per second and each gateway's RSS.
    pub timeline: Timeline,
}

/// What the soak saw over time, from the start of the traffic to when it settled.
#[derive(Debug, Default, Serialize)]
pub struct Timeline {
    /// The gateways, in the order of each point's `gateway_rss_mib`.
    pub nodes: Vec<String>,
    pub points: Vec<TimelinePoint>,
}

#[derive(Debug, Serialize)]
pub struct TimelinePoint {
    /// Since the start of the traffic.
    pub seconds: f64,
    /// Message and typing deliveries per second since the previous point.
    pub deliveries_per_second: f64,
    /// None when the gateway could not be read (gone).
    pub gateway_rss_mib: Vec<Option<f64>>,
}

/// One gateway's RSS over the traffic, split in thirds.
#[derive(Debug, Serialize)]
pub struct MemoryTrend {
    pub node: String,
    pub samples: usize,
    pub first_third_max_mib: f64,
    pub last_third_max_mib: f64,
    pub limit_mib: f64,
    pub flat: bool,
}

/// Every gateway's RSS (name, bytes) at one moment, in `Watch` order.
type RssSample = (Instant, Vec<(String, Option<u64>)>);
/// RSS samples, and the deliveries (messages and typing) so far, once a second.
type Samples = Arc<Mutex<Vec<(RssSample, u64)>>>;

/// Starts the cluster, runs the chat mix, and judges the run.
pub async fn run(args: SoakArgs) -> anyhow::Result<SoakReport> {
    let target = TargetArgs::own(args.nodes, args.bin_dir.clone(), args.log_dir.clone());
    let cluster = Cluster::from_args(target).await?;
    let mut h = Harness::with_cluster(cluster, args.client.clone());
    let samples = Samples::default();
    let sampler = tokio::spawn(sample(
        h.cluster.watch.clone(),
        h.stats.clone(),
        samples.clone(),
    ));
    let recovery = args.recovery.enabled().then_some(&args.recovery);
    let chat = chat::run(&h, &args.chat, recovery).await;
    sampler.abort();
    let chat = chat?;
    let (rss, timeline) = {
        let samples = samples.lock().expect("samples lock");
        let rss: Vec<RssSample> = samples.iter().map(|(s, _)| s.clone()).collect();
        (rss, timeline(&samples, chat.traffic))
    };
    let memory = memory_trends(&rss, chat.traffic, &args);
    let mut failures = delivery_failures(&chat);
    failures.extend(
        memory
            .iter()
            .filter(|m| !m.flat)
            .map(|m| format!("{} memory grew: {m:?}", m.node)),
    );
    failures.extend(h.cluster.problems());
    Ok(SoakReport {
        passed: failures.is_empty(),
        failures,
        chat,
        memory,
        timeline,
    })
}

async fn sample(watch: Watch, stats: Arc<Stats>, samples: Samples) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let rss = watch.gateway_rss(&watch.sample());
        let delivered = stats.probes() + stats.typings();
        samples
            .lock()
            .expect("samples lock")
            .push(((Instant::now(), rss), delivered));
    }
}

/// The samples taken during the traffic (`start..=end`), as rates and MiB.
fn timeline(samples: &[(RssSample, u64)], (start, end): (Instant, Instant)) -> Timeline {
    let mut timeline = Timeline {
        nodes: samples
            .first()
            .map(|((_, rss), _)| rss.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default(),
        points: Vec::new(),
    };
    for pair in samples.windows(2) {
        let [((then, _), before), ((at, rss), delivered)] = pair else {
            continue;
        };
        if !(start..=end).contains(at) {
            continue;
        }
        let seconds = (*at - *then).as_secs_f64().max(1e-3);
        timeline.points.push(TimelinePoint {
            seconds: (*at - start).as_secs_f64(),
            deliveries_per_second: delivered.saturating_sub(*before) as f64 / seconds,
            gateway_rss_mib: rss
                .iter()
                .map(|(_, b)| b.map(|b| b as f64 / 1_048_576.0))
                .collect(),
        });
    }
    timeline
}

/// What went wrong with the deliveries and the publishing.
fn delivery_failures(chat: &ChatResult) -> Vec<String> {
    let v = &chat.verdict;
    let mut failures = Vec::new();
    let mut check = |bad: bool, what: String| {
        if bad {
            failures.push(what);
        }
    };
    check(
        chat.messages.acked == 0,
        "no message was acknowledged: the run proved nothing".into(),
    );
    check(
        v.lost > 0,
        format!(
            "{} of {} owed message deliveries never arrived",
            v.lost, v.expected
        ),
    );
    let (duplicates, out_of_order) = (v.duplicates.unwrap_or(0), v.out_of_order.unwrap_or(0));
    check(duplicates > 0, format!("{duplicates} duplicate deliveries"));
    check(
        out_of_order > 0,
        format!("{out_of_order} deliveries out of order"),
    );
    check(
        v.phantom > 0,
        format!("{} deliveries of events never sent", v.phantom),
    );
    check(
        v.sockets_failed > 0,
        format!(
            "{} sockets were closed early (first: {})",
            v.sockets_failed,
            v.first_failure.as_deref().unwrap_or("?")
        ),
    );
    check(
        chat.connect.failed > 0,
        format!(
            "{} sockets failed to open (first: {})",
            chat.connect.failed,
            chat.connect.first_error.as_deref().unwrap_or("?")
        ),
    );
    // Typing is live only: in recovery mode a dropped socket misses what is sent meanwhile.
    let typing_wrong = match chat.recovery {
        Some(_) => chat.typing_delivered > chat.typing_expected,
        None => chat.typing_delivered != chat.typing_expected,
    };
    check(
        typing_wrong,
        format!(
            "typing: {} deliveries for {} owed",
            chat.typing_delivered, chat.typing_expected
        ),
    );
    check(
        chat.typing_echoes > 0,
        format!(
            "{} typing notices reached the typist's own socket",
            chat.typing_echoes
        ),
    );
    for (what, sent) in [("messages", &chat.messages), ("typing", &chat.typing)] {
        check(
            sent.failed > 0,
            format!(
                "{} of {} {what} were refused (first: {})",
                sent.failed,
                sent.sent,
                sent.first_error.as_deref().unwrap_or("?")
            ),
        );
    }
    if let Some(r) = &chat.recovery {
        let first = r.first_problem.as_deref().unwrap_or("?");
        check(
            r.drops == 0,
            "recovery mode made no drop: raise --drop-rate or --duration".into(),
        );
        check(
            r.not_recovered > 0,
            format!(
                "{} recovered: false answers (first: {first})",
                r.not_recovered
            ),
        );
        check(
            r.offset_gaps > 0,
            format!("{} offsets skipped after recoveries or live", r.offset_gaps),
        );
        check(
            r.offset_repeats > 0,
            format!(
                "{} events at or below an offset already seen",
                r.offset_repeats
            ),
        );
        check(
            r.errors > 0,
            format!("{} errors in recovery answers (first: {first})", r.errors),
        );
    }
    failures
}

/// Each gateway's largest RSS in the first and last thirds of the traffic, against the rule.
fn memory_trends(
    samples: &[RssSample],
    (start, end): (Instant, Instant),
    args: &SoakArgs,
) -> Vec<MemoryTrend> {
    let during: Vec<_> = samples
        .iter()
        .filter(|(at, _)| (start..=end).contains(at))
        .collect();
    let third = (end - start) / 3;
    let nodes = during.first().map_or(0, |(_, rss)| rss.len());
    let mib = |b: u64| b as f64 / 1_048_576.0;
    (0..nodes)
        .map(|i| {
            let max_in = |from: Instant, to: Instant| {
                during
                    .iter()
                    .filter(|(at, _)| (from..=to).contains(at))
                    .filter_map(|(_, rss)| rss[i].1)
                    .max()
                    .unwrap_or(0)
            };
            let first = max_in(start, start + third);
            let last = max_in(end - third, end);
            let limit = mib(first) * args.rss_factor + args.rss_slack_mib as f64;
            MemoryTrend {
                node: during[0].1[i].0.clone(),
                samples: during.len(),
                first_third_max_mib: mib(first),
                last_third_max_mib: mib(last),
                limit_mib: limit,
                flat: mib(last) <= limit,
            }
        })
        .collect()
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.chat)?;
        for m in &self.memory {
            writeln!(
                f,
                "  {} RSS: first third max {:.1} MiB, last third max {:.1} MiB (limit {:.1}, {} samples)",
                m.node, m.first_third_max_mib, m.last_third_max_mib, m.limit_mib, m.samples
            )?;
        }
        if self.passed {
            write!(f, "SOAK PASSED")
        } else {
            write!(f, "SOAK FAILED:\n  - {}", self.failures.join("\n  - "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn the_timeline_keeps_the_traffic_as_rates() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let rss = |mib: u64| vec![("gateway-1".to_owned(), Some(mib << 20))];
        // Connecting (0 s), traffic from 1 s to 3 s, then a sample after it settled.
        let samples = [
            ((at(0), rss(10)), 0),
            ((at(1), rss(11)), 100),
            ((at(2), rss(12)), 1100),
            ((at(3), rss(12)), 3100),
            ((at(4), rss(12)), 3100),
        ];
        let timeline = timeline(&samples, (at(1), at(3)));
        assert_eq!(timeline.nodes, ["gateway-1"]);
        let points: Vec<_> = timeline
            .points
            .iter()
            .map(|p| (p.seconds, p.deliveries_per_second, p.gateway_rss_mib[0]))
            .collect();
        assert_eq!(
            points,
            [
                (0.0, 100.0, Some(11.0)),
                (1.0, 1000.0, Some(12.0)),
                (2.0, 2000.0, Some(12.0))
            ]
        );
    }

    #[test]
    fn the_cli_definition_is_valid() {
        SoakArgs::command().debug_assert();
        let args = SoakArgs::try_parse_from(["soak", "--duration", "1800"]).expect("parses");
        assert_eq!((args.nodes, args.chat.duration), (3, 1800));
        assert!(!args.recovery.enabled());
        let args =
            SoakArgs::try_parse_from(["soak", "--drop-rate", "2.5", "--max-outage-ms", "300"])
                .expect("parses");
        assert!(args.recovery.enabled());
        assert_eq!(
            (args.recovery.drop_rate, args.recovery.max_outage_ms),
            (2.5, 300)
        );
    }
}
