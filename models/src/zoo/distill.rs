//! Knowledge distillation inside the classifier loop (Hinton, Vinyals and Dean 2015; `kiln train
//! <lenet|cnn|sentiment> --teacher CKPT`): the student's loss is
//! `alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(s, labels)`, the teacher
//! run in evaluation mode without a graph on the student's own batch. The loss kernel itself is
//! `kernels::loss` (`autograd::distill_kl`); this file wires it into a run and must not know a
//! particular model or read a checkpoint (the CLI builds the teacher).

use super::classifier::Objective;
use super::run::{RunError, RunResult};
use crate::nn::{self, Module};
use kiln_autograd::{cat, distill_kl, no_grad, Var};
use kiln_tensor::{Device, Tensor};
use serde_json::json;

/// A teacher and how much the student listens to it.
pub struct Distillation {
    pub teacher: Box<dyn Module>,
    /// Where the teacher came from (recorded in the student's checkpoint).
    pub teacher_source: String,
    /// The softmax temperature T (> 0); the soft term is scaled by T^2 so its gradients keep
    /// their size as T changes.
    pub temperature: f64,
    /// The weight of the soft term, in [0, 1]; 0 is plain training.
    pub alpha: f64,
}

/// Hinton et al. soften with T in 2..20; 4 is the usual CIFAR choice (their MNIST run used 20).
pub const DEFAULT_TEMPERATURE: f64 = 4.0;
pub const DEFAULT_ALPHA: f64 = 0.9;

impl Distillation {
    /// Checks the temperature and weight and puts the teacher in evaluation mode for good.
    pub fn new(teacher: Box<dyn Module>, teacher_source: String, temperature: f64, alpha: f64) -> RunResult<Self> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(RunError::Invalid(format!("--temperature must be a positive number, got {temperature}")));
        }
        if !(0.0..=1.0).contains(&alpha) {
            return Err(RunError::Invalid(format!("--alpha must be in [0, 1], got {alpha}")));
        }
        teacher.set_training(false);
        Ok(Distillation { teacher, teacher_source, temperature, alpha })
    }

    /// Moves the teacher to the student's device.
    pub fn to_device(&self, device: Device) -> RunResult<()> {
        Ok(nn::to_device(self.teacher.as_ref(), device)?)
    }

    /// The student's loss on a batch (`inputs` on the student's device) and its number of correct
    /// predictions against the labels.
    pub fn loss_and_correct(
        &self,
        objective: Objective,
        student_logits: &Var,
        inputs: &Tensor,
        labels: &Tensor,
    ) -> RunResult<(Var, usize)> {
        let (hard, correct) = objective.loss_and_correct(student_logits, labels)?;
        let teacher_logits = no_grad(|| self.teacher.forward(&Var::constant(inputs.clone())))?;
        let (s, t) = (class_logits(objective, student_logits)?, class_logits(objective, &teacher_logits)?);
        if s.dims() != t.dims() {
            return Err(RunError::Invalid(format!(
                "the teacher gives logits of shape {:?} where the student gives {:?}: it is not a model of the same classes",
                teacher_logits.dims(),
                student_logits.dims()
            )));
        }
        let soft = distill_kl(&s, &t, self.temperature)?;
        let loss = soft.mul_scalar(self.alpha)?.add(&hard.mul_scalar(1.0 - self.alpha)?)?;
        Ok((loss, correct))
    }

    /// What the student's checkpoint records about its teacher.
    pub fn metadata(&self) -> Vec<(String, String)> {
        let record = json!({ "teacher": self.teacher_source, "temperature": self.temperature, "alpha": self.alpha });
        vec![("distillation".to_string(), record.to_string())]
    }
}

/// Logits over classes, `[B, C]`: as they are for cross-entropy; for one binary logit z per
/// sample, the two-class logits `[0, z]` (whose softmax is `[1 - sigmoid(z), sigmoid(z)]`).
fn class_logits(objective: Objective, logits: &Var) -> RunResult<Var> {
    match objective {
        Objective::CrossEntropy => Ok(logits.clone()),
        Objective::BinaryLogits => {
            let b = logits.elem_count();
            let z = logits.reshape([b, 1])?;
            let zero = Var::constant(Tensor::zeros([b, 1], logits.dtype()).to_device(logits.device())?);
            Ok(cat(&[&zero, &z], 1)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Linear;
    use kiln_tensor::{DType, Rng};

    /// A one-logit teacher: its soft targets are Bernoulli(sigmoid(t / T)), and the loss is the
    /// Bernoulli KL times T^2, averaged over the batch (checked against the formula).
    #[test]
    fn a_binary_teacher_teaches_through_the_bernoulli_kl() {
        let mut rng = Rng::new(7);
        let teacher = Linear::new(3, 1, true, &mut rng);
        let (temperature, alpha) = (2.0, 1.0);
        let d = Distillation::new(Box::new(teacher), "test".into(), temperature, alpha).unwrap();
        let x = Tensor::randn([5, 3], 0.0, 1.0, DType::F32, &mut rng);
        let s = Var::leaf(Tensor::randn([5, 1], 0.0, 2.0, DType::F32, &mut rng));
        let labels = Tensor::from_vec(vec![1i64, 0, 1, 1, 0], [5]).unwrap();
        let (loss, _) = d.loss_and_correct(Objective::BinaryLogits, &s, &x, &labels).unwrap();
        let t = d.teacher.forward(&Var::constant(x)).unwrap().tensor().to_vec_f64().unwrap();
        let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
        let want: f64 = s
            .tensor()
            .to_vec_f64()
            .unwrap()
            .iter()
            .zip(&t)
            .map(|(&s, &t)| {
                let (p, q) = (sigmoid(t / temperature), sigmoid(s / temperature));
                temperature * temperature * (p * (p / q).ln() + (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln())
            })
            .sum::<f64>()
            / 5.0;
        let got = loss.tensor().to_scalar::<f32>().unwrap() as f64;
        assert!((got - want).abs() < 1e-5 * want.abs().max(1.0), "{got} vs {want}");
    }

    #[test]
    fn a_teacher_of_other_classes_is_refused_by_its_shape() {
        let mut rng = Rng::new(3);
        let d = Distillation::new(Box::new(Linear::new(3, 4, true, &mut rng)), "t".into(), 2.0, 0.5).unwrap();
        let x = Tensor::randn([5, 3], 0.0, 1.0, DType::F32, &mut rng);
        let s = Var::leaf(Tensor::randn([5, 10], 0.0, 1.0, DType::F32, &mut rng));
        let labels = Tensor::from_vec(vec![1i64, 0, 3, 2, 0], [5]).unwrap();
        let Err(err) = d.loss_and_correct(Objective::CrossEntropy, &s, &x, &labels) else { panic!("refused") };
        let err = err.to_string();
        assert!(err.contains("[5, 4]") && err.contains("[5, 10]") && err.contains("same classes"), "{err}");
    }

    #[test]
    fn temperature_and_alpha_are_checked() {
        let teacher = || Box::new(Linear::new(2, 2, true, &mut Rng::new(1))) as Box<dyn Module>;
        for (t, a) in [(0.0, 0.5), (-1.0, 0.5), (f64::NAN, 0.5), (f64::INFINITY, 0.5), (4.0, -0.1), (4.0, 1.01)] {
            let Err(err) = Distillation::new(teacher(), "t".into(), t, a) else { panic!("refused {t} {a}") };
            let err = err.to_string();
            assert!(err.contains("--temperature") || err.contains("--alpha"), "{err}");
        }
        assert!(Distillation::new(teacher(), "t".into(), 1.0, 0.0).is_ok());
    }
}
