//! Gradchecks of the fused LSTM recurrence (`lstm_sequence`): w.r.t. the input projection and
//! `W_hh` together, both directions, with and without padding lengths (a padded row's frozen
//! state must pass its gradient through), on a strided projection, and through the last state
//! alone (how a classifier reads it).

mod common;

use common::*;
use kiln_autograd::{lstm_sequence, LstmSteps};

fn steps(lengths: Option<Vec<usize>>, reverse: bool) -> LstmSteps {
    LstmSteps { lengths, reverse }
}

#[test]
fn lstm_sequence_grads_both_directions_with_and_without_padding() {
    let (b, t, h) = (3, 4, 2);
    for reverse in [false, true] {
        for lengths in [None, Some(vec![4, 1, 3])] {
            let name = format!("lstm_sequence reverse={reverse} lengths={lengths:?}");
            let s = steps(lengths, reverse);
            check(
                &name,
                |v| lstm_sequence(&v[0], &v[1], s.clone()),
                &[randn(&[b, t, 4 * h], 1), randn(&[4 * h, h], 2)],
            );
        }
    }
}

#[test]
fn lstm_sequence_grads_on_a_strided_projection_and_through_the_last_state() {
    let (b, t, h) = (2, 3, 3);
    let proj = randn(&[b, 4 * h, t], 3).transpose(1, 2).unwrap();
    let s = steps(Some(vec![2, 3]), false);
    check("lstm_sequence strided proj", |v| lstm_sequence(&v[0], &v[1], s.clone()), &[proj, randn(&[4 * h, h], 4)]);
    let last = |v: &[kiln_autograd::Var]| lstm_sequence(&v[0], &v[1], steps(None, false))?.narrow(1, t - 1, 1);
    check("lstm_sequence last state only", last, &[randn(&[b, t, 4 * h], 5), randn(&[4 * h, h], 6)]);
}
