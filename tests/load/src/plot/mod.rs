//! Charts of a run as self-contained SVG (plotters' SVG backend: text stays `<text>`, no font
//! file, no script, nothing fetched when viewed): `--svg DIR` writes each chart to
//! `DIR/<name>.svg`, `--html PATH` one page with the text summary and every chart inline.
//! One module per scenario that has charts (`fanout`, `idle`, `soak`); the others have none.

pub mod fanout;
pub mod idle;
pub mod soak;

use crate::report::Machine;
use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt::Write;
use std::path::Path;

/// Size of every chart, in pixels (the SVG scales in a browser).
pub const SIZE: (u32, u32) = (800, 480);

pub const FONT: &str = "sans-serif";

/// Series colours, distinguishable in print and for the common colour blindnesses (Okabe-Ito).
pub const COLOURS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
];

/// Targets and limits are drawn in this grey, dashed.
pub const TARGET: RGBColor = RGBColor(110, 110, 110);

/// One chart: `name` is its file stem (`fanout-knee`), `svg` the whole document.
#[derive(Clone, Debug)]
pub struct Chart {
    pub name: String,
    pub title: String,
    pub svg: String,
}

/// What a chart says about the run besides the result: the gateway nodes and a footnote
/// (date and machine).
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub nodes: usize,
    pub footer: String,
}

impl RunInfo {
    /// This run, finished at `finished_unix`, on this machine.
    pub fn new(nodes: usize, finished_unix: u64) -> RunInfo {
        let machine = Machine::this();
        RunInfo {
            nodes,
            footer: format!(
                "{} · {} cores ({}), shared by the load generator, Redis, the dispatcher and the gateways",
                utc(finished_unix),
                machine.cores,
                machine.cpu_model
            ),
        }
    }
}

/// A result that can be drawn.
pub trait Charts {
    /// The charts of this result (none for scenarios without any, or without the data).
    fn charts(&self, run: &RunInfo) -> anyhow::Result<Vec<Chart>>;
}

/// Scenarios whose figures are single numbers: no chart.
macro_rules! no_charts {
    ($($t:ty),*) => {$(
        impl Charts for $t {
            fn charts(&self, _: &RunInfo) -> anyhow::Result<Vec<Chart>> {
                Ok(Vec::new())
            }
        }
    )*};
}
no_charts!(
    crate::scenario::ceiling::CeilingResult,
    crate::scenario::chat::ChatResult,
    crate::scenario::churn::ChurnResult,
    crate::scenario::silent::SilentResult,
    crate::scenario::flood::FloodResult
);

/// The plotting area of a chart of `size` once `draw` has put a title, a subtitle and the
/// footer around it; the SVG document as a string.
pub fn render(
    name: &str,
    title: &str,
    subtitle: &str,
    run: &RunInfo,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<Chart> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let area = root
            .margin(8, 4, 12, 12)
            .titled(title, (FONT, 20).into_font().style(FontStyle::Bold))?;
        let area = area.titled(subtitle, (FONT, 13).into_font().color(&BLACK.mix(0.7)))?;
        let (_, height) = area.dim_in_pixel();
        let (plot, foot) = area.split_vertically(height.saturating_sub(18));
        foot.draw_text(
            &run.footer,
            &(FONT, 11).into_font().color(&BLACK.mix(0.6)),
            (0, 4),
        )?;
        draw(&plot)?;
        root.present()?;
    }
    Ok(Chart {
        name: name.to_owned(),
        title: title.to_owned(),
        svg,
    })
}

/// The legend every chart uses: top left, on a white box.
pub fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(|e| anyhow::anyhow!("legend: {e}"))
}

/// A chart's plotting context, on the SVG backend every chart uses.
pub type Plot<'a, X, Y> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>;

