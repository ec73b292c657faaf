//! `defivm bench --plot`: the measurements as an SVG picture. Left, each
//! parallel mode's speedup over plain revm against hotness, with the bound
//! `min(threads, T1 / critical path)` dashed; right, tx/s of every
//! contender against hotness.

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// One block's results.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    /// Its hotness.
    pub(crate) hot: f64,
    /// The speedup bound of its schedule.
    pub(crate) bound: f64,
    /// Plain revm's throughput.
    pub(crate) plain_tps: f64,
    /// Each parallel mode's throughput.
    pub(crate) modes: Vec<(&'static str, f64)>,
}

const FONT: &str = "sans-serif";

fn color(series: &str) -> RGBColor {
    match series {
        "plain revm" => RGBColor(90, 90, 90),
        "waves" => RGBColor(31, 119, 180),
        "dag" => RGBColor(214, 39, 40),
        _ => RGBColor(44, 160, 44),
    }
}

/// Draws `points` (any order) into an SVG file at `path`.
pub(crate) fn render(path: &Path, title: &str, points: &[Point]) -> Result<(), String> {
    let mut points = points.to_vec();
    points.sort_by(|a, b| a.hot.total_cmp(&b.hot));
    let root = SVGBackend::new(path, (1100, 460)).into_drawing_area();
    draw(&root, title, &points).map_err(|e| format!("drawing {}: {e}", path.display()))?;
    root.present().map_err(|e| format!("writing {}: {e}", path.display()))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Failure<'a> = DrawingAreaErrorKind<<SVGBackend<'a> as DrawingBackend>::ErrorType>;

fn draw<'a>(root: &Area<'a>, title: &str, points: &[Point]) -> Result<(), Failure<'a>> {
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 20))?;
    let (left, right) = root.split_horizontally(550);
    let (lo, hi) = match (points.first(), points.last()) {
        (Some(first), Some(last)) if last.hot > first.hot => (first.hot, last.hot),
        (Some(only), _) => (only.hot - 0.05, only.hot + 0.05),
        _ => (0.0, 1.0),
    };
    let names: Vec<&'static str> = points.first().map(|p| p.modes.iter().map(|m| m.0).collect()).unwrap_or_default();

    let top =
        points.iter().flat_map(|p| p.modes.iter().map(|m| m.1 / p.plain_tps).chain([p.bound])).fold(1.0f64, f64::max);
    let mut chart = ChartBuilder::on(&left)
        .caption("speedup over plain revm", (FONT, 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(lo..hi, 0.0..top * 1.15)?;
    chart.configure_mesh().x_desc("hot (share of txs on the hottest target)").y_desc("speedup").draw()?;
    let bound = color("bound");
    chart
        .draw_series(DashedLineSeries::new(points.iter().map(|p| (p.hot, p.bound)), 6, 4, bound.stroke_width(2)))?
        .label("bound min(threads, T1/critical path)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], bound.stroke_width(2)));
    chart.draw_series(LineSeries::new([(lo, 1.0), (hi, 1.0)], BLACK.mix(0.4)))?;
    for (i, name) in names.iter().enumerate() {
        let c = color(name);
        let series: Vec<(f64, f64)> = points.iter().map(|p| (p.hot, p.modes[i].1 / p.plain_tps)).collect();
        chart
            .draw_series(LineSeries::new(series.clone(), c.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(series.into_iter().map(|xy| Circle::new(xy, 4, c.filled())))?;
    }
    chart.configure_series_labels().position(SeriesLabelPosition::LowerLeft).border_style(BLACK).draw()?;

    let top = points.iter().flat_map(|p| p.modes.iter().map(|m| m.1).chain([p.plain_tps])).fold(1.0f64, f64::max);
    let mut chart = ChartBuilder::on(&right)
        .caption("throughput (tx/s)", (FONT, 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..hi, 0.0..top * 1.15)?;
    chart
        .configure_mesh()
        .x_desc("hot (share of txs on the hottest target)")
        .y_label_formatter(&|v| format!("{:.0}k", v / 1e3))
        .draw()?;
    let mut series: Vec<(&str, Vec<(f64, f64)>)> =
        vec![("plain revm", points.iter().map(|p| (p.hot, p.plain_tps)).collect())];
    series.extend(
        names.iter().enumerate().map(|(i, name)| (*name, points.iter().map(|p| (p.hot, p.modes[i].1)).collect())),
    );
    for (name, values) in series {
        let c = color(name);
        chart
            .draw_series(LineSeries::new(values.clone(), c.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(values.into_iter().map(|xy| Circle::new(xy, 4, c.filled())))?;
    }
    chart.configure_series_labels().position(SeriesLabelPosition::UpperRight).border_style(BLACK).draw()?;
    Ok(())
}
