//! Image grids: N images (NCHW floats, 1 or 3 channels) tiled into one RGB picture with a thin
//! border, saved as PNG atomically. Used for GAN samples each epoch.

use crate::data::fsutil::atomic_write;
use image::{ImageEncoder, RgbImage};
use std::path::Path;

/// Tiles `images` ([n, c, h, w] row-major, values in `range`) into `cols` columns.
pub fn image_grid(images: &[f32], dims: [usize; 4], range: (f32, f32), cols: usize) -> Result<RgbImage, String> {
    let [n, c, h, w] = dims;
    if images.len() != n * c * h * w || !(c == 1 || c == 3) || cols == 0 {
        return Err(format!(
            "image_grid: {} values do not form {n} images of {c}x{h}x{w} (1 or 3 channels)",
            images.len()
        ));
    }
    let rows = n.div_ceil(cols);
    let pad = 2;
    let (gw, gh) = (cols * (w + pad) + pad, rows * (h + pad) + pad);
    let mut img = RgbImage::from_pixel(gw as u32, gh as u32, image::Rgb([40, 40, 40]));
    let to_u8 = |v: f32| (((v - range.0) / (range.1 - range.0)).clamp(0.0, 1.0) * 255.0).round() as u8;
    for k in 0..n {
        let (gx, gy) = (pad + (k % cols) * (w + pad), pad + (k / cols) * (h + pad));
        let base = k * c * h * w;
        for y in 0..h {
            for x in 0..w {
                let px = |ch: usize| to_u8(images[base + ch * h * w + y * w + x]);
                let rgb = if c == 1 { [px(0); 3] } else { [px(0), px(1), px(2)] };
                img.put_pixel((gx + x) as u32, (gy + y) as u32, image::Rgb(rgb));
            }
        }
    }
    Ok(img)
}

/// Encodes `img` as PNG and writes it atomically.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<(), String> {
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    atomic_write(path, &bytes).map_err(|e| e.to_string())
}

pub fn save_image_grid(
    images: &[f32],
    dims: [usize; 4],
    range: (f32, f32),
    cols: usize,
    path: &Path,
) -> Result<(), String> {
    save_png(&image_grid(images, dims, range, cols)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_each_image() {
        // Two 2x2 grey images: all black and all white.
        let imgs = [0.0f32, 0., 0., 0., 1., 1., 1., 1.];
        let g = image_grid(&imgs, [2, 1, 2, 2], (0.0, 1.0), 2).unwrap();
        assert_eq!((g.width(), g.height()), (2 * 4 + 2, 6));
        assert_eq!(g.get_pixel(2, 2).0, [0, 0, 0]);
        assert_eq!(g.get_pixel(6, 3).0, [255, 255, 255]);
        assert!(image_grid(&imgs, [3, 1, 2, 2], (0.0, 1.0), 2).is_err());
    }
}
