//! Progress bars for training: one bar per epoch showing the running loss, the rate (training
//! steps per second, with its unit and a precision that fits its size) and the ETA. Drawn only on a terminal; hidden under `--json` or when output is piped,
//! so logs stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
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
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} {rate} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&rate(state.per_sec()));
                })
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

/// "143.5 steps/s": three significant digits at most, one decimal at least below 1000.
pub fn rate(per_sec: f64) -> String {
    match per_sec {
        r if !r.is_finite() || r <= 0.0 => "- steps/s".into(),
        r if r >= 1000.0 => format!("{r:.0} steps/s"),
        r if r >= 10.0 => format!("{r:.1} steps/s"),
        r => format!("{r:.2} steps/s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_have_a_unit_and_sane_precision() {
        assert_eq!(super::rate(143.5411), "143.5 steps/s");
        assert_eq!(super::rate(2.345), "2.35 steps/s");
        assert_eq!(super::rate(12345.6), "12346 steps/s");
        assert_eq!(super::rate(f64::NAN), "- steps/s");
    }
}
