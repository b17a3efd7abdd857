//! Arguments with a fixed set of values, checked by clap itself so `--help` lists them and a wrong
//! value is refused before anything runs: the model, the CNN variant, and the device spelling
//! (`cpu`, `cuda`, `cuda:N`, `auto`; whether that device exists is `device.rs`'s question).

use clap::ValueEnum;
use kiln::models::zoo::cnn::CnnVariant;
use kiln::models::zoo::ModelKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// W1: the MNIST GAN.
    Gan,
    /// W2: the CIFAR-10 CNN.
    Cnn,
    /// W3: the IMDB BiLSTM sentiment classifier.
    Sentiment,
    /// LeNet-5 on MNIST (the GAN's judge).
    Lenet,
}

impl From<ModelArg> for ModelKind {
    fn from(m: ModelArg) -> ModelKind {
        match m {
            ModelArg::Gan => ModelKind::Gan,
            ModelArg::Cnn => ModelKind::Cnn,
            ModelArg::Sentiment => ModelKind::Sentiment,
            ModelArg::Lenet => ModelKind::Lenet,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VariantArg {
    /// Exactly W2: conv 3x3 / ReLU / max-pool stages, then 512 - 512 - 10.
    Plain,
    /// W2 with batch norm after every conv, dropout 0.5 before each linear layer, cosine LR.
    Bn,
    /// W2 at half width (16, 32, 64 channels, dense 128), cosine LR: a distillation student.
    Half,
}

impl From<VariantArg> for CnnVariant {
    fn from(v: VariantArg) -> CnnVariant {
        match v {
            VariantArg::Plain => CnnVariant::Plain,
            VariantArg::Bn => CnnVariant::BatchNorm { dropout: 0.5 },
            VariantArg::Half => CnnVariant::Half,
        }
    }
}

/// Accepts `cpu`, `auto`, `cuda` and `cuda:N`; anything else is refused with the list.
pub fn parse_device(s: &str) -> Result<String, String> {
    let ok =
        matches!(s, "cpu" | "auto" | "cuda") || s.strip_prefix("cuda:").is_some_and(|n| n.parse::<usize>().is_ok());
    if ok {
        Ok(s.to_string())
    } else {
        Err("expected cpu, cuda, cuda:N (N a GPU index) or auto".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_has_an_argument_of_its_name() {
        for m in ModelArg::value_variants() {
            let kind = ModelKind::from(*m);
            assert_eq!(m.to_possible_value().unwrap().get_name(), kind.name());
        }
        assert_eq!(ModelArg::value_variants().len(), ModelKind::ALL.len());
    }

    #[test]
    fn device_spellings() {
        for ok in ["cpu", "auto", "cuda", "cuda:0", "cuda:12"] {
            assert_eq!(parse_device(ok).as_deref(), Ok(ok));
        }
        for bad in ["gpu", "cuda:", "cuda:x", "CPU", ""] {
            assert!(parse_device(bad).unwrap_err().contains("cuda:N"), "{bad}");
        }
    }
}
