//! `kiln inspect MODEL [--dot FILE]`: the parameter table (name, shape, count) and, with `--dot`,
//! the autograd graph of one training step on random data as Graphviz DOT.

use super::choices::ModelArg;
use super::CliResult;
use clap::Args;
use kiln::autograd::{bce, bce_with_logits, cross_entropy, Var};
use kiln::models::nn::{self, Module};
use kiln::models::zoo::cnn::{self, CnnVariant};
use kiln::models::zoo::{gan, lenet, sentiment, ModelKind};
use kiln::tensor::{DType, Rng, Tensor};
use std::path::PathBuf;

#[derive(Args)]
pub struct InspectArgs {
    model: ModelArg,
    /// Write the graph of one training step (forward and loss) here.
    #[arg(long)]
    dot: Option<PathBuf>,
    /// Batch size of the traced step.
    #[arg(long, default_value_t = 2)]
    batch: usize,
}

fn table(title: &str, m: &dyn Module) -> usize {
    println!("{title}");
    println!("  {:<34} {:<18} {:>10}", "parameter", "shape", "count");
    let mut total = 0;
    for (name, v) in nn::parameters(m) {
        println!("  {:<34} {:<18} {:>10}", name, format!("{:?}", v.dims()), v.elem_count());
        total += v.elem_count();
    }
    println!("  {:<34} {:<18} {:>10}", "total", "", total);
    total
}

pub fn run(a: InspectArgs) -> CliResult<()> {
    let kind = ModelKind::from(a.model);
    let mut rng = Rng::new(0);
    let b = a.batch.max(1);
    let labels = |classes: usize, rng: &mut Rng| -> CliResult<Tensor> {
        Ok(Tensor::from_vec((0..b).map(|_| rng.below(classes) as i64).collect::<Vec<_>>(), [b])?)
    };
    let loss = match kind {
        ModelKind::Gan => {
            let (g, d) = gan::build(0);
            let total = table("generator", &g) + table("discriminator", &d);
            println!("gan total {total}");
            let fake = g.forward(&Var::constant(gan::step::noise(b, &mut rng)))?;
            bce(&d.forward(&fake)?.reshape([b])?, &Var::constant(Tensor::ones([b], DType::F32)))?
        }
        ModelKind::Lenet | ModelKind::Cnn => {
            let (net, shape) = if kind == ModelKind::Lenet {
                (lenet::model(&mut rng), [b, 1, 28, 28])
            } else {
                (cnn::model(CnnVariant::Plain, &mut rng), [b, 3, 32, 32])
            };
            table(kind.name(), &net);
            let x = Var::constant(Tensor::randn(shape, 0.0, 1.0, DType::F32, &mut rng));
            cross_entropy(&net.forward(&x)?, &labels(10, &mut rng)?)?
        }
        ModelKind::Sentiment => {
            let net = sentiment::SentimentNet::new(sentiment::VOCAB_WORDS + 2, &mut rng)?;
            table("sentiment", &net);
            // A short sequence keeps the traced graph readable; the real one unrolls 256 steps.
            let t = 6;
            let ids: Vec<i64> = (0..b * t).map(|_| 2 + rng.below(sentiment::VOCAB_WORDS) as i64).collect();
            let logits = net.forward(&Var::constant(Tensor::from_vec(ids, [b, t])?))?.reshape([b])?;
            let y = labels(2, &mut rng)?.to_dtype(DType::F32)?;
            bce_with_logits(&logits, &Var::constant(y))?
        }
    };
    if let Some(path) = a.dot {
        let dot = loss.graph_dot();
        // Atomic (temp file, rename) like every file kiln writes; the error names the path.
        kiln::models::data::fsutil::atomic_write(&path, dot.as_bytes())?;
        println!("graph of one training step ({} lines of DOT) -> {}", dot.lines().count(), path.display());
    }
    Ok(())
}
