//! Progress bars for training: one bar per epoch showing the running loss, the rate (samples per
//! second) and the ETA. Drawn only on a terminal; hidden under `--json` or when output is piped,
//! so logs stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar over `total` batches; `visible = false` draws nothing.
    pub fn new(total: u64, label: &str, visible: bool) -> Progress {
        let bar = ProgressBar::new(total);
        if visible && std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_prefix(label.to_string());
        Progress { bar }
    }

    /// Advances one batch and shows the given metrics (e.g. "loss 0.4123").
    pub fn tick(&self, msg: impl Into<String>) {
        self.bar.set_message(msg.into());
        self.bar.inc(1);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
