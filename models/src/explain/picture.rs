//! Attribution pictures: per image a row of three tiles, the input | its heat map | the heat map
//! over the input in grey, enlarged with square pixels, and a caption (label, prediction and
//! confidence, target, completeness delta), laid out by `train::tiles`. Signed attributions use a
//! diverging map (red: for the target, blue: against), unsigned ones red only; each map is scaled
//! to its own 99th percentile of |value| (Captum clips the top 2%; one hot pixel would otherwise
//! wash out the rest). Also the colour maps `html.rs` and `text.rs` shade with. Drawing only.

use super::rank::quantile;
use crate::train::{pixel_colours, save_png, tile_rows, TileLayout, TileRow};
use image::RgbImage;
use std::path::Path;

/// Blue (-1) through white (0) to red (+1); values outside are clipped.
pub fn diverging(v: f64) -> [u8; 3] {
    let v = if v.is_finite() { v.clamp(-1.0, 1.0) } else { 0.0 };
    let towards = if v >= 0.0 { [214.0, 39.0, 40.0] } else { [31.0, 119.0, 180.0] };
    let a = v.abs();
    towards.map(|c: f64| (255.0 + (c - 255.0) * a).round() as u8)
}

/// One image to show: its pixels `[C, H, W]` in [0, 1], its attribution per pixel `[H * W]`
/// (summed over channels), and the caption lines.
pub struct Panel {
    pub pixels: Vec<f32>,
    pub map: Vec<f64>,
    pub caption: Vec<String>,
}

/// The grid of `panels` (each `[channels, h, w]`); `title` heads it, `signed` picks the colour map.
pub fn explanation_grid(panels: &[Panel], dims: [usize; 3], signed: bool, title: &str) -> Result<RgbImage, String> {
    let [c, h, w] = dims;
    if panels.is_empty() || !(c == 1 || c == 3) || h == 0 || w == 0 {
        return Err(format!("explanation grid: {} images of {c}x{h}x{w} (1 or 3 channels)", panels.len()));
    }
    if let Some(p) = panels.iter().find(|p| p.pixels.len() != c * h * w || p.map.len() != h * w) {
        return Err(format!(
            "explanation grid: {} pixels and {} map values for {c}x{h}x{w}",
            p.pixels.len(),
            p.map.len()
        ));
    }
    let rows: Vec<TileRow> = panels.iter().map(|p| panel_tiles(p, c, [h, w], signed)).collect();
    let layout = TileLayout {
        hw: [h, w],
        tile_side: 128,
        headers: &["input", "attribution", "overlay"],
        title,
        caption_width: 330,
    };
    tile_rows(&rows, &layout)
}

/// One panel's three tiles: the input, its heat map (scaled to its own 99th percentile of |value|),
/// and the heat map over the input in grey.
fn panel_tiles(p: &Panel, channels: usize, hw: [usize; 2], signed: bool) -> TileRow {
    let scale = {
        let abs: Vec<f64> = p.map.iter().map(|v| v.abs()).collect();
        let q = quantile(&abs, 0.99);
        if q > 0.0 && q.is_finite() {
            q
        } else {
            1.0
        }
    };
    let input = pixel_colours(&p.pixels, channels, hw);
    let (mut heat, mut over) = (Vec::with_capacity(input.len()), Vec::with_capacity(input.len()));
    for (rgb, &m) in input.iter().zip(&p.map) {
        let grey = (0.299 * rgb[0] as f32 + 0.587 * rgb[1] as f32 + 0.114 * rgb[2] as f32) / 255.0;
        let v = m / scale;
        let colour = diverging(if signed { v } else { v.abs() });
        let alpha = v.abs().min(1.0) as f32 * 0.85;
        heat.push(colour);
        over.push([0, 1, 2].map(|i| ((1.0 - alpha) * grey * 255.0 + alpha * colour[i] as f32).round() as u8));
    }
    TileRow { tiles: vec![input, heat, over], caption: p.caption.clone() }
}

/// Draws the grid and writes it to `path` as PNG.
pub fn save_explanation_grid(
    panels: &[Panel],
    dims: [usize; 3],
    signed: bool,
    title: &str,
    path: &Path,
) -> Result<(), String> {
    save_png(&explanation_grid(panels, dims, signed, title)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{GAP, HEADER, LINE, MARGIN};

    #[test]
    fn colours_run_blue_white_red() {
        assert_eq!(diverging(0.0), [255, 255, 255]);
        assert_eq!(diverging(1.0), [214, 39, 40]);
        assert_eq!(diverging(-3.0), [31, 119, 180], "clipped");
        assert_eq!(diverging(f64::NAN), [255, 255, 255]);
    }

    #[test]
    fn a_grid_has_three_enlarged_tiles_per_image_and_a_caption() {
        // Two 2x2 grey images; the first map is hot in its top-left pixel only.
        let panel =
            |v: f64| Panel { pixels: vec![0.5; 4], map: vec![v, 0.0, 0.0, 0.0], caption: vec!["label 1".into()] };
        let img = explanation_grid(&[panel(1.0), panel(-1.0)], [1, 2, 2], true, "ig").unwrap();
        let zoom = 64;
        let row_h = 2 * zoom + GAP;
        assert_eq!(img.height(), HEADER + MARGIN + 2 * row_h);
        let heat = |row: u32, px: u32, py: u32| {
            img.get_pixel(MARGIN + 2 * zoom + GAP + px * zoom + 3, HEADER + row * row_h + py * zoom + 3).0
        };
        assert_eq!(heat(0, 0, 0), diverging(1.0), "top-left of the first map is red");
        assert_eq!(heat(1, 0, 0), diverging(-1.0), "and of the second blue");
        assert_eq!(heat(0, 1, 1), [255, 255, 255], "zero is white");
        let caption_x = MARGIN + 3 * (2 * zoom + GAP);
        let dark = (caption_x..img.width())
            .flat_map(|x| (HEADER..HEADER + LINE).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128)
            .count();
        assert!(dark > 10, "the caption is drawn");
        assert!(explanation_grid(&[], [1, 2, 2], true, "ig").is_err());
        assert!(explanation_grid(&[panel(1.0)], [3, 2, 2], true, "ig").is_err());
    }
}
