//! Line charts (loss and accuracy curves, and any later "metric vs x" picture) drawn by `plotters`:
//! PNG through its bitmap backend with the embedded DejaVu Sans (so no system font is needed) and
//! SVG through its SVG backend. This file only decides the layout: round ticks from `ticks.rs`,
//! axis titles with units, one colour per series (dashed for training-set curves), and the legend
//! in a strip below the plot so it never covers a curve. It must not know what a model is.

use super::grid::save_png;
use super::ticks::Ticks;
use crate::data::fsutil::atomic_write;
use image::RgbImage;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::OnceLock;

/// DejaVu Sans (Bitstream Vera licence, `models/assets/fonts/LICENSE-DejaVu.txt`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family name the embedded font is registered under (text on pictures drawn elsewhere too).
pub(crate) const FAMILY: &str = "sans-serif";

/// The size kiln's charts are drawn at (pixels; the SVG's user units).
pub const CHART_SIZE: (u32, u32) = (800, 500);

/// Tableau's ten colours: distinct for most colour-blind readers.
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

/// One curve: named points, drawn solid or dashed.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
}

/// A chart: title, axis titles (with units), and its curves.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Whole-number x ticks only (epochs, steps).
    pub integer_x: bool,
    pub series: Vec<Series>,
}

/// A series' index (its colour), the series, and its finite points.
type Finite<'a> = (usize, &'a Series, Vec<(f64, f64)>);

fn err(e: impl std::fmt::Display) -> String {
    format!("chart: {e}")
}

/// Registers the embedded font with plotters, once; every picture with text calls it first.
pub(crate) fn register_font() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .map_err(|_| "chart: the embedded DejaVu Sans did not parse".to_string())
    })
    .clone()
}

impl Chart {
    /// The finite points of every series; an error when there are none.
    fn finite_series(&self) -> Result<Vec<Finite<'_>>, String> {
        let out: Vec<_> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s, s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect()))
            .filter(|(_, _, p): &Finite| !p.is_empty())
            .collect();
        if out.is_empty() {
            return Err(format!("chart `{}`: nothing to plot", self.title));
        }
        Ok(out)
    }

    /// The chart as an SVG document of `size` user units.
    pub fn to_svg(&self, size: (u32, u32)) -> Result<String, String> {
        register_font()?;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(err)?;
        }
        Ok(svg)
    }

    /// The chart as an RGB picture of `size` pixels.
    pub fn to_png(&self, size: (u32, u32)) -> Result<RgbImage, String> {
        register_font()?;
        let len = (size.0 as usize).checked_mul(size.1 as usize).and_then(|n| n.checked_mul(3));
        let mut buf = vec![255u8; len.ok_or_else(|| err(format!("{}x{} is too large", size.0, size.1)))?];
        {
            let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(err)?;
        }
        RgbImage::from_raw(size.0, size.1, buf).ok_or_else(|| err("bitmap buffer has the wrong length"))
    }

    /// Writes the chart to `path` atomically, as PNG or SVG by the file's extension.
    pub fn save(&self, path: &Path, size: (u32, u32)) -> Result<(), String> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("png") => save_png(&self.to_png(size)?, path),
            Some("svg") => atomic_write(path, self.to_svg(size)?.as_bytes()).map_err(|e| e.to_string()),
            _ => Err(format!("{}: charts are written as .png or .svg", path.display())),
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let series = self.finite_series()?;
        let all = || series.iter().flat_map(|(_, _, p)| p.iter());
        let (x0, x1) = all().fold((f64::MAX, f64::MIN), |(a, b), &(x, _)| (a.min(x), b.max(x)));
        let (y0, y1) = all().fold((f64::MAX, f64::MIN), |(a, b), &(_, y)| (a.min(y), b.max(y)));
        let (xt, yt) = (Ticks::new(x0, x1, 10, self.integer_x), Ticks::new(y0, y1, 8, false));

        root.fill(&WHITE).map_err(err)?;
        let body = root.titled(&self.title, (FAMILY, 22)).map_err(err)?;
        let legend_font: TextStyle = (FAMILY, 15).into();
        let names: Vec<&str> = series.iter().map(|(_, s, _)| s.name.as_str()).collect();
        let layout = legend_layout(&body, &names, &legend_font)?;
        let (_, body_h) = body.dim_in_pixel();
        let (plot, legend) = body.split_vertically(body_h.saturating_sub(layout.height));

        let mut chart = ChartBuilder::on(&plot)
            .margin(10)
            .margin_right(28)
            .x_label_area_size(50)
            .y_label_area_size(76)
            .build_cartesian_2d(TickAxis::new(&xt), TickAxis::new(&yt))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&|v| xt.label(*v))
            .y_label_formatter(&|v| yt.label(*v))
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 16))
            .bold_line_style(RGBColor(225, 225, 225))
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        for (i, s, points) in &series {
            let style = PALETTE[i % PALETTE.len()].stroke_width(2);
            if s.dashed {
                chart.draw_series(DashedLineSeries::new(points.clone(), 8, 5, style)).map_err(err)?;
            } else {
                chart.draw_series(LineSeries::new(points.clone(), style)).map_err(err)?;
            }
            // Markers show where the measurements are (and a one-epoch run as a dot).
            if points.len() <= 40 {
                let marker = PALETTE[i % PALETTE.len()].filled();
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, marker))).map_err(err)?;
            }
        }
        for ((i, s, _), &(x, y)) in series.iter().zip(&layout.positions) {
            let style = PALETTE[i % PALETTE.len()].stroke_width(2);
            let mid = y + LEGEND_ROW as i32 / 2;
            let segments: &[(i32, i32)] = if s.dashed { &[(0, 9), (15, 24)] } else { &[(0, 24)] };
            for &(a, b) in segments {
                legend.draw(&PathElement::new(vec![(x + a, mid), (x + b, mid)], style)).map_err(err)?;
            }
            let text = Text::new(s.name.clone(), (x + 30, mid), legend_font.pos(Pos::new(HPos::Left, VPos::Center)));
            legend.draw(&text).map_err(err)?;
        }
        Ok(())
    }
}

