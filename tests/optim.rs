//! Adam against a hand-written three-step reference, and the all-parameter arena against it.

mod common;

use common::*;
use dcgan::optim::{adam_step, Adam, AdamConfig, Moments};
use dcgan::Param;

#[test]
fn adam_three_steps_match_the_textbook_update() {
    let gpu = gpu();
    let cfg = AdamConfig {
        lr: 0.01,
        beta1: 0.5,
        beta2: 0.999,
        eps: 1e-8,
    };
    let w0 = [0.5f32, -1.0, 2.0, 0.0, 3.0];
    let steps: [[f32; 5]; 3] = [
        [0.1, -0.2, 0.3, 0.0, 1e-3],
        [-0.4, 0.5, 0.3, 1.0, -1e-3],
        [0.2, 0.2, -0.6, -1.0, 2e-3],
    ];
    let p = Param::new("w", tensor(&gpu, &w0, &[5]));
    let mom = Moments::zeros(&p).unwrap();
    // Reference: m_t = b1 m + (1-b1) g, v_t = b2 v + (1-b2) g^2, mhat = m_t / (1 - b1^t),
    // vhat = v_t / (1 - b2^t), w -= lr * mhat / (sqrt(vhat) + eps); in f64, from the f32
    // hyper-parameters the kernel receives (0.999f32 is not 0.999).
    let (b1, b2) = (cfg.beta1 as f64, cfg.beta2 as f64);
    let (lr, eps) = (cfg.lr as f64, cfg.eps as f64);
    let mut w: Vec<f64> = w0.iter().map(|&v| v as f64).collect();
    let mut m = [0f64; 5];
    let mut v = [0f64; 5];
    for (t, g) in steps.iter().enumerate() {
        let t = t as i32 + 1;
        for i in 0..5 {
            let gi = g[i] as f64;
            m[i] = b1 * m[i] + (1.0 - b1) * gi;
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
            let mhat = m[i] / (1.0 - b1.powi(t));
            let vhat = v[i] / (1.0 - b2.powi(t));
            w[i] -= lr * mhat / (vhat.sqrt() + eps);
        }
        let gt = tensor(&gpu, g, &[5]);
        adam_step(&cfg, t as u64, &p, &gt, &mom).unwrap();
        let got = p.value.to_vec().unwrap();
        assert_close(&format!("weights after step {t}"), &got, &w, 1e-6, 1e-5);
        assert_close("first moment", &mom.m.to_vec().unwrap(), &m, 1e-7, 1e-5);
        assert_close("second moment", &mom.v.to_vec().unwrap(), &v, 1e-9, 1e-5);
        if t == 1 {
            // Adam's first step is lr against the sign of the gradient, whatever its size.
            for i in 0..5 {
                let want = w0[i] as f64 - lr * (g[i] as f64).signum() * (g[i] != 0.0) as u8 as f64;
                assert!(
                    (got[i] as f64 - want).abs() < 1e-6,
                    "first step of weight {i}"
                );
            }
        }
    }
}

#[test]
fn adam_refuses_step_zero_and_shape_mismatch() {
    let gpu = gpu();
    let p = Param::new("w", tensor(&gpu, &[1.0; 4], &[4]));
    let mom = Moments::zeros(&p).unwrap();
    let cfg = AdamConfig::default();
    assert!(adam_step(&cfg, 0, &p, &tensor(&gpu, &[1.0; 4], &[4]), &mom).is_err());
    assert!(adam_step(&cfg, 1, &p, &tensor(&gpu, &[1.0; 3], &[3]), &mom).is_err());
}

#[test]
fn adam_over_an_arena_matches_one_step_per_tensor_bit_for_bit() {
    let gpu = gpu();
    let cfg = AdamConfig {
        lr: 0.01,
        ..AdamConfig::default()
    };
    let mut rng = Rng::new(7);
    // Odd sizes, so every view but the first starts after a padding gap.
    let shapes: [&[usize]; 4] = [&[5], &[3, 7], &[1], &[2, 3, 5, 5]];
    let init: Vec<Vec<f32>> = shapes.iter().map(|s| rng.vec(s.iter().product())).collect();
    let mut arena_params: Vec<Param> = shapes
        .iter()
        .zip(&init)
        .map(|(s, v)| Param::new("p", tensor(&gpu, v, s)))
        .collect();
    let single_params: Vec<Param> = shapes
        .iter()
        .zip(&init)
        .map(|(s, v)| Param::new("p", tensor(&gpu, v, s)))
        .collect();
    let single_moments: Vec<Moments> = single_params
        .iter()
        .map(|p| Moments::zeros(p).unwrap())
        .collect();
    let adam = Adam::new(cfg, arena_params.iter_mut().collect()).unwrap();
    for t in 1..=3u64 {
        let grads: Vec<_> = shapes
            .iter()
            .map(|s| tensor(&gpu, &rng.vec(s.iter().product()), s))
            .collect();
        adam.step(t, &grads).unwrap();
        for ((p, g), m) in single_params.iter().zip(&grads).zip(&single_moments) {
            adam_step(&cfg, t, p, g, m).unwrap();
        }
        for (i, (a, b)) in arena_params.iter().zip(&single_params).enumerate() {
            let (x, y) = (a.value.to_vec().unwrap(), b.value.to_vec().unwrap());
            assert_eq!(x, y, "parameter {i} after step {t}");
            assert_ne!(x, init[i], "parameter {i} moved");
        }
        for (i, (a, b)) in adam.moments.iter().zip(&single_moments).enumerate() {
            assert_eq!(
                a.m.to_vec().unwrap(),
                b.m.to_vec().unwrap(),
                "m of {i}, step {t}"
            );
            assert_eq!(
                a.v.to_vec().unwrap(),
                b.v.to_vec().unwrap(),
                "v of {i}, step {t}"
            );
        }
    }
    assert!(adam.step(4, &[tensor(&gpu, &[0.0; 5], &[5])]).is_err());
}
