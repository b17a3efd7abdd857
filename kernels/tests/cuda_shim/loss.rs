//! loss.cu: fused cross-entropy and BCE with logits (forward mean and backward) against scalar
//! f64 loops of the formulas in loss/reference.rs.

use crate::common::*;
use kiln_kernels::cuda::loss::*;
use kiln_kernels::cuda::Rows;
use kiln_tensor::{Layout, Rng};

fn ce_reference(x: &[f32], l: &Layout, t: &[i64], g: f64) -> (f64, Vec<f32>) {
    let (rows, c) = (l.dims()[0], l.dims()[1]);
    let at = |r: usize, j: usize| x[l.offset() + r * l.strides()[0] + j] as f64;
    let mut loss = 0.0;
    let mut dx = Vec::new();
    for (r, &tr) in t.iter().enumerate().take(rows) {
        let m = (0..c).map(|j| at(r, j)).fold(f64::NEG_INFINITY, f64::max);
        let lse = m + (0..c).map(|j| (at(r, j) - m).exp()).sum::<f64>().ln();
        loss += lse - at(r, tr as usize);
        dx.extend((0..c).map(|j| (((at(r, j) - lse).exp() - (j as i64 == tr) as i32 as f64) * g / rows as f64) as f32));
    }
    (loss / rows as f64, dx)
}

#[test]
fn cross_entropy_forward_and_backward_match_the_formula() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(20);
    for &(rows, c) in &[(1usize, 1usize), (1, 7), (7, 33), (33, 10), (3, 300)] {
        for narrowed in [false, true] {
            let (len, l) = if narrowed {
                (rows * (c + 5), Layout::contiguous(vec![rows, c + 5]).narrow(1, 3, c).unwrap())
            } else {
                (rows * c, Layout::contiguous(vec![rows, c]))
            };
            let mut xd = rand_vec(&mut rng, len, -5.0, 5.0);
            xd[l.offset()] = 60.0;
            let td: Vec<i64> = (0..rows).map(|_| rng.below(c) as i64).collect();
            let (want_loss, want_dx) = ce_reference(&xd, &l, &td, 0.7);
            let (x, t) = (upload(&r, &xd), r.upload(&td).unwrap());
            let rows_view = Rows::from_layout("t", &l).unwrap();
            let mut lse = r.zeros::<f32>(rows).unwrap();
            let mean = cross_entropy_mean(&r, (&x, rows_view), &t, &mut lse).unwrap();
            let what = format!("ce {rows}x{c} narrowed={narrowed}");
            assert_close(&what, &r.download(&mean).unwrap(), &[want_loss as f32], 2e-5);
            let mut dx = r.zeros::<f32>(rows * c).unwrap();
            cross_entropy_backward(&r, (&x, rows_view), &t, &lse, 0.7, &mut dx).unwrap();
            assert_close(&format!("{what} backward"), &r.download(&dx).unwrap(), &want_dx, 2e-5);
        }
    }
}

#[test]
fn cross_entropy_out_of_range_target_gives_nan_not_a_wild_read() {
    let Some(r) = runner() else { return };
    let x = upload(&r, &[1.0, 2.0, 3.0, 4.0]);
    let t = r.upload(&[1i64, 5]).unwrap();
    let (mut loss, mut lse) = (r.zeros::<f32>(2).unwrap(), r.zeros::<f32>(2).unwrap());
    cross_entropy_rows(&r, (&x, Rows::contiguous(2, 2)), &t, &mut loss, &mut lse).unwrap();
    let got = r.download(&loss).unwrap();
    assert!(got[0].is_finite() && got[1].is_nan(), "{got:?}");
}

#[test]
fn bce_with_logits_forward_and_backward_match_the_formula() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(21);
    for n in [1usize, 7, 33, 1000] {
        let mut xd = rand_vec(&mut rng, n, -6.0, 6.0);
        xd[0] = -90.0; // exp(-x) would overflow in the naive form
        let yd: Vec<f32> = (0..n).map(|_| rng.below(2) as f32).collect();
        let want = xd.iter().zip(&yd).map(|(&x, &y)| {
            let (x, y) = (x as f64, y as f64);
            x.max(0.0) - x * y + (-x.abs()).exp().ln_1p()
        });
        let want = want.sum::<f64>() / n as f64;
        let (x, y) = (upload(&r, &xd), upload(&r, &yd));
        let mean = bce_with_logits_mean(&r, &x, &y, n).unwrap();
        assert_close(&format!("bce n={n}"), &r.download(&mean).unwrap(), &[want as f32], 2e-5);
        let want_dx: Vec<f32> = xd
            .iter()
            .zip(&yd)
            .map(|(&x, &y)| ((1.0 / (1.0 + (-(x as f64)).exp()) - y as f64) * 2.0 / n as f64) as f32)
            .collect();
        let mut dx = r.zeros::<f32>(n).unwrap();
        bce_with_logits_backward(&r, &x, &y, n, 2.0, &mut dx).unwrap();
        assert_close(&format!("bce backward n={n}"), &r.download(&dx).unwrap(), &want_dx, 1e-5);
    }
}
