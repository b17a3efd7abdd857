//! embedding.cu (gather, scatter-add with repeated indices) and lstm.cu (fused gate step forward
//! and backward) against scalar loops; the LSTM backward also against finite differences.

use crate::common::*;
use kiln_kernels::cuda::embedding::{gather, scatter_add};
use kiln_kernels::cuda::lstm::{cell_backward, cell_forward, CellGrads, CellOut};
use kiln_kernels::cuda::{Buf, Rows, Runner};
use kiln_tensor::{Layout, Rng};

#[test]
fn embedding_gather_and_scatter_add_match_scalar_loops() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(50);
    for &(vocab, dim, count) in &[(1usize, 1usize, 1usize), (7, 33, 9), (33, 7, 40), (5, 130, 3)] {
        // The table narrowed out of a wider buffer: rows `dim + 2` apart, offset 1.
        let l = Layout::contiguous(vec![vocab, dim + 2]).narrow(1, 1, dim).unwrap();
        let td = rand_vec(&mut rng, vocab * (dim + 2), -1.0, 1.0);
        let idx: Vec<i64> = (0..count).map(|_| rng.below(vocab) as i64).collect();
        let want: Vec<f32> = idx
            .iter()
            .flat_map(|&i| (0..dim).map(move |j| (i as usize, j)))
            .map(|(i, j)| td[1 + i * (dim + 2) + j])
            .collect();
        let (t, ib) = (upload(&r, &td), r.upload(&idx).unwrap());
        let mut out = r.zeros::<f32>(count * dim).unwrap();
        gather(&r, (&t, Rows::from_layout("t", &l).unwrap()), &ib, count, &mut out).unwrap();
        assert_eq!(r.download(&out).unwrap(), want, "gather v{vocab} d{dim} c{count}");

        let gd = rand_vec(&mut rng, count * dim, -1.0, 1.0);
        let mut want_dt = vec![0f64; vocab * dim];
        for (k, &i) in idx.iter().enumerate() {
            for j in 0..dim {
                want_dt[i as usize * dim + j] += gd[k * dim + j] as f64;
            }
        }
        let want_dt: Vec<f32> = want_dt.iter().map(|&v| v as f32).collect();
        let g = upload(&r, &gd);
        let mut dt = r.zeros::<f32>(vocab * dim).unwrap();
        scatter_add(&r, &g, &ib, count, vocab, dim, None, &mut dt).unwrap();
        assert_close(&format!("scatter_add v{vocab} d{dim} c{count}"), &r.download(&dt).unwrap(), &want_dt, 1e-6);
        // With a padding row: its gradient stays zero, the others are unchanged.
        let skip = idx[0] as usize;
        let mut want_skip = want_dt.clone();
        want_skip[skip * dim..(skip + 1) * dim].fill(0.0);
        let mut dt = r.zeros::<f32>(vocab * dim).unwrap();
        scatter_add(&r, &g, &ib, count, vocab, dim, Some(skip), &mut dt).unwrap();
        assert_close(&format!("scatter_add skipping {skip}"), &r.download(&dt).unwrap(), &want_skip, 1e-6);
    }
    let t = upload(&r, &[1.0, 2.0]);
    let ib = r.upload(&[0i64, 9]).unwrap();
    let mut out = r.zeros::<f32>(2).unwrap();
    gather(&r, (&t, Rows::contiguous(2, 1)), &ib, 2, &mut out).unwrap();
    let got = r.download(&out).unwrap();
    assert!(got[0] == 1.0 && got[1].is_nan(), "out-of-range index: {got:?}");
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// (h, c) of one step in f64, gates `[b, 4h]` contiguous.
fn cell_ref(gates: &[f32], c_prev: &[f32], b: usize, hid: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut h, mut c) = (vec![0.0; b * hid], vec![0.0; b * hid]);
    for bi in 0..b {
        for j in 0..hid {
            let a = |q: usize| gates[bi * 4 * hid + q * hid + j] as f64;
            let (i, f, g, o) = (sigmoid(a(0)), sigmoid(a(1)), a(2).tanh(), sigmoid(a(3)));
            let cc = f * c_prev[bi * hid + j] as f64 + i * g;
            c[bi * hid + j] = cc;
            h[bi * hid + j] = o * cc.tanh();
        }
    }
    (h, c)
}

