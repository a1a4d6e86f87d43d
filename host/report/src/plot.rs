//! PNG plots with plotters and a bundled font (no fontconfig): an overlay
//! line plot of one metric over several runs or groups, with optional
//! min–max bands and labelled vertical markers (curriculum stage
//! boundaries), a grid of such plots in one figure, and a labelled heatmap
//! (e.g. accuracy per curriculum stage and operator group).

use std::path::Path;
use std::sync::Once;

use crate::error::{file, plotting, ReportError, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// DejaVu Sans (Bitstream Vera license, see assets/DejaVuSans-LICENSE.txt).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the bundled font as plotters' "sans-serif" once per process.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            tracing::warn!("the bundled plot font could not be registered; plots will have no text");
        }
    });
}

/// Ten distinguishable colours (matplotlib's tab10).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Viridis at `t` in [0, 1], interpolated between nine anchor colours.
pub fn viridis(t: f64) -> RGBColor {
    const ANCHORS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 45, 123),
        (59, 82, 139),
        (44, 114, 142),
        (33, 145, 140),
        (40, 174, 128),
        (94, 201, 98),
        (173, 220, 48),
        (253, 231, 37),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let pos = t * (ANCHORS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(ANCHORS.len() - 2);
    let f = pos - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The i-th colour of the palette (cycling).
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One line of a line plot.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub label: String,
    /// `(x, y)`, in x order.
    pub points: Vec<(f64, f64)>,
    /// `(x, low, high)` drawn as a shaded band (e.g. min–max over seeds); may be empty.
    pub band: Vec<(f64, f64, f64)>,
}

/// A vertical line at `x` with a short label, in the colour of series
/// `color` (e.g. where a run's curriculum stage begins).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub x: f64,
    pub label: String,
    pub color: usize,
}

/// An overlay line plot.
#[derive(Debug, Clone, Default)]
pub struct LinePlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Dashed vertical lines; a label is written once per distinct x.
    pub markers: Vec<Marker>,
}

/// Renders `plot` to a 960×600 PNG at `path` (written atomically).
pub fn line_plot(path: &Path, plot: &LinePlot) -> Result<()> {
    line_plot_sized(path, plot, (960, 600))
}

/// Renders `plot` to a PNG of `size` pixels at `path` (written atomically).
pub fn line_plot_sized(path: &Path, plot: &LinePlot, size: (u32, u32)) -> Result<()> {
    render(path, size, |root| draw_line_plot(root, plot))
}

/// Renders `plots` in a grid of `cols` columns, each panel `panel` pixels,
/// with a title over the whole figure (seed 001's summary figure).
pub fn line_plot_grid(
    path: &Path,
    title: &str,
    plots: &[LinePlot],
    cols: usize,
    panel: (u32, u32),
) -> Result<()> {
    if plots.is_empty() {
        return Err(ReportError::Plot("no plot to draw".into()));
    }
    let cols = cols.clamp(1, plots.len());
    let rows = plots.len().div_ceil(cols);
    let size = (panel.0 * cols as u32, panel.1 * rows as u32 + 40);
    render(path, size, |root| {
        let body = root.titled(title, ("sans-serif", 28)).map_err(plotting)?;
        for (area, plot) in body.split_evenly((rows, cols)).iter().zip(plots) {
            draw_line_plot(area, plot)?;
        }
        Ok(())
    })
}

fn draw_line_plot(root: &DrawingArea<BitMapBackend, Shift>, plot: &LinePlot) -> Result<()> {
    let xs = plot
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0).chain(s.band.iter().map(|b| b.0)))
        .chain(plot.markers.iter().map(|m| m.x));
    let ys = plot
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1).chain(s.band.iter().flat_map(|b| [b.1, b.2])));
    let (x0, x1) = padded_range(xs, 0.0);
    let (y0, y1) = padded_range(ys, 0.05);
    let mut chart = ChartBuilder::on(root)
        .caption(&plot.title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plotting)?;
    chart
        .configure_mesh()
        .x_desc(&plot.x_label)
        .y_desc(&plot.y_label)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(plotting)?;
    let mut labelled: Vec<f64> = Vec::new();
    for (i, m) in plot.markers.iter().enumerate() {
        let c = color(m.color);
        chart
            .draw_series(DashedLineSeries::new([(m.x, y0), (m.x, y1)], 6, 4, c.mix(0.55).stroke_width(1)))
            .map_err(plotting)?;
        if labelled.iter().any(|x| (x - m.x).abs() < 1e-9) {
            continue;
        }
        labelled.push(m.x);
        // Three label rows so that neighbouring stages do not overwrite each other.
        let y = y1 - (y1 - y0) * (0.03 + 0.05 * (i % 3) as f64);
        let style = ("sans-serif", 11).into_font().color(&c.mix(0.9));
        chart.draw_series(std::iter::once(Text::new(m.label.clone(), (m.x, y), style))).map_err(plotting)?;
    }
    for (i, s) in plot.series.iter().enumerate() {
        let c = color(i);
        if s.band.len() > 1 {
            let upper = s.band.iter().map(|b| (b.0, b.2));
            let lower = s.band.iter().rev().map(|b| (b.0, b.1));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    upper.chain(lower).collect::<Vec<_>>(),
                    c.mix(0.18),
                )))
                .map_err(plotting)?;
        }
        let line = chart
            .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
            .map_err(plotting)?;
        line.label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        if s.points.len() == 1 {
            chart.draw_series(std::iter::once(Circle::new(s.points[0], 4, c.filled()))).map_err(plotting)?;
        }
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(plotting)?;
    Ok(())
}

