//! The soak chart, two panels over the time of the traffic: deliveries per second (messages
//! and typing, one point a second) above, each gateway's RSS below with the memory rule's
//! limit for the last third.

use super::{
    Chart, Charts, FONT, RunInfo, legend, legend_line, level, line, render, si, thousands, upto,
};
use crate::soak::{SoakReport, Timeline};
use plotters::prelude::*;

/// Headroom above the highest RSS for the legend (flat lines would run under it).
const LEGEND_ROOM: f64 = 1.7;

impl Charts for SoakReport {
    fn charts(&self, run: &RunInfo) -> anyhow::Result<Vec<Chart>> {
        if self.timeline.points.is_empty() {
            return Ok(Vec::new());
        }
        let c = &self.chat;
        let subtitle = format!(
            "{} users in {} rooms (largest {}) over {} gateway nodes, {:.0} operations/s for {:.0} s; {}",
            thousands(c.users as u64),
            c.rooms,
            c.largest_room,
            run.nodes,
            (c.messages.sent + c.typing.sent) as f64 / c.seconds.max(1e-9),
            c.seconds,
            if self.passed { "passed" } else { "FAILED" }
        );
        let limit = self
            .memory
            .iter()
            .map(|m| m.limit_mib)
            .fold(f64::INFINITY, f64::min);
        Ok(vec![over_time(
            &self.timeline,
            limit.is_finite().then_some(limit),
            &subtitle,
            run,
        )?])
    }
}

/// Deliveries per second and gateway RSS against time; `limit` is the lowest node's RSS limit
/// for the last third.
pub fn over_time(
    timeline: &Timeline,
    limit: Option<f64>,
    subtitle: &str,
    run: &RunInfo,
) -> anyhow::Result<Chart> {
    let span = timeline
        .points
        .iter()
        .map(|p| p.seconds)
        .fold(0.0, f64::max);
    let (unit, per) = if span > 600.0 {
        ("min", 60.0)
    } else {
        ("s", 1.0)
    };
    let x = 0.0..(span / per).max(1e-3);
    let rates: Vec<(f64, f64)> = timeline
        .points
        .iter()
        .map(|p| (p.seconds / per, p.deliveries_per_second))
        .collect();
    let rate_axis = upto(rates.iter().map(|p| p.1).fold(0.0, f64::max), 1.0);
    let rss_max = timeline
        .points
        .iter()
        .flat_map(|p| p.gateway_rss_mib.iter().flatten())
        .fold(limit.unwrap_or(0.0), |a, &b| a.max(b));
    render(
        "soak",
        "Deliveries and gateway memory over time (soak)",
        subtitle,
        run,
        |area| {
            let (top, bottom) = area.split_vertically(area.dim_in_pixel().1 / 2);
            let mut chart = ChartBuilder::on(&top)
                .margin(10)
                .x_label_area_size(24)
                .y_label_area_size(56)
                .build_cartesian_2d(x.clone(), rate_axis)?;
            chart
                .configure_mesh()
                .y_desc("deliveries/s (messages + typing)")
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter(&|v| si(*v))
                .axis_desc_style((FONT, 14))
                .label_style((FONT, 12))
                .light_line_style(BLACK.mix(0.04))
                .draw()?;
            chart.draw_series(LineSeries::new(rates.iter().copied(), line(0)))?;

            let mut chart = ChartBuilder::on(&bottom)
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(56)
                .build_cartesian_2d(x.clone(), upto(rss_max * LEGEND_ROOM, 1.0))?;
            chart
                .configure_mesh()
                .x_desc(format!("time since the traffic started ({unit})"))
                .y_desc("gateway RSS (MiB)")
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter(&|v| format!("{v:.0}"))
                .axis_desc_style((FONT, 14))
                .label_style((FONT, 12))
                .light_line_style(BLACK.mix(0.04))
                .draw()?;
            for (i, node) in timeline.nodes.iter().enumerate() {
                let rss = timeline.points.iter().filter_map(|p| {
                    let mib = p.gateway_rss_mib.get(i).copied().flatten()?;
                    Some((p.seconds / per, mib))
                });
                chart
                    .draw_series(LineSeries::new(rss, line(i + 1)))?
                    .label(node.as_str())
                    .legend(legend_line(line(i + 1)));
            }
            if let Some(limit) = limit {
                let label = "limit for the last third (memory rule)";
                level(&mut chart, (x.end * 2.0 / 3.0, x.end), limit, label)?;
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::testing::{check, has_texts};
    use crate::soak::TimelinePoint;

    fn timeline(seconds: usize) -> Timeline {
        Timeline {
            nodes: vec!["gateway-1".into(), "gateway-2".into(), "gateway-3".into()],
            points: (1..=seconds)
                .map(|s| TimelinePoint {
                    seconds: s as f64,
                    deliveries_per_second: 11_000.0 + (s % 7) as f64 * 100.0,
                    gateway_rss_mib: vec![Some(20.5), Some(20.4), (s != 3).then_some(20.6)],
                })
                .collect(),
        }
    }

    fn run() -> RunInfo {
        RunInfo {
            nodes: 3,
            footer: "a 2-core machine".into(),
        }
    }

    #[test]
    fn the_soak_chart_has_the_rate_and_a_line_per_gateway() {
        let chart = over_time(&timeline(120), Some(38.9), "2000 users", &run()).expect("renders");
        assert_eq!(chart.name, "soak");
        let (texts, lines) = check(&chart.svg);
        has_texts(
            &texts,
            &[
                "Deliveries and gateway memory over time (soak)",
                "deliveries/s (messages + typing)",
                "gateway RSS (MiB)",
                "time since the traffic started (s)",
                "gateway-1",
                "gateway-2",
                "gateway-3",
                "limit for the last third (memory rule)",
                "10k",
            ],
        );
        // The rate, three gateways, the limit, and the legend marks of the last four.
        assert!(lines >= 9, "{lines} lines");
    }

    #[test]
    fn a_long_soak_is_drawn_in_minutes() {
        let chart = over_time(&timeline(1800), None, "2000 users", &run()).expect("renders");
        let (texts, _) = check(&chart.svg);
        has_texts(&texts, &["time since the traffic started (min)", "30"]);
        assert!(!texts.iter().any(|t| t.starts_with("limit")));
    }
}
