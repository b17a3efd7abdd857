//! Which charts a run gets: losses per epoch (train, test, held-out, and the GAN's discriminator
//! and generator) and accuracies per epoch in percent (masked-token accuracy for pretraining), with training-set curves dashed. Several runs
//! go onto the same charts, each series named after its run. Only chooses data; `train::chart`
//! draws.

use super::RunRecord;
use crate::train::{Chart, Series};

struct Family {
    file: &'static str,
    title: &'static str,
    y_label: &'static str,
    /// Record keys plotted, with the legend text.
    keys: &'static [(&'static str, &'static str)],
    scale: f64,
}

const FAMILIES: [Family; 2] = [
    Family {
        file: "loss",
        title: "Loss per epoch",
        y_label: "loss (nats per sample)",
        keys: &[
            ("train_loss", "train loss"),
            ("test_loss", "test loss"),
            ("d_loss", "discriminator loss"),
            ("g_loss", "generator loss"),
            ("heldout_loss", "held-out loss"),
        ],
        scale: 1.0,
    },
    Family {
        file: "accuracy",
        title: "Accuracy per epoch",
        y_label: "accuracy (%)",
        keys: &[
            ("train_accuracy", "train accuracy"),
            ("test_accuracy", "test accuracy"),
            ("train_masked_accuracy", "train masked-token accuracy"),
            ("heldout_masked_accuracy", "held-out masked-token accuracy"),
        ],
        scale: 100.0,
    },
];

/// The charts for `runs` as (file stem, chart); a family none of the runs recorded is left out.
pub fn run_charts(runs: &[RunRecord]) -> Vec<(&'static str, Chart)> {
    FAMILIES
        .iter()
        .filter_map(|f| {
            let series: Vec<Series> = runs
                .iter()
                .flat_map(|run| {
                    f.keys.iter().filter_map(move |&(key, label)| {
                        let points: Vec<(f64, f64)> = run
                            .epochs
                            .iter()
                            .filter_map(|r| Some((r.get("epoch")?.as_f64()?, r.get(key)?.as_f64()? * f.scale)))
                            .collect();
                        let name = if runs.len() == 1 { label.to_string() } else { format!("{}: {label}", run.name) };
                        (!points.is_empty()).then(|| Series { name, points, dashed: key.starts_with("train_") })
                    })
                })
                .collect();
            let title = if runs.len() == 1 { format!("{}: {}", f.title, runs[0].name) } else { f.title.to_string() };
            let chart = Chart { title, x_label: "epoch".into(), y_label: f.y_label.into(), integer_x: true, series };
            (!chart.series.is_empty()).then_some((f.file, chart))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    #[test]
    fn runs_overlay_on_shared_charts() {
        let a = RunRecord::new(
            Path::new("runs/cnn-a"),
            json!({}),
            &[json!({"epoch": 1, "train_loss": 1.5, "test_loss": 1.4, "test_accuracy": 0.5, "train_accuracy": 0.4})],
        );
        let mut b = a.clone();
        b.name = "cnn-b".into();
        let charts = run_charts(&[a.clone(), b]);
        assert_eq!(charts.iter().map(|(f, _)| *f).collect::<Vec<_>>(), ["loss", "accuracy"]);
        let acc = &charts[1].1;
        assert_eq!(acc.series.len(), 4);
        assert_eq!(acc.series[3].name, "cnn-b: test accuracy");
        assert_eq!(acc.series[3].points, vec![(1.0, 50.0)]);
        assert!(acc.series[0].dashed && !acc.series[1].dashed);
        let gan = RunRecord::new(Path::new("gan-x"), json!({}), &[json!({"epoch": 1, "d_loss": 1.2, "g_loss": 0.9})]);
        let charts = run_charts(&[gan]);
        assert_eq!(charts.len(), 1, "a GAN has no accuracy chart");
        assert_eq!(charts[0].1.series[1].name, "generator loss");
        assert!(charts[0].1.title.ends_with("gan-x"));
        assert!(run_charts(&[a][..0]).is_empty());
    }
}