/// A heatmap: `values[row][col]` (None = no data, drawn grey) with row and
/// column labels and each cell's value printed in it.
#[derive(Debug, Clone)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub col_labels: Vec<String>,
    pub row_labels: Vec<String>,
    pub values: Vec<Vec<Option<f64>>>,
    /// The colour scale's range; None = the data's min and max.
    pub range: Option<(f64, f64)>,
}

/// Renders `map` to a PNG at `path` (written atomically).
pub fn heatmap(path: &Path, map: &Heatmap) -> Result<()> {
    heatmaps(path, std::slice::from_ref(map))
}

/// Renders several heatmaps side by side in one PNG (e.g. one per run).
pub fn heatmaps(path: &Path, maps: &[Heatmap]) -> Result<()> {
    if maps.is_empty() {
        return Err(ReportError::Plot("no heatmap to draw".into()));
    }
    let mut sizes = Vec::with_capacity(maps.len());
    for map in maps {
        sizes.push(heatmap_size(map)?);
    }
    let width = sizes.iter().map(|s| s.0).sum();
    let height = sizes.iter().map(|s| s.1).max().unwrap_or(320);
    render(path, (width, height), |root| {
        let mut rest = root.clone();
        for (map, size) in maps.iter().zip(&sizes) {
            let (left, right) = rest.split_horizontally(size.0);
            draw_heatmap(&left, map)?;
            rest = right;
        }
        Ok(())
    })
}

/// A heatmap's pixel size (checking its shape).
fn heatmap_size(map: &Heatmap) -> Result<(u32, u32)> {
    let rows = map.row_labels.len();
    let cols = map.col_labels.len();
    if rows == 0 || cols == 0 || map.values.len() != rows || map.values.iter().any(|r| r.len() != cols) {
        return Err(ReportError::Plot(format!(
            "heatmap '{}': values must be {rows} rows of {cols} columns",
            map.title
        )));
    }
    let label_width = map.row_labels.iter().map(|l| l.len()).max().unwrap_or(4) as u32 * 8 + 24;
    let width = (160 + label_width.min(320) + 130 * cols as u32).clamp(480, 2400);
    let height = (140 + 48 * rows as u32).clamp(320, 1800);
    Ok((width, height))
}

fn draw_heatmap(root: &DrawingArea<BitMapBackend, Shift>, map: &Heatmap) -> Result<()> {
    let rows = map.row_labels.len();
    let cols = map.col_labels.len();
    let (lo, hi) = map.range.unwrap_or_else(|| {
        let all = map.values.iter().flatten().flatten().copied();
        let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        if lo.is_finite() {
            (lo, hi)
        } else {
            (0.0, 1.0)
        }
    });
    let label_width = map.row_labels.iter().map(|l| l.len()).max().unwrap_or(4) as u32 * 8 + 24;
    {
        let mut chart = ChartBuilder::on(root)
            .caption(&map.title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(label_width.min(320))
            .build_cartesian_2d(0.0..cols as f64, 0.0..rows as f64)
            .map_err(plotting)?;
        let col_label = |x: &f64| label_at(&map.col_labels, *x);
        // Row 0 at the top.
        let row_label = |y: &f64| label_at(&map.row_labels, rows as f64 - y);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(cols * 2 + 1)
            .y_labels(rows * 2 + 1)
            .x_label_formatter(&col_label)
            .y_label_formatter(&row_label)
            .x_desc(&map.x_label)
            .y_desc(&map.y_label)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(plotting)?;
        for (r, row) in map.values.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let y = (rows - 1 - r) as f64;
                let x = c as f64;
                let fill = match v {
                    Some(v) => {
                        let t = if hi > lo { ((v - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 0.5 };
                        viridis(t).filled()
                    }
                    None => RGBColor(220, 220, 220).filled(),
                };
                chart
                    .draw_series(std::iter::once(Rectangle::new([(x, y), (x + 1.0, y + 1.0)], fill)))
                    .map_err(plotting)?;
                if let Some(v) = v {
                    let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                    let ink = if t > 0.6 { BLACK } else { WHITE };
                    let text = format_cell(*v);
                    let style = ("sans-serif", 14).into_font().color(&ink).pos(
                        plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Center,
                            plotters::style::text_anchor::VPos::Center,
                        ),
                    );
                    chart
                        .draw_series(std::iter::once(Text::new(text, (x + 0.5, y + 0.5), style)))
                        .map_err(plotting)?;
                }
            }
        }
        Ok(())
    }
}

