//! The fan-out charts, one point per rate step: the knee curve (p50, p99 and p99.9 delivery
//! latency, log scale, against deliveries per second) and CPU per delivery against the same
//! rates.

use super::{
    Chart, Charts, FONT, RunInfo, dotted_series, legend, level, ms, render, si, thousands, upto,
};
use crate::scenario::fanout::FanoutResult;
use plotters::prelude::*;

/// What one rate step contributes to the charts.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub deliveries_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// None when the gateways are not watched (an external deployment).
    pub gateway_us: Option<f64>,
    pub loadgen_us: f64,
}

/// What the subtitles say about the run.
#[derive(Clone, Debug)]
pub struct Setup {
    pub subscribers: usize,
    pub via: String,
    pub seconds_per_rate: f64,
    /// Deliveries lost over all steps.
    pub lost: u64,
    /// Sockets closed by the gateway or the network before the end (slow consumers).
    pub sockets_closed: u64,
    /// Steps during which other programs took more than 10 % of the machine.
    pub disturbed: usize,
}

/// A latency series: its label and where it is in a point.
type Percentile = (&'static str, fn(&Point) -> f64);

/// The ≤ 1 s p99 bound of the throughput target (issue 5).
const P99_TARGET_MS: f64 = 1000.0;
/// The ≤ 2 µs gateway CPU per delivery target (issue 5).
const CPU_TARGET_US: f64 = 2.0;

impl Charts for FanoutResult {
    fn charts(&self, run: &RunInfo) -> anyhow::Result<Vec<Chart>> {
        let points: Vec<Point> = self
            .steps
            .iter()
            .map(|s| Point {
                deliveries_per_second: s.deliveries_per_second,
                p50_ms: s.latency.p50_ms,
                p99_ms: s.latency.p99_ms,
                p999_ms: s.latency.p999_ms,
                gateway_us: s.gateway_us_per_delivery,
                loadgen_us: s.loadgen_us_per_delivery,
            })
            .collect();
        let setup = Setup {
            subscribers: self.subscribers,
            via: format!("{:?}", self.via).to_lowercase(),
            seconds_per_rate: self.steps.first().map_or(0.0, |s| s.seconds),
            lost: self.steps.iter().map(|s| s.verdict.lost).sum(),
            sockets_closed: self.verdict.sockets_failed,
            disturbed: self
                .steps
                .iter()
                .filter(|s| s.resources.disturbance_warning().is_some())
                .count(),
        };
        if points.iter().all(|p| p.deliveries_per_second <= 0.0) {
            return Ok(Vec::new());
        }
        Ok(vec![
            knee(&points, &setup, run)?,
            cpu(&points, &setup, run)?,
        ])
    }
}

fn subtitle(setup: &Setup, run: &RunInfo) -> String {
    let lost = match setup.lost {
        0 => "no loss".to_owned(),
        n => format!("{} deliveries lost", thousands(n)),
    };
    let closed = match setup.sockets_closed {
        0 => String::new(),
        n => format!(", {} sockets closed early", thousands(n)),
    };
    let disturbed = match setup.disturbed {
        0 => String::new(),
        1 => ", 1 step disturbed".to_owned(),
        n => format!(", {n} steps disturbed"),
    };
    format!(
        "one room, {} subscribers on {} gateway nodes, via {}, {:.0} s per rate: {lost}{closed}{disturbed}",
        thousands(setup.subscribers as u64),
        run.nodes,
        setup.via,
        setup.seconds_per_rate
    )
}

/// p50, p99 and p99.9 delivery latency (log scale) against deliveries per second.
pub fn knee(points: &[Point], setup: &Setup, run: &RunInfo) -> anyhow::Result<Chart> {
    let mut points = points.to_vec();
    points.sort_by(|a, b| a.deliveries_per_second.total_cmp(&b.deliveries_per_second));
    let rates = points.iter().map(|p| p.deliveries_per_second);
    let x = upto(rates.fold(0.0, f64::max), 1.0);
    let latencies = points
        .iter()
        .flat_map(|p| [p.p50_ms, p.p99_ms, p.p999_ms])
        .filter(|&v| v > 0.0);
    let low = latencies.clone().fold(f64::INFINITY, f64::min).min(1.0);
    let high = latencies.fold(P99_TARGET_MS, f64::max);
    render(
        "fanout-knee",
        "Delivery latency against delivery rate (fanout)",
        &subtitle(setup, run),
        run,
        |area| {
            let mut chart = ChartBuilder::on(area)
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .build_cartesian_2d(x.clone(), (low / 1.5..high * 1.5).log_scale())?;
            chart
                .configure_mesh()
                .x_desc("deliveries per second (all sockets)")
                .y_desc("end-to-end latency (log scale)")
                .x_label_formatter(&|v| si(*v))
                .y_label_formatter(&|v| ms(*v))
                .axis_desc_style((FONT, 14))
                .label_style((FONT, 12))
                .light_line_style(BLACK.mix(0.04))
                .draw()?;
            let series: [Percentile; 3] = [
                ("p50", |p| p.p50_ms),
                ("p99", |p| p.p99_ms),
                ("p99.9", |p| p.p999_ms),
            ];
            for (i, (label, value)) in series.into_iter().enumerate() {
                let data: Vec<(f64, f64)> = points
                    .iter()
                    .map(|p| (p.deliveries_per_second, value(p)))
                    .filter(|&(_, v)| v > 0.0)
                    .collect();
                dotted_series(&mut chart, i, label, &data)?;
            }
            level(
                &mut chart,
                (x.start, x.end),
                P99_TARGET_MS,
                "target: p99 ≤ 1 s",
            )?;
            legend(&mut chart, SeriesLabelPosition::UpperLeft)
        },
    )
}

/// Gateway and load generator CPU microseconds per delivery against deliveries per second.
pub fn cpu(points: &[Point], setup: &Setup, run: &RunInfo) -> anyhow::Result<Chart> {
    let mut points = points.to_vec();
    points.sort_by(|a, b| a.deliveries_per_second.total_cmp(&b.deliveries_per_second));
    let x = upto(
        points
            .iter()
            .map(|p| p.deliveries_per_second)
            .fold(0.0, f64::max),
        1.0,
    );
    let y = upto(
        points
            .iter()
            .flat_map(|p| [p.gateway_us.unwrap_or(0.0), p.loadgen_us])
            .fold(0.0, f64::max),
        CPU_TARGET_US,
    );
    render(
        "fanout-cpu",
        "CPU per delivery against delivery rate (fanout)",
        &subtitle(setup, run),
        run,
        |area| {
            let mut chart = ChartBuilder::on(area)
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(56)
                .build_cartesian_2d(x.clone(), y.clone())?;
            chart
                .configure_mesh()
                .x_desc("deliveries per second (all sockets)")
                .y_desc("CPU time per delivery (µs)")
                .x_label_formatter(&|v| si(*v))
                .y_label_formatter(&|v| match y.end {
                    e if e >= 10.0 => format!("{v:.0}"),
                    _ => format!("{v:.1}"),
                })
                .axis_desc_style((FONT, 14))
                .label_style((FONT, 12))
                .light_line_style(BLACK.mix(0.04))
                .draw()?;
            let gateway: Vec<(f64, f64)> = points
                .iter()
                .filter_map(|p| p.gateway_us.map(|us| (p.deliveries_per_second, us)))
                .collect();
            let loadgen: Vec<(f64, f64)> = points
                .iter()
                .map(|p| (p.deliveries_per_second, p.loadgen_us))
                .collect();
            for (i, label, data) in [
                (0, "gateways (all nodes)", gateway),
                (1, "load generator", loadgen),
            ] {
                if data.is_empty() {
                    continue;
                }
                dotted_series(&mut chart, i, label, &data)?;
            }
            let label = "target: gateway ≤ 2 µs";
            level(&mut chart, (x.start, x.end), CPU_TARGET_US, label)?;
            legend(&mut chart, SeriesLabelPosition::UpperRight)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::testing::{check, has_texts};

    fn run() -> RunInfo {
        RunInfo {
            nodes: 2,
            footer: "2026-12-07 03:10 UTC · 2 cores".into(),
        }
    }

    fn setup() -> Setup {
        Setup {
            subscribers: 2000,
            via: "redis".into(),
            seconds_per_rate: 10.0,
            lost: 0,
            sockets_closed: 0,
            disturbed: 0,
        }
    }

    /// The `cb4871b` sweep of docs/PERFORMANCE.md, p99.9 made up.
    fn points() -> Vec<Point> {
        [
            (100e3, 11.1, 18.4, 30.0, 7.07, 6.90),
            (400e3, 28.1, 83.9, 110.0, 3.11, 1.80),
            (800e3, 52.4, 150.0, 200.0, 1.60, 0.86),
            (1.8e6, 278.0, 859.0, 1000.0, 0.69, 0.41),
        ]
        .into_iter()
        .map(|(d, p50, p99, p999, g, l)| Point {
            deliveries_per_second: d,
            p50_ms: p50,
            p99_ms: p99,
            p999_ms: p999,
            gateway_us: Some(g),
            loadgen_us: l,
        })
        .collect()
    }

    #[test]
    fn the_knee_curve_has_three_percentiles_on_labelled_axes() {
        let chart = knee(&points(), &setup(), &run()).expect("renders");
        assert_eq!(chart.name, "fanout-knee");
        let (texts, lines) = check(&chart.svg);
        has_texts(
            &texts,
            &[
                "Delivery latency against delivery rate (fanout)",
                "deliveries per second (all sockets)",
                "end-to-end latency (log scale)",
                "p50",
                "p99",
                "p99.9",
                "target: p99 ≤ 1 s",
                "100 ms",
                "1 s",
                "1M",
                "2026-12-07 03:10 UTC · 2 cores",
                "one room, 2,000 subscribers on 2 gateway nodes, via redis, 10 s per rate: no loss",
            ],
        );
        // Three series and their three legend marks, at least.
        assert!(lines >= 6, "{lines} lines");
        // A circle per point per series.
        assert_eq!(chart.svg.matches("<circle").count(), 12);
    }

    #[test]
    fn the_cpu_chart_has_both_processes_and_the_target() {
        let chart = cpu(&points(), &setup(), &run()).expect("renders");
        let (texts, lines) = check(&chart.svg);
        has_texts(
            &texts,
            &[
                "CPU per delivery against delivery rate (fanout)",
                "CPU time per delivery (µs)",
                "gateways (all nodes)",
                "load generator",
                "target: gateway ≤ 2 µs",
            ],
        );
        assert!(lines >= 4, "{lines} lines");
        assert_eq!(chart.svg.matches("<circle").count(), 8);
    }

    #[test]
    fn steps_without_latency_samples_are_left_off_the_log_axis() {
        let mut points = points();
        points[0].p999_ms = 0.0;
        let chart = knee(&points, &setup(), &run()).expect("renders");
        check(&chart.svg);
        assert_eq!(chart.svg.matches("<circle").count(), 11);
    }
}
