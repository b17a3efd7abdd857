//! Training utilities shared by every model: a JSON-lines metrics log, progress bars with loss,
//! rate and ETA, and pictures (sample grids, loss/accuracy curves) as PNG. The models' own loops
//! live in the zoo; nothing here knows about a particular model.

mod font;
mod grid;
mod metrics;
mod plot;
mod progress;

pub use grid::{image_grid, save_image_grid};
pub use metrics::MetricsLog;
pub use plot::{save_line_plot, Series};
pub use progress::Progress;
