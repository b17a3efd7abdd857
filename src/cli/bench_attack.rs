//! `kiln bench attack <lenet|cnn|cnn-bn>`: one PGD step against one training step of the same
//! batch, alternating round by round so both see the same machine. The training step is the one
//! adversarial training takes (pixels through the model's normalisation, cross-entropy, backward,
//! Adam); the PGD step is one step of `robust::perturb` (forward, backward to the input, signed
//! step, projection) with the model in evaluation mode. Prints the CPU, medians, minima and the
//! ratio. Timing only: the attacks and the model are the library's.

use super::bench::check_release;
use super::bench_infer::network_named;
use super::CliResult;
use clap::Args;
use kiln::autograd::{backward, cross_entropy, Var};
use kiln::kernels::simd;
use kiln::models::data::Normalize;
use kiln::models::nn::{self, Module};
use kiln::models::optim::{Adam, Optimizer};
use kiln::models::robust::{perturb, AttackConfig, EvalMode, PixelClassifier};
use kiln::models::zoo::bench::{time_steps, StepStats};
use kiln::models::zoo::lenet;
use kiln::tensor::{DType, Device, Rng, Tensor};
use serde_json::json;

#[derive(Args)]
pub struct AttackBenchArgs {
    /// lenet, cnn (W2) or cnn-bn (W2 with BatchNorm).
    model: String,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Timed steps per round and kind.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Rounds, each timing training steps then PGD steps.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Untimed steps of each kind before the first round.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// One JSON line: {"model", "batch", "threads", "cpu", "isa", "train_median_ms", "train_min_ms",
    /// "pgd_median_ms", "pgd_min_ms", "ratio"}.
    #[arg(long)]
    json: bool,
}

pub fn run(a: AttackBenchArgs) -> CliResult<()> {
    if a.steps == 0 || a.rounds == 0 || a.batch_size == 0 {
        return Err("--steps, --rounds and --batch-size must be at least 1".into());
    }
    check_release("attack", a.steps <= 2 && a.rounds == 1, "a smoke run of --steps 2 --rounds 1")?;
    if let Some(n) = a.threads {
        kiln::kernels::denormals::pool_builder(n.max(1)).build_global()?;
    }
    let (net, [c, h, w]) = network_named(&a.model, None)?;
    let norm = if c == 1 { lenet::normalize() } else { Normalize::cifar10() };
    let mut rng = Rng::new(1);
    let b = a.batch_size;
    let pixels = Tensor::rand_uniform([b, c, h, w], 0.0, 1.0, DType::F32, &mut rng);
    let labels: Vec<i64> = (0..b).map(|_| rng.below(10) as i64).collect();
    let targets = Tensor::from_vec(labels.clone(), [b])?;
    let clf = PixelClassifier::new(&net, &norm, c, Device::Cpu)?;
    let mut opt = Adam::new(nn::parameters(&net), 1e-3, (0.9, 0.999), 0.0);
    let mut train_step = || -> kiln::tensor::Result<f32> {
        net.set_training(true);
        let loss = cross_entropy(&clf.logits(&Var::constant(pixels.clone()))?, &targets)?;
        opt.step(&backward(&loss)?)?;
        loss.tensor().to_scalar::<f32>()
    };
    // One step of PGD at 8/255 (alpha 2/255) from the clean batch, as each step of the attack is.
    let pgd = AttackConfig { random_start: false, ..AttackConfig::pgd(8.0 / 255.0, 2.0 / 255.0, 1) };
    let mut pgd_step = || -> kiln::tensor::Result<f32> {
        let _eval = EvalMode::enter(&net);
        let adversarial = perturb(&clf, &pixels, &labels, &pgd)?;
        Ok(adversarial.elem_count() as f32)
    };
    time_steps(&mut train_step, a.warmup, 0)?;
    time_steps(&mut pgd_step, a.warmup, 0)?;
    let (mut train_ms, mut pgd_ms) = (Vec::new(), Vec::new());
    for round in 1..=a.rounds {
        let t = time_steps(&mut train_step, 0, a.steps)?;
        let p = time_steps(&mut pgd_step, 0, a.steps)?;
        if !a.json {
            let (t, p) = (StepStats::of(&t).ok_or("no steps")?, StepStats::of(&p).ok_or("no steps")?);
            eprintln!(
                "round {round}/{}: training step {:.2} ms, PGD step {:.2} ms",
                a.rounds, t.median_ms, p.median_ms
            );
        }
        train_ms.extend(t);
        pgd_ms.extend(p);
    }
    let (t, p) = (StepStats::of(&train_ms).ok_or("no steps")?, StepStats::of(&pgd_ms).ok_or("no steps")?);
    let threads = rayon::current_num_threads();
    let ratio = p.median_ms / t.median_ms;
    if a.json {
        println!(
            "{}",
            json!({ "model": a.model, "batch": b, "threads": threads, "cpu": simd::machine::cpu_model(),
                    "isa": simd::isa().name(), "train_median_ms": t.median_ms, "train_min_ms": t.min_ms,
                    "pgd_median_ms": p.median_ms, "pgd_min_ms": p.min_ms, "ratio": ratio })
        );
        return Ok(());
    }
    println!(
        "{} (batch {b}), {} threads, {} ({}); {} rounds of {} steps each",
        a.model,
        threads,
        simd::machine::cpu_model(),
        simd::isa().name(),
        a.rounds,
        a.steps
    );
    println!("training step  median {:>8.2} ms   min {:>8.2} ms", t.median_ms, t.min_ms);
    println!("PGD step       median {:>8.2} ms   min {:>8.2} ms", p.median_ms, p.min_ms);
    println!("PGD step / training step: {ratio:.2}x (median)");
    Ok(())
}
