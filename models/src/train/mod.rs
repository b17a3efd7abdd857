//! Training utilities shared by every model: a JSON-lines metrics log, progress bars with loss,
//! rate and ETA, sample grids as PNG, and line charts (PNG and SVG, drawn by `plotters`). The
//! models' own loops live in the zoo; nothing here knows about a particular model.

mod chart;
mod grid;
mod metrics;
mod progress;
mod ticks;

pub(crate) use chart::{register_font, FAMILY as FONT_FAMILY};
pub use chart::{Chart, Series, CHART_SIZE};
pub use grid::{image_grid, save_image_grid, save_png};
pub use metrics::MetricsLog;
pub use progress::Progress;
pub use ticks::{format_with_step, Ticks};
