//! Line plots for loss and accuracy curves, drawn pixel by pixel (axes, grid, tick labels, legend
//! with the 3x5 font) and saved as PNG. Deliberately small: enough to see a run at a glance.

use super::font::{draw_text, text_width};
use super::grid::save_png;
use image::{Rgb, RgbImage};
use std::path::Path;

pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

const COLORS: [[u8; 3]; 6] =
    [[31, 119, 180], [214, 39, 40], [44, 160, 44], [255, 127, 14], [148, 103, 189], [23, 190, 207]];
const W: usize = 640;
const H: usize = 400;
const LEFT: usize = 70;
const RIGHT: usize = 20;
const TOP: usize = 40;
const BOTTOM: usize = 40;

fn label(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-2) {
        format!("{v:.1e}")
    } else {
        format!("{v:.3}")
    }
}

/// Draws `series` into a PNG at `path`, titled `title`, with x and y ranges fitted to the data.
pub fn save_line_plot(title: &str, x_label: &str, series: &[Series], path: &Path) -> Result<(), String> {
    let pts = series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return Err(format!("{}: nothing to plot", path.display()));
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-12 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    let mut img = RgbImage::from_pixel(W as u32, H as u32, Rgb([255, 255, 255]));
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let to_px = |x: f64, y: f64| -> (i64, i64) {
        let px = LEFT as f64 + (x - x0) / (x1 - x0) * pw as f64;
        let py = (TOP + ph) as f64 - (y - y0) / (y1 - y0) * ph as f64;
        (px.round() as i64, py.round() as i64)
    };
    let put = |img: &mut RgbImage, x: i64, y: i64, c: [u8; 3]| {
        if x >= 0 && y >= 0 && (x as usize) < W && (y as usize) < H {
            img.put_pixel(x as u32, y as u32, Rgb(c));
        }
    };
    for k in 0..=4 {
        let yv = y0 + (y1 - y0) * k as f64 / 4.0;
        let (_, py) = to_px(x0, yv);
        for x in LEFT..LEFT + pw {
            put(&mut img, x as i64, py, if k == 0 { [0, 0, 0] } else { [225, 225, 225] });
        }
        let text = label(yv);
        let tx = LEFT.saturating_sub(text_width(&text, 1) + 6);
        draw_text(&text, tx, (py - 2).max(0) as usize, 1, &mut |x, y| put(&mut img, x as i64, y as i64, [0, 0, 0]));
    }
    for y in TOP..=TOP + ph {
        put(&mut img, LEFT as i64, y as i64, [0, 0, 0]);
    }
    for (xv, align_right) in [(x0, false), (x1, true)] {
        let text = label(xv);
        let (px, _) = to_px(xv, y0);
        let tx = if align_right { (px as usize).saturating_sub(text_width(&text, 1)) } else { px as usize };
        draw_text(&text, tx, TOP + ph + 6, 1, &mut |x, y| put(&mut img, x as i64, y as i64, [0, 0, 0]));
    }
    draw_text(x_label, LEFT + pw / 2 - text_width(x_label, 1) / 2, TOP + ph + 20, 1, &mut |x, y| {
        put(&mut img, x as i64, y as i64, [0, 0, 0])
    });
    draw_text(title, LEFT, 12, 2, &mut |x, y| put(&mut img, x as i64, y as i64, [0, 0, 0]));
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let ly = TOP + 6 + i * 12;
        let lx = W - RIGHT - 10 - text_width(&s.name, 1) - 18;
        for dx in 0..12 {
            for dy in 0..2 {
                put(&mut img, (lx + dx) as i64, (ly + 2 + dy) as i64, color);
            }
        }
        draw_text(&s.name, lx + 16, ly, 1, &mut |x, y| put(&mut img, x as i64, y as i64, [0, 0, 0]));
        let pts: Vec<(i64, i64)> =
            s.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()).map(|&(x, y)| to_px(x, y)).collect();
        for seg in pts.windows(2) {
            line(seg[0], seg[1], &mut |x, y| {
                put(&mut img, x, y, color);
                put(&mut img, x, y + 1, color);
            });
        }
        if pts.len() == 1 {
            put(&mut img, pts[0].0, pts[0].1, color);
        }
    }
    save_png(&img, path)
}

/// Bresenham's line from `a` to `b`.
fn line(a: (i64, i64), b: (i64, i64), plot: &mut impl FnMut(i64, i64)) {
    let (mut x, mut y) = a;
    let (dx, dy) = ((b.0 - x).abs(), -(b.1 - y).abs());
    let (sx, sy) = (if x < b.0 { 1 } else { -1 }, if y < b.1 { 1 } else { -1 });
    let mut err = dx + dy;
    loop {
        plot(x, y);
        if (x, y) == b {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_writes_a_png_with_the_series_colour() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let s =
            Series { name: "train loss".into(), points: (0..10).map(|i| (i as f64, 1.0 / (i + 1) as f64)).collect() };
        save_line_plot("loss", "epoch", &[s], &path).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (W as u32, H as u32));
        assert!(img.pixels().any(|p| p.0 == COLORS[0]));
        assert!(save_line_plot("empty", "x", &[], &path).is_err());
    }
}
