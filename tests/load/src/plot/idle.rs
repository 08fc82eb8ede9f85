//! The idle chart: gateway memory per socket (RSS growth since before the first connect,
//! divided by the node's open sockets) against the sockets a node holds, as they open, and
//! after the hold.

use super::{
    COLOURS, Chart, Charts, FONT, RunInfo, legend, legend_line, level, line, render, si, upto,
};
use crate::scenario::idle::IdleResult;
use plotters::prelude::*;

/// One node's curve.
#[derive(Clone, Debug)]
pub struct NodeCurve {
    pub node: String,
    /// (sockets held, KiB per socket) while the sockets opened.
    pub ramp: Vec<(f64, f64)>,
    /// (sockets, KiB per socket) after the hold: the figure the tables report.
    pub held: Option<(f64, f64)>,
}

/// The ≤ 8 KiB per idle socket target (issue 5).
const TARGET_KIB: f64 = 8.0;

/// Below this share of a node's final sockets, RSS growth per socket is mostly the heap's
/// fixed start-up growth: those points are left off (they would squash the axis).
const FROM_SHARE: f64 = 0.1;

impl Charts for IdleResult {
    fn charts(&self, run: &RunInfo) -> anyhow::Result<Vec<Chart>> {
        let curves: Vec<NodeCurve> = self
            .nodes
            .iter()
            .map(|n| {
                let ramp = self
                    .ramp
                    .iter()
                    .flat_map(|p| p.nodes.iter().filter(|r| r.node == n.node))
                    .filter(|r| r.sockets > 0)
                    .map(|r| {
                        (
                            r.sockets as f64,
                            r.rss_delta_bytes as f64 / 1024.0 / r.sockets as f64,
                        )
                    })
                    .collect();
                NodeCurve {
                    node: n.node.clone(),
                    ramp,
                    held: n
                        .rss_bytes_per_socket
                        .map(|b| (n.sockets as f64, b / 1024.0)),
                }
            })
            .collect();
        if curves.iter().all(|c| c.ramp.is_empty() && c.held.is_none()) {
            return Ok(Vec::new());
        }
        let subtitle = format!(
            "{} idle subscribed sockets over {} gateway nodes, {} load generator process(es)",
            super::thousands(self.sockets as u64),
            run.nodes,
            self.workers
        );
        let hold = (self.memory.wall_seconds - self.connect_resources.wall_seconds).max(0.0);
        Ok(vec![memory(&curves, &subtitle, hold, run)?])
    }
}

/// KiB per socket against sockets held per node.
pub fn memory(
    curves: &[NodeCurve],
    subtitle: &str,
    hold_seconds: f64,
    run: &RunInfo,
) -> anyhow::Result<Chart> {
    let curves: Vec<NodeCurve> = curves
        .iter()
        .map(|c| {
            let last = c
                .ramp
                .iter()
                .map(|p| p.0)
                .chain(c.held.map(|h| h.0))
                .fold(0.0, f64::max);
            NodeCurve {
                ramp: c
                    .ramp
                    .iter()
                    .copied()
                    .filter(|p| p.0 >= last * FROM_SHARE)
                    .collect(),
                ..c.clone()
            }
        })
        .collect();
    let all = || curves.iter().flat_map(|c| c.ramp.iter().chain(&c.held));
    let x = upto(all().map(|p| p.0).fold(0.0, f64::max), 1.0);
    let y = upto(all().map(|p| p.1).fold(0.0, f64::max), TARGET_KIB);
    render(
        "idle-memory",
        "Gateway memory per socket against sockets held (idle)",
        subtitle,
        run,
        |area| {
            let mut chart = ChartBuilder::on(area)
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(56)
                .build_cartesian_2d(x.clone(), y)?;
            chart
                .configure_mesh()
                .x_desc("sockets held by the node (from 10 % of the final count)")
                .y_desc("RSS growth per socket (KiB)")
                .x_label_formatter(&|v| si(*v))
                .y_label_formatter(&|v| format!("{v:.0}"))
                .axis_desc_style((FONT, 14))
                .label_style((FONT, 12))
                .light_line_style(BLACK.mix(0.04))
                .draw()?;
            for (i, c) in curves.iter().enumerate() {
                chart
                    .draw_series(LineSeries::new(c.ramp.iter().copied(), line(i)))?
                    .label(format!("{}, while opening", c.node))
                    .legend(legend_line(line(i)));
                if let Some(held) = c.held {
                    let colour = COLOURS[i % COLOURS.len()];
                    chart
                        .draw_series([TriangleMarker::new(held, 7, colour.filled())])?
                        .label(format!("{}, after the {hold_seconds:.0} s hold", c.node))
                        .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 6, colour.filled()));
                }
            }
            level(&mut chart, (x.start, x.end), TARGET_KIB, "target: ≤ 8 KiB")?;
            legend(&mut chart, SeriesLabelPosition::UpperRight)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::testing::{check, has_texts};

    fn curve(node: &str, kib: f64) -> NodeCurve {
        NodeCurve {
            node: node.into(),
            // The first points (under 10 % of 5,000) are left off.
            ramp: [
                (50.0, 400.0),
                (400.0, 40.0),
                (1000.0, 12.0),
                (3000.0, kib + 1.0),
                (5000.0, kib),
            ]
            .into(),
            held: Some((5000.0, kib - 0.2)),
        }
    }

    #[test]
    fn the_memory_chart_has_a_curve_and_a_held_point_per_node() {
        let run = RunInfo {
            nodes: 2,
            footer: "a 2-core machine".into(),
        };
        let curves = [curve("gateway-1", 7.7), curve("gateway-2", 7.5)];
        let chart = memory(&curves, "10000 idle subscribed sockets", 5.0, &run).expect("renders");
        assert_eq!(chart.name, "idle-memory");
        let (texts, lines) = check(&chart.svg);
        has_texts(
            &texts,
            &[
                "Gateway memory per socket against sockets held (idle)",
                "10000 idle subscribed sockets",
                "RSS growth per socket (KiB)",
                "sockets held by the node (from 10 % of the final count)",
                "gateway-1, while opening",
                "gateway-2, after the 5 s hold",
                "target: ≤ 8 KiB",
                "5k",
            ],
        );
        assert!(lines >= 5, "{lines} lines");
        // The axis stops short of the 400 KiB of the first sockets.
        assert!(!texts.iter().any(|t| t == "400"), "{texts:?}");
    }
}