/// The label of the cell whose centre is at `pos` (labels sit at i + 0.5).
fn label_at(labels: &[String], pos: f64) -> String {
    let i = (pos - 0.5).round();
    if (pos - (i + 0.5)).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
        labels[i as usize].clone()
    } else {
        String::new()
    }
}

fn format_cell(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// The min and max of `values`, widened by `pad` of the span (and to a
/// non-empty range when all values are equal or there are none).
fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let d = if lo.abs() > 1e-12 { lo.abs() * 0.1 } else { 1.0 };
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * pad;
    (lo - d, hi + d)
}

/// Draws into a bitmap at a temporary `.png` path, then renames it into place.
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<()>,
) -> Result<()> {
    register_font();
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(file("create", dir))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(plotting)?;
        draw(&root)?;
        root.present()
            .map_err(|e| ReportError::Draw { path: Some(path.to_path_buf()), message: e.to_string() })?;
    }
    std::fs::rename(&tmp, path).map_err(file("write", path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        (w, h)
    }

    #[test]
    fn line_plot_writes_a_png_with_bands_and_single_points() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acc.png");
        let plot = LinePlot {
            title: "val/acc".into(),
            x_label: "step".into(),
            y_label: "val/acc".into(),
            series: vec![
                Series {
                    label: "continual".into(),
                    points: vec![(0.0, 0.1), (10.0, 0.3), (20.0, 0.5)],
                    band: vec![(0.0, 0.05, 0.15), (10.0, 0.2, 0.4), (20.0, 0.45, 0.55)],
                },
                Series { label: "random".into(), points: vec![(20.0, 0.4)], band: vec![] },
            ],
            markers: vec![
                Marker { x: 0.0, label: "R1 plus".into(), color: 0 },
                Marker { x: 10.0, label: "R1 plus_minus".into(), color: 0 },
                Marker { x: 10.0, label: "R1 1".into(), color: 1 },
            ],
        };
        line_plot(&path, &plot).unwrap();
        assert_eq!(png_size(&path), (960, 600));
        let grid = dir.path().join("grid.png");
        line_plot_grid(&grid, "summary", &[plot.clone(), plot.clone(), plot], 2, (400, 300)).unwrap();
        assert_eq!(png_size(&grid), (800, 640));
        std::fs::remove_file(&grid).unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
    }

    #[test]
    fn heatmap_checks_its_shape_and_writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heat.png");
        let mut map = Heatmap {
            title: "accuracy by stage".into(),
            x_label: "evaluated group".into(),
            y_label: "after stage".into(),
            col_labels: vec!["plus".into(), "plus_minus".into()],
            row_labels: vec!["R1 plus".into(), "R1 plus_minus".into(), "R2 plus".into()],
            values: vec![vec![Some(0.5), None], vec![Some(0.4), Some(0.6)], vec![Some(0.7), Some(0.65)]],
            range: Some((0.0, 1.0)),
        };
        heatmap(&path, &map).unwrap();
        assert!(png_size(&path).0 >= 480);
        map.values.pop();
        let err = heatmap(&path, &map).unwrap_err().to_string();
        assert!(err.contains("3 rows of 2 columns"), "{err}");
    }

    #[test]
    fn heatmaps_of_several_runs_sit_side_by_side() {
        let dir = tempfile::tempdir().unwrap();
        let map = |title: &str| Heatmap {
            title: title.into(),
            x_label: "evaluated group".into(),
            y_label: "after stage".into(),
            col_labels: vec!["0".into(), "1".into(), "2".into(), "3".into()],
            row_labels: vec!["start".into(), "R1 0".into()],
            values: vec![vec![Some(0.1); 4], vec![Some(0.2), None, Some(0.3), Some(0.4)]],
            range: Some((0.0, 1.0)),
        };
        let one = dir.path().join("one.png");
        let two = dir.path().join("two.png");
        heatmap(&one, &map("continual")).unwrap();
        heatmaps(&two, &[map("continual"), map("random")]).unwrap();
        let (w1, h1) = png_size(&one);
        assert_eq!(png_size(&two), (2 * w1, h1));
        assert!(heatmaps(&two, &[]).is_err());
    }

    #[test]
    fn ranges_never_collapse() {
        assert_eq!(padded_range([].into_iter(), 0.05), (0.0, 1.0));
        let (lo, hi) = padded_range([2.0, 2.0].into_iter(), 0.05);
        assert!(lo < 2.0 && hi > 2.0);
        let (lo, hi) = padded_range([0.0, 1.0, f64::NAN].into_iter(), 0.1);
        assert!((lo + 0.1).abs() < 1e-12 && (hi - 1.1).abs() < 1e-12);
    }
}