fn step(
    r: &Runner,
    gates: &Buf<f32>,
    c_prev: &Buf<f32>,
    b: usize,
    hid: usize,
) -> (Vec<f32>, Vec<f32>, Buf<f32>, Buf<f32>) {
    let (mut h, mut c, mut act) = (r.zeros(b * hid).unwrap(), r.zeros(b * hid).unwrap(), r.zeros(4 * b * hid).unwrap());
    cell_forward(r, gates, 0, 4 * hid, c_prev, b, hid, CellOut { h: &mut h, c: &mut c, act: &mut act }).unwrap();
    (r.download(&h).unwrap(), r.download(&c).unwrap(), c, act)
}

#[test]
fn lstm_cell_forward_and_backward_match_reference_and_finite_differences() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(51);
    for &(b, hid) in &[(1usize, 1usize), (3, 7), (2, 33)] {
        let gd = rand_vec(&mut rng, 4 * b * hid, -2.0, 2.0);
        let cp = rand_vec(&mut rng, b * hid, -1.0, 1.0);
        let (gates, c_prev) = (upload(&r, &gd), upload(&r, &cp));
        let (h, c, c_buf, act) = step(&r, &gates, &c_prev, b, hid);
        let (wh, wc) = cell_ref(&gd, &cp, b, hid);
        let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        assert_close(&format!("lstm h b{b} h{hid}"), &h, &f32s(&wh), 1e-5);
        assert_close(&format!("lstm c b{b} h{hid}"), &c, &f32s(&wc), 1e-5);

        // Loss L = sum(wh_k * h_k) + sum(wc_k * c_k): dh = wh, dc_next = wc. Check dgates and
        // dc_prev against central differences of the f64 reference.
        let dh = rand_vec(&mut rng, b * hid, -1.0, 1.0);
        let dcn = rand_vec(&mut rng, b * hid, -1.0, 1.0);
        let loss = |g: &[f32], cp: &[f32]| {
            let (h, c) = cell_ref(g, cp, b, hid);
            h.iter().zip(&dh).map(|(a, w)| a * *w as f64).sum::<f64>()
                + c.iter().zip(&dcn).map(|(a, w)| a * *w as f64).sum::<f64>()
        };
        let eps = 1e-3f32;
        let fd = |v: &[f32], k: usize, f: &dyn Fn(&[f32]) -> f64| {
            let (mut p, mut m) = (v.to_vec(), v.to_vec());
            p[k] += eps;
            m[k] -= eps;
            ((f(&p) - f(&m)) / (2.0 * eps as f64)) as f32
        };
        let want_dg: Vec<f32> = (0..gd.len()).map(|k| fd(&gd, k, &|g| loss(g, &cp))).collect();
        let want_dcp: Vec<f32> = (0..cp.len()).map(|k| fd(&cp, k, &|c| loss(&gd, c))).collect();
        let (dh_b, dcn_b) = (upload(&r, &dh), upload(&r, &dcn));
        let (mut dg, mut dcp) = (r.zeros::<f32>(gd.len()).unwrap(), r.zeros::<f32>(cp.len()).unwrap());
        let grads = CellGrads { dh: &dh_b, dc_next: Some(&dcn_b), act: &act, c_prev: &c_prev, c: &c_buf };
        cell_backward(&r, grads, b, hid, &mut dg, &mut dcp).unwrap();
        assert_close(&format!("lstm dgates b{b} h{hid}"), &r.download(&dg).unwrap(), &want_dg, 2e-3);
        assert_close(&format!("lstm dc_prev b{b} h{hid}"), &r.download(&dcp).unwrap(), &want_dcp, 2e-3);

        // Without dc_next (the last step) only dh flows.
        let grads = CellGrads { dh: &dh_b, dc_next: None, act: &act, c_prev: &c_prev, c: &c_buf };
        cell_backward(&r, grads, b, hid, &mut dg, &mut dcp).unwrap();
        let loss_h =
            |g: &[f32], cp: &[f32]| cell_ref(g, cp, b, hid).0.iter().zip(&dh).map(|(a, w)| a * *w as f64).sum::<f64>();
        let want_dg: Vec<f32> = (0..gd.len()).map(|k| fd(&gd, k, &|g| loss_h(g, &cp))).collect();
        assert_close(&format!("lstm dgates (last step) b{b} h{hid}"), &r.download(&dg).unwrap(), &want_dg, 2e-3);
    }
}