/// Series `i`: a line through `data` with a dot on each point, named `label` in the legend.
pub fn dotted_series<X, Y>(
    chart: &mut Plot<'_, X, Y>,
    i: usize,
    label: &str,
    data: &[(f64, f64)],
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .draw_series(LineSeries::new(data.iter().copied(), line(i)))?
        .label(label)
        .legend(legend_line(line(i)));
    let dot = COLOURS[i % COLOURS.len()].filled();
    chart.draw_series(data.iter().map(|&p| Circle::new(p, 3, dot)))?;
    Ok(())
}

/// A dashed level at `y` from `x.0` to `x.1`, named `label` in the legend: a target or a limit.
pub fn level<X, Y>(
    chart: &mut Plot<'_, X, Y>,
    x: (f64, f64),
    y: f64,
    label: &str,
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let style = TARGET.stroke_width(1);
    chart
        .draw_series(DashedLineSeries::new([(x.0, y), (x.1, y)], 6, 4, style))?
        .label(label)
        .legend(legend_line(style));
    Ok(())
}

/// A series style: colour `i` of [`COLOURS`], 2 px.
pub fn line(i: usize) -> ShapeStyle {
    COLOURS[i % COLOURS.len()].stroke_width(2)
}

/// A legend entry for a line of `style`.
pub fn legend_line(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style)
}

/// `1.2M`, `400k`, `950`: a count or rate on an axis.
pub fn si(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    match v.abs() {
        a if a >= 1e6 => format!("{}M", trim(format!("{:.2}", v / 1e6))),
        a if a >= 1e3 => format!("{}k", trim(format!("{:.1}", v / 1e3))),
        _ => trim(format!("{v:.1}")),
    }
}

/// `15,000`.
pub fn thousands(n: u64) -> String {
    let reversed: Vec<char> = n.to_string().chars().rev().collect();
    let groups: Vec<String> = reversed
        .chunks(3)
        .rev()
        .map(|g| g.iter().rev().collect())
        .collect();
    groups.join(",")
}

/// A latency in milliseconds on a log axis: `0.5 ms`, `20 ms`, `1.5 s`.
pub fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{} s", si(v / 1000.0))
    } else if v >= 1.0 {
        format!("{v:.0} ms")
    } else {
        format!("{} ms", si(v))
    }
}

/// A range from 0 to a bit above `max` (and at least `floor`).
pub fn upto(max: f64, floor: f64) -> std::ops::Range<f64> {
    0.0..(max.max(floor) * 1.1)
}

/// Writes each chart to `dir/<name>.svg` (creating `dir`); returns the paths written.
pub fn write_svgs(dir: &Path, charts: &[Chart]) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    charts
        .iter()
        .map(|c| {
            let path = dir.join(format!("{}.svg", c.name));
            std::fs::write(&path, &c.svg).with_context(|| format!("write {}", path.display()))?;
            Ok(path)
        })
        .collect()
}

