//! Captioned rows of picture tiles: per row a few equally sized images (already coloured), enlarged
//! with square pixels, and caption lines beside them, under column headers and a title, drawn with
//! the embedded font. Attribution grids (input | heat map | overlay) and attack strips (clean |
//! perturbation | adversarial) are both this picture; what goes in a tile is the caller's. Drawing
//! only: it must not compute colours from data.

use super::chart::{register_font, FAMILY};
use super::grid::save_png;
use image::{Rgb, RgbImage};
use plotters::prelude::*;
use std::path::Path;

/// One row: its tiles (each `h * w` RGB colours, row-major) and the caption lines beside them.
pub struct TileRow {
    pub tiles: Vec<Vec<[u8; 3]>>,
    pub caption: Vec<String>,
}

/// The picture's frame: tile size, how large a tile is drawn, the column headers and the title.
pub struct TileLayout<'a> {
    /// Tile height and width in source pixels.
    pub hw: [usize; 2],
    /// The longer side of a tile on the picture, in pixels (source pixels are enlarged to fit).
    pub tile_side: usize,
    /// One header per tile column.
    pub headers: &'a [&'a str],
    pub title: &'a str,
    /// Width of the caption column in pixels.
    pub caption_width: u32,
}

pub const MARGIN: u32 = 8;
pub const GAP: u32 = 6;
pub const HEADER: u32 = 26;
pub const LINE: u32 = 17;

impl TileLayout<'_> {
    /// How many times each source pixel is enlarged.
    pub fn zoom(&self) -> u32 {
        (self.tile_side / self.hw[0].max(self.hw[1]).max(1)).max(1) as u32
    }

    /// The height of one row for captions of `lines` lines.
    pub fn row_height(&self, lines: usize) -> u32 {
        (self.hw[0] as u32 * self.zoom()).max(lines as u32 * LINE) + GAP
    }
}

/// Draws `rows` in `layout`.
pub fn tile_rows(rows: &[TileRow], layout: &TileLayout) -> Result<RgbImage, String> {
    let [h, w] = layout.hw;
    let columns = layout.headers.len();
    if rows.is_empty() || h == 0 || w == 0 || columns == 0 {
        return Err(format!("tile rows: {} rows of {columns} {h}x{w} tiles", rows.len()));
    }
    if let Some(r) = rows.iter().find(|r| r.tiles.len() != columns || r.tiles.iter().any(|t| t.len() != h * w)) {
        return Err(format!("tile rows: a row of {} tiles for {columns} columns of {h}x{w}", r.tiles.len()));
    }
    let zoom = layout.zoom();
    let (tw, th) = (w as u32 * zoom, h as u32 * zoom);
    let lines = rows.iter().map(|r| r.caption.len()).max().unwrap_or(0);
    let row_h = layout.row_height(lines);
    let text_x = MARGIN + columns as u32 * (tw + GAP);
    let width = text_x + layout.caption_width + MARGIN;
    let height = HEADER + MARGIN + rows.len() as u32 * row_h;
    let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    debug_assert!(th <= row_h);
    for (r, row) in rows.iter().enumerate() {
        let y0 = HEADER + r as u32 * row_h;
        for (t, tile) in row.tiles.iter().enumerate() {
            let x0 = MARGIN + t as u32 * (tw + GAP);
            for (i, colour) in tile.iter().enumerate() {
                let (x, y) = (x0 + (i % w) as u32 * zoom, y0 + (i / w) as u32 * zoom);
                for dy in 0..zoom {
                    for dx in 0..zoom {
                        img.put_pixel(x + dx, y + dy, Rgb(*colour));
                    }
                }
            }
        }
    }
    draw_text(img, |area| {
        let font = (FAMILY, 14).into_font();
        let put = |line: &str, x: u32, y: u32| {
            area.draw(&Text::new(line.to_string(), (x as i32, y as i32), font.clone())).map_err(|e| e.to_string())
        };
        for (i, t) in layout.headers.iter().enumerate() {
            put(t, MARGIN + i as u32 * (tw + GAP), 6)?;
        }
        put(layout.title, text_x, 6)?;
        for (r, row) in rows.iter().enumerate() {
            for (k, line) in row.caption.iter().enumerate() {
                put(line, text_x, HEADER + r as u32 * row_h + k as u32 * LINE)?;
            }
        }
        Ok(())
    })
}

/// Draws the rows and writes them to `path` as PNG.
pub fn save_tile_rows(rows: &[TileRow], layout: &TileLayout, path: &Path) -> Result<(), String> {
    save_png(&tile_rows(rows, layout)?, path)
}

/// Draws text onto `img` with plotters' bitmap backend and the embedded font.
fn draw_text(
    img: RgbImage,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<RgbImage, String> {
    register_font()?;
    let (w, h) = img.dimensions();
    let mut buf = img.into_raw();
    {
        let area = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(&area).map_err(|e| format!("tile rows: {e}"))?;
        area.present().map_err(|e| format!("tile rows: {e}"))?;
    }
    RgbImage::from_raw(w, h, buf).ok_or_else(|| "tile rows: the bitmap changed size".to_string())
}

/// Grey or RGB pixels `[C, H, W]` in [0, 1] as tile colours (values outside are clipped).
pub fn pixel_colours(pixels: &[f32], channels: usize, hw: [usize; 2]) -> Vec<[u8; 3]> {
    let plane = hw[0] * hw[1];
    let at = |ch: usize, i: usize| (pixels[ch * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8;
    (0..plane).map(|i| if channels == 1 { [at(0, i); 3] } else { [at(0, i), at(1, i), at(2, i)] }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_place_enlarged_tiles_and_draw_captions() {
        let red = vec![[255, 0, 0]; 4];
        let blue = vec![[0, 0, 255]; 4];
        let rows = [
            TileRow { tiles: vec![red.clone(), blue.clone()], caption: vec!["first".into()] },
            TileRow { tiles: vec![blue.clone(), red.clone()], caption: vec!["second".into(), "two lines".into()] },
        ];
        let layout = TileLayout { hw: [2, 2], tile_side: 40, headers: &["a", "b"], title: "t", caption_width: 100 };
        let img = tile_rows(&rows, &layout).unwrap();
        let (zoom, row_h) = (20, layout.row_height(2));
        assert_eq!(img.width(), MARGIN + 2 * (2 * zoom + GAP) + 100 + MARGIN);
        assert_eq!(img.height(), HEADER + MARGIN + 2 * row_h);
        assert_eq!(img.get_pixel(MARGIN + 3, HEADER + 3).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(MARGIN + 2 * zoom + GAP + 39, HEADER + 39).0, [0, 0, 255]);
        assert_eq!(img.get_pixel(MARGIN + 3, HEADER + row_h + 3).0, [0, 0, 255]);
        let text_x = MARGIN + 2 * (2 * zoom + GAP);
        let dark = (text_x..img.width())
            .flat_map(|x| (HEADER..HEADER + LINE).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128)
            .count();
        assert!(dark > 10, "the caption is drawn");
        let bad = [TileRow { tiles: vec![red], caption: vec![] }];
        assert!(tile_rows(&bad, &layout).is_err(), "one tile for two columns");
        assert!(tile_rows(&[], &layout).is_err());
    }

    #[test]
    fn pixels_become_grey_or_rgb_colours() {
        assert_eq!(pixel_colours(&[0.0, 1.0], 1, [1, 2]), vec![[0; 3], [255; 3]]);
        assert_eq!(pixel_colours(&[1.0, 0.0, 2.0], 3, [1, 1]), vec![[255, 0, 255]]);
    }
}
