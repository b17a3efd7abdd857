//! Training utilities shared by every model: a JSON-lines metrics log, progress bars with loss,
//! rate and ETA, sample grids and captioned tile rows as PNG, and line charts (PNG and SVG, drawn by `plotters`). The
//! models' own loops live in the zoo; nothing here knows about a particular model.

mod chart;
mod grid;
mod metrics;
mod progress;
mod ticks;
mod tiles;

pub use chart::{Chart, Series, CHART_SIZE};
pub use grid::{image_grid, save_image_grid, save_png};
pub use metrics::MetricsLog;
pub use progress::Progress;
pub use ticks::{format_with_step, Ticks};
pub use tiles::{pixel_colours, save_tile_rows, tile_rows, TileLayout, TileRow, GAP, HEADER, LINE, MARGIN};