const LEGEND_ROW: u32 = 22;

/// A linear f64 axis whose only marks are our ticks. (plotters' own `with_key_points` wrapper
/// drops the f64 axis's label formatting, which `configure_mesh` needs even when we format.)
struct TickAxis(WithKeyPoints<RangedCoordf64>);

impl TickAxis {
    fn new(t: &Ticks) -> TickAxis {
        TickAxis((t.lo..t.hi).with_key_points(t.values.clone()))
    }
}

impl Ranged for TickAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.0.map(value, limit)
    }
    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        self.0.key_points(hint)
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.0.range()
    }
}

/// Where each legend entry goes in the strip below the plot: left to right, wrapping into rows.
struct LegendLayout {
    height: u32,
    positions: Vec<(i32, i32)>,
}

fn legend_layout<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    names: &[&str],
    font: &TextStyle,
) -> Result<LegendLayout, String> {
    let (width, _) = area.dim_in_pixel();
    let (left, right) = (86i32, width as i32 - 20);
    let (mut x, mut row, mut positions) = (left, 0i32, Vec::new());
    for name in names {
        let (text_w, _) = area.estimate_text_size(name, font).map_err(err)?;
        let entry = 30 + text_w as i32 + 26;
        if x > left && x + entry > right {
            (x, row) = (left, row + 1);
        }
        positions.push((x, row * LEGEND_ROW as i32 + 4));
        x += entry;
    }
    Ok(LegendLayout { height: (row as u32 + 1) * LEGEND_ROW + 10, positions })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curves(n: usize, runs: usize) -> Chart {
        let series = (0..runs)
            .flat_map(|r| {
                let f = move |i: usize, k: f64| (i as f64 + 1.0, k / (i as f64 + 1.0 + r as f64));
                [
                    Series {
                        name: format!("run {r} <train> loss"),
                        points: (0..n).map(|i| f(i, 1.0)).collect(),
                        dashed: true,
                    },
                    Series {
                        name: format!("run {r} test loss"),
                        points: (0..n).map(|i| f(i, 1.2)).collect(),
                        dashed: false,
                    },
                ]
            })
            .collect();
        Chart { title: "loss".into(), x_label: "epoch".into(), y_label: "loss (nats)".into(), integer_x: true, series }
    }

    #[test]
    fn png_has_the_size_and_the_series_colours() {
        let img = curves(10, 1).to_png(CHART_SIZE).unwrap();
        assert_eq!(img.dimensions(), CHART_SIZE);
        assert!(img.pixels().any(|p| p.0 == [31, 119, 180]));
        assert!(img.pixels().any(|p| p.0 == [255, 127, 14]));
        // Text is drawn with the embedded font: dark anti-aliased pixels exist beyond the curves.
        assert!(img.pixels().filter(|p| p.0.iter().all(|&c| c < 60)).count() > 500);
    }

    #[test]
    fn files_decode_with_the_expected_size() {
        let dir = tempfile::tempdir().unwrap();
        let chart = curves(40, 3);
        chart.save(&dir.path().join("c.png"), (640, 400)).unwrap();
        let back = image::open(dir.path().join("c.png")).unwrap();
        assert_eq!((back.width(), back.height()), (640, 400));
        chart.save(&dir.path().join("c.svg"), CHART_SIZE).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("c.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains(r#"width="800""#) && svg.contains(r#"height="500""#));
        assert!(svg.contains("run 2 &lt;train&gt; loss") && !svg.contains("<train>"));
        let texts: Vec<&str> = svg.lines().map(str::trim).collect();
        assert!(texts.contains(&"40") && texts.contains(&"5") && !texts.contains(&"40.0"), "integer epoch ticks");
        assert!(texts.contains(&"0.2") && texts.contains(&"epoch") && texts.contains(&"loss (nats)"));
        assert!(chart.save(&dir.path().join("c.gif"), CHART_SIZE).is_err());
    }

    #[test]
    fn empty_and_non_finite_charts_are_errors() {
        let mut chart = curves(0, 1);
        assert!(chart.to_png(CHART_SIZE).unwrap_err().contains("nothing to plot"));
        chart.series[0].points = vec![(1.0, f64::NAN)];
        assert!(chart.to_svg(CHART_SIZE).is_err());
        chart.series[0].points = vec![(1.0, 0.5)];
        assert!(chart.to_svg(CHART_SIZE).is_ok(), "one point is a dot");
    }

    #[test]
    fn legend_sits_below_the_plot() {
        // The legend strip grows with the entries, and no entry starts inside the plot.
        let img = curves(5, 5).to_png(CHART_SIZE).unwrap();
        assert_eq!(img.dimensions(), CHART_SIZE);
        let mut pixels = vec![0u8; 800 * 500 * 3];
        let area = BitMapBackend::with_buffer(&mut pixels, CHART_SIZE).into_drawing_area();
        register_font().unwrap();
        let font: TextStyle = (FAMILY, 15).into();
        let names: Vec<String> = (0..10).map(|i| format!("a fairly long run name {i}")).collect();
        let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        let one = legend_layout(&area, &names[..1], &font).unwrap();
        let many = legend_layout(&area, &names, &font).unwrap();
        assert!(many.height > one.height);
        assert!(many.positions.iter().all(|&(x, _)| (86..800).contains(&x)));
    }
}
