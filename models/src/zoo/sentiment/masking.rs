//! BERT's token masking (Devlin et al. 2019) for pretraining W3's encoder: each real (non-padding)
//! token is chosen with probability `rate`; a chosen token becomes the [MASK] token 80% of the
//! time, a random word 10% and stays itself 10%, and the loss is taken only where a token was
//! chosen. Pure host-side bookkeeping on token ids; the model and the loss are `pretrain.rs`'s.

use crate::data::{OOV_ID, PAD_ID};
use kiln_tensor::Rng;

/// What the masked-token objective sees of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskedBatch {
    /// The input ids, `[B, T]` row-major, with the chosen tokens replaced.
    pub inputs: Vec<i64>,
    /// Flat positions (`b * T + t`) of the chosen tokens, in order.
    pub positions: Vec<i64>,
    /// The original token at each chosen position.
    pub targets: Vec<i64>,
}

/// How tokens are chosen and replaced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Masking {
    /// Probability that a real token is chosen (BERT: 0.15).
    pub rate: f64,
    /// The [MASK] token's id (W3's vocabulary plus one: the last embedding row).
    pub mask_id: i64,
    /// Ids below this are real words or the OOV token; random replacements are drawn from the
    /// words, `OOV_ID + 1 .. mask_id`.
    pub vocab_size: usize,
}

impl Masking {
    /// Masks `ids` (`[B, T]` row-major, right-padded with PAD) with `rng`. At least one token of
    /// the batch is chosen whenever it has one (a batch with no loss would be a wasted step).
    pub fn apply(&self, ids: &[i64], rng: &mut Rng) -> MaskedBatch {
        let mut inputs = ids.to_vec();
        let (mut positions, mut targets) = (Vec::new(), Vec::new());
        let words = self.vocab_size.saturating_sub(OOV_ID as usize + 1).max(1);
        for (i, &id) in ids.iter().enumerate() {
            if id == PAD_ID as i64 || rng.next_f64() >= self.rate {
                continue;
            }
            positions.push(i as i64);
            targets.push(id);
            inputs[i] = self.replacement(id, words, rng);
        }
        if positions.is_empty() {
            if let Some(i) = ids.iter().position(|&id| id != PAD_ID as i64) {
                positions.push(i as i64);
                targets.push(ids[i]);
                inputs[i] = self.replacement(ids[i], words, rng);
            }
        }
        MaskedBatch { inputs, positions, targets }
    }

    /// 80% [MASK], 10% a random word, 10% the token itself.
    fn replacement(&self, id: i64, words: usize, rng: &mut Rng) -> i64 {
        let u = rng.next_f64();
        if u < 0.8 {
            self.mask_id
        } else if u < 0.9 {
            (OOV_ID as usize + 1 + rng.below(words)) as i64
        } else {
            id
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_chooses_the_rate_and_splits_80_10_10() {
        let masking = Masking { rate: 0.15, mask_id: 1000, vocab_size: 1000 };
        // 64 reviews of 256 slots, the last 56 of each padding.
        let mut rng = Rng::new(11);
        let ids: Vec<i64> = (0..64 * 256).map(|i| if i % 256 < 200 { 2 + rng.below(998) as i64 } else { 0 }).collect();
        let m = masking.apply(&ids, &mut Rng::new(3));
        let real = 64 * 200;
        let rate = m.positions.len() as f64 / real as f64;
        assert!((rate - 0.15).abs() < 0.01, "chosen rate {rate}");
        assert!(m.positions.iter().all(|&p| ids[p as usize] != 0), "a padding slot was chosen");
        let n = m.positions.len() as f64;
        let masked = m.positions.iter().filter(|&&p| m.inputs[p as usize] == 1000).count() as f64 / n;
        let kept = m.positions.iter().filter(|&&p| m.inputs[p as usize] == ids[p as usize]).count() as f64 / n;
        let random = 1.0 - masked - kept;
        assert!(
            (masked - 0.8).abs() < 0.02 && (kept - 0.1).abs() < 0.02 && (random - 0.1).abs() < 0.02,
            "{masked} {kept} {random}"
        );
        for (&p, &t) in m.positions.iter().zip(&m.targets) {
            assert_eq!(ids[p as usize], t);
            assert!((2..=1000).contains(&m.inputs[p as usize]), "replacement {}", m.inputs[p as usize]);
        }
        let untouched = (0..ids.len()).filter(|i| !m.positions.contains(&(*i as i64))).all(|i| m.inputs[i] == ids[i]);
        assert!(untouched, "only chosen tokens change");
        assert_eq!(m, masking.apply(&ids, &mut Rng::new(3)), "seeded");
    }

    #[test]
    fn a_batch_always_has_a_chosen_token() {
        let masking = Masking { rate: 1e-9, mask_id: 50, vocab_size: 50 };
        let m = masking.apply(&[0, 0, 7, 9, 0, 0], &mut Rng::new(1));
        assert_eq!((m.positions, m.targets), (vec![2], vec![7]));
        assert!(masking.apply(&[0, 0], &mut Rng::new(1)).positions.is_empty());
    }
}