/// One HTML page: a heading, the command, the date and machine, the text summary, and every
/// chart inline. Self-contained: no script, no stylesheet or font fetched.
pub fn page(
    heading: &str,
    command: &[String],
    run: &RunInfo,
    summary: &str,
    charts: &[Chart],
) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>body{{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em}}\
         pre{{background:#f4f4f4;padding:.6em;white-space:pre-wrap}}svg{{max-width:100%;height:auto;\
         display:block;margin:1.5em 0}}</style>\n</head>\n<body>\n<h1>{}</h1>\n\
         <p><code>{}</code></p>\n<p>{}</p>\n<pre>{}</pre>\n",
        escape(heading),
        escape(heading),
        escape(&command.join(" ")),
        escape(&run.footer),
        escape(summary)
    );
    if charts.is_empty() {
        html.push_str("<p>This scenario has no charts.</p>\n");
    }
    for chart in charts {
        // Each chart carries its title; the SVG has no XML declaration, so it embeds as it is.
        let _ = writeln!(html, "<figure id=\"{}\">", escape(&chart.name));
        html.push_str(chart.svg.trim());
        html.push_str("\n</figure>\n");
    }
    html.push_str("</body>\n</html>\n");
    html
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `2026-12-07 04:10 UTC`.
fn utc(unix: u64) -> String {
    // Days to a civil date (Howard Hinnant's algorithm), proleptic Gregorian.
    let (days, secs) = ((unix / 86_400) as i64, unix % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// Writes `--svg DIR` and `--html PATH` for a finished run, if asked; prints what it wrote.
pub fn write(
    heading: &str,
    run: &RunInfo,
    summary: &str,
    charts: anyhow::Result<Vec<Chart>>,
    svg_dir: Option<&Path>,
    html: Option<&Path>,
) -> anyhow::Result<()> {
    if svg_dir.is_none() && html.is_none() {
        return Ok(());
    }
    let charts = charts.context("draw the charts")?;
    if let Some(dir) = svg_dir {
        if charts.is_empty() {
            println!(
                "no charts for this scenario: nothing written to {}",
                dir.display()
            );
        }
        for path in write_svgs(dir, &charts)? {
            println!("chart written to {}", path.display());
        }
    }
    if let Some(path) = html {
        let command: Vec<String> = std::env::args().collect();
        std::fs::write(path, page(heading, &command, run, summary, &charts))
            .with_context(|| format!("write {}", path.display()))?;
        println!("HTML report written to {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
pub mod testing {
    //! What every chart test checks: the SVG parses as XML, refers to nothing outside itself,
    //! and holds the texts and the number of drawn lines expected.

    /// Parses `svg` and returns its `<text>` contents and the number of `<polyline>` and
    /// `<path>` elements (lines and legend marks).
    pub fn check(svg: &str) -> (Vec<String>, usize) {
        let doc = roxmltree::Document::parse(svg).expect("the SVG is well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        // The namespace name is an identifier, never fetched; nothing else may point outside.
        let outside = svg.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        for needle in [
            "http:", "https:", "<script", "<image", "href", "@import", "url(",
        ] {
            assert!(!outside.contains(needle), "the SVG holds {needle}");
        }
        let texts = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or_default().trim().to_owned())
            .collect();
        let lines = doc
            .descendants()
            .filter(|n| n.has_tag_name("polyline") || n.has_tag_name("path"))
            .count();
        (texts, lines)
    }

    /// Asserts that every one of `wanted` is among `texts`.
    pub fn has_texts(texts: &[String], wanted: &[&str]) {
        for w in wanted {
            assert!(
                texts.iter().any(|t| t == w),
                "no text {w:?} in the chart; texts: {texts:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well_on_axes() {
        assert_eq!(si(1_200_000.0), "1.2M");
        assert_eq!(si(400_000.0), "400k");
        assert_eq!(si(1_500.0), "1.5k");
        assert_eq!(si(950.0), "950");
        assert_eq!(thousands(15_000), "15,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(950), "950");
        assert_eq!(ms(0.5), "0.5 ms");
        assert_eq!(ms(20.0), "20 ms");
        assert_eq!(ms(1500.0), "1.5 s");
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_796_613_000), "2026-12-07 03:10 UTC");
    }

    #[test]
    fn the_page_is_self_contained_and_escapes_the_summary() {
        let run = RunInfo {
            nodes: 2,
            footer: "a machine".into(),
        };
        let chart = render("c", "A <title>", "sub", &run, |_| Ok(())).expect("renders");
        let html = page(
            "loadgen idle",
            &["loadgen".into(), "--svg".into(), "x".into()],
            &run,
            "p99 < 1 s & more",
            &[chart],
        );
        assert!(html.contains("p99 &lt; 1 s &amp; more"));
        assert!(html.contains("<figure id=\"c\">\n<svg"));
        assert!(html.contains("A &lt;title&gt;") && !html.contains("A <title>"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("<?xml"));
    }
}
