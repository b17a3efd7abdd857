//! dropout.cu against its Rust twin (bit-exact mask) and mask statistics; optim.cu's fused Adam /
//! AdamW (scalar and float4) against kiln_kernels::optim::reference over several steps.

use crate::common::*;
use kiln_kernels::cuda::dropout::{backward, forward, keep_scale};
use kiln_kernels::cuda::optim::adam_step;
use kiln_kernels::optim::reference::{adam_step as adam_ref, AdamParams};
use kiln_kernels::optim::AdamParams as Hyper;
use kiln_tensor::Rng;

#[test]
fn dropout_mask_is_the_documented_hash_and_backward_recomputes_it() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(60);
    for &(n, p) in &[(1usize, 0.5f32), (7, 0.2), (33, 0.0), (10_000, 0.5), (9, 1.0)] {
        let xd = rand_vec(&mut rng, n, -1.0, 1.0);
        let seed = 0xDEAD_BEEF + n as u64;
        let mask: Vec<f32> = (0..n as u32).map(|i| keep_scale(seed, i, p)).collect();
        let want: Vec<f32> = xd.iter().zip(&mask).map(|(x, m)| x * m).collect();
        let x = upload(&r, &xd);
        let (mut y, mut m) = (r.zeros::<f32>(n).unwrap(), r.zeros::<f32>(n).unwrap());
        forward(&r, &x, n, seed, p, &mut y, Some(&mut m)).unwrap();
        assert_eq!(r.download(&m).unwrap(), mask, "mask n{n} p{p}");
        assert_eq!(r.download(&y).unwrap(), want, "y n{n} p{p}");
        let mut dx = r.zeros::<f32>(n).unwrap();
        backward(&r, &x, n, seed, p, &mut dx).unwrap();
        assert_eq!(r.download(&dx).unwrap(), want, "backward n{n} p{p}");
        if n == 10_000 {
            let kept = mask.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
            assert!((kept - 0.5).abs() < 0.02, "kept fraction {kept}");
            assert!(mask.iter().all(|&v| v == 0.0 || v == 2.0));
        }
    }
    let other: Vec<f32> = (0..64).map(|i| keep_scale(2, i, 0.5)).collect();
    let first: Vec<f32> = (0..64).map(|i| keep_scale(1, i, 0.5)).collect();
    assert_ne!(other, first, "different seeds give different masks");
    let x = upload(&r, &[1.0]);
    let mut y = r.zeros::<f32>(1).unwrap();
    assert!(forward(&r, &x, 1, 0, 1.5, &mut y, None).is_err());
}

#[test]
fn fused_adam_and_adamw_match_reference_over_steps() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(61);
    for &n in &[1usize, 7, 33, 1001] {
        for decoupled in [false, true] {
            let hp = AdamParams { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1, decoupled };
            let cfg = Hyper {
                lr: hp.lr,
                beta1: hp.beta1,
                beta2: hp.beta2,
                eps: hp.eps,
                weight_decay: hp.weight_decay,
                decoupled,
            };
            for vec4 in [Some(false), None] {
                let mut p_ref = rand_vec(&mut rng, n, -1.0, 1.0);
                let (mut m_ref, mut v_ref) = (vec![0f32; n], vec![0f32; n]);
                let (mut p, mut m, mut v) =
                    (upload(&r, &p_ref), r.zeros::<f32>(n).unwrap(), r.zeros::<f32>(n).unwrap());
                for step in 1..=5u64 {
                    let gd = rand_vec(&mut rng, n, -1.0, 1.0);
                    adam_ref(&mut p_ref, &gd, &mut m_ref, &mut v_ref, hp, step);
                    let g = upload(&r, &gd);
                    adam_step(&r, &mut p, &g, &mut m, &mut v, n, cfg, step, vec4).unwrap();
                }
                let what = format!("adam n{n} decoupled={decoupled} vec4={vec4:?}");
                assert_close(&format!("{what} p"), &r.download(&p).unwrap(), &p_ref, 1e-5);
                assert_close(&format!("{what} m"), &r.download(&m).unwrap(), &m_ref, 1e-5);
                assert_close(&format!("{what} v"), &r.download(&v).unwrap(), &v_ref, 1e-5);
            }
        }
    }
}
