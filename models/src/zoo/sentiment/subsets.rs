//! Which reviews a sentiment run sees: an evenly spread `--limit` subset, a class-balanced seeded
//! draw of `--labels N` labelled reviews (few-label fine-tuning), and the held-out training reviews
//! masked-token pretraining measures itself on. Only picks reviews; never reads the test split's
//! labels into training.

use super::super::run::{RunError, RunResult};
use crate::data::TextDataset;
use kiln_tensor::Rng;

/// `limit` reviews spread evenly over the split (the split is ordered negatives then positives,
/// so its first N would all be negative).
pub fn subsample(d: TextDataset, limit: Option<usize>) -> TextDataset {
    let Some(n) = limit.filter(|&n| n < d.len()) else { return d };
    let pick: Vec<usize> = (0..n).map(|i| i * d.len() / n).collect();
    select(&d, &pick)
}

/// The reviews at `indices`, in that order.
pub fn select(d: &TextDataset, indices: &[usize]) -> TextDataset {
    TextDataset {
        texts: indices.iter().map(|&i| d.texts[i].clone()).collect(),
        labels: indices.iter().map(|&i| d.labels[i]).collect(),
    }
}

/// `n` labelled reviews drawn with `seed`, half of each class (the odd one negative): the
/// few-label training set. More than the split holds of a class is an error.
pub fn balanced_labels(d: &TextDataset, n: usize, seed: u64) -> RunResult<TextDataset> {
    if n < 2 {
        return Err(RunError::Invalid(format!("--labels {n}: at least 2 (one review of each class)")));
    }
    let mut rng = Rng::new(seed ^ 0x1abe15);
    let mut picked = Vec::with_capacity(n);
    for (class, want) in [(0u8, n - n / 2), (1u8, n / 2)] {
        let mut of_class: Vec<usize> = (0..d.len()).filter(|&i| d.labels[i] == class).collect();
        if of_class.len() < want {
            return Err(RunError::Invalid(format!(
                "--labels {n} needs {want} reviews of class {class}, but the training set has {} ({} reviews in all)",
                of_class.len(),
                d.len()
            )));
        }
        rng.shuffle(&mut of_class);
        picked.extend_from_slice(&of_class[..want]);
    }
    rng.shuffle(&mut picked);
    Ok(select(d, &picked))
}

/// Splits `held` reviews (drawn with `seed`) off `d`: (the rest, the held-out ones).
pub fn hold_out(d: &TextDataset, held: usize, seed: u64) -> (TextDataset, TextDataset) {
    let mut order: Vec<usize> = (0..d.len()).collect();
    Rng::new(seed ^ 0x4e1d).shuffle(&mut order);
    let held = held.min(d.len());
    let (out, rest) = order.split_at(held);
    let mut rest = rest.to_vec();
    rest.sort_unstable();
    (select(d, &rest), select(d, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reviews(n: usize) -> TextDataset {
        TextDataset {
            texts: (0..n).map(|i| format!("review {i}")).collect(),
            labels: (0..n).map(|i| (i * 2 >= n) as u8).collect(),
        }
    }

    #[test]
    fn few_label_subsets_are_balanced_seeded_and_distinct() {
        let d = reviews(1000);
        let a = balanced_labels(&d, 101, 4).unwrap();
        assert_eq!(a.len(), 101);
        assert_eq!(a.labels.iter().filter(|&&l| l == 1).count(), 50);
        let mut texts = a.texts.clone();
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), 101, "no review twice");
        assert_eq!(a.texts, balanced_labels(&d, 101, 4).unwrap().texts, "same seed, same subset");
        assert_ne!(a.texts, balanced_labels(&d, 101, 5).unwrap().texts, "another seed, another subset");
        let err = balanced_labels(&d, 1002, 0).unwrap_err().to_string();
        assert!(err.contains("--labels 1002") && err.contains("has 500"), "{err}");
        assert!(balanced_labels(&d, 1, 0).is_err());
    }

    #[test]
    fn held_out_reviews_leave_the_rest() {
        let d = reviews(50);
        let (rest, held) = hold_out(&d, 10, 1);
        assert_eq!((rest.len(), held.len()), (40, 10));
        assert!(held.texts.iter().all(|t| !rest.texts.contains(t)));
    }
}
