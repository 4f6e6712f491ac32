//! Every non-conv op on the GPU against its CPU reference, with finite-difference gradient
//! checks: activations, linear, batch_norm, dropout, BCE with logits, reductions.

mod common;

use common::*;
use dcgan::ops::batch_norm::{cpu as bn_cpu, BatchNormState};
use dcgan::ops::elementwise::{activation, cpu as act_cpu};
use dcgan::ops::{self, Activation};
use dcgan::{Tape, Tensor};

const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-4;
const GRAD_ATOL: f64 = 2e-4;
const GRAD_RTOL: f64 = 1e-3;
const H: f64 = 1e-4;

fn check_activation(act: Activation, seed: u64) {
    let gpu = gpu();
    let mut rng = Rng::new(seed);
    let shape = [3, 5, 7, 3]; // 315 elements: more than one 256-wide workgroup
    let n = shape.iter().product();
    let x: Vec<f32> = rng.vec(n).iter().map(|v| 3.0 * v).collect();
    let tape = Tape::new();
    let xv = tape.leaf(tensor(&gpu, &x, &shape), true);
    let y = activation(&tape, &xv, act).unwrap();
    let want = act_cpu::forward(&to64(&x), act);
    assert_close(
        &format!("{act:?} forward"),
        &y.value.to_vec().unwrap(),
        &want,
        ATOL,
        RTOL,
    );
    let r = rng.vec(n);
    let got = grads(&tape, &y, &r, &[&xv]);
    let num = numeric_grad(|x| act_cpu::forward(x, act), &to64(&x), &to64(&r), H);
    assert_close(
        &format!("{act:?} backward"),
        &got[0],
        &num,
        GRAD_ATOL,
        GRAD_RTOL,
    );
}

#[test]
fn relu_matches_reference_and_gradient() {
    check_activation(Activation::Relu, 11);
}

#[test]
fn leaky_relu_matches_reference_and_gradient() {
    check_activation(Activation::LeakyRelu(0.2), 12);
}

#[test]
fn tanh_matches_reference_and_gradient() {
    check_activation(Activation::Tanh, 13);
}

#[test]
fn sigmoid_matches_reference_and_gradient() {
    check_activation(Activation::Sigmoid, 14);
}

/// The element-wise kernels read four elements an entry where the count is a multiple of 4
/// (vec4 arrays) and one otherwise: both forms give every element the same bits. 316 elements
/// take the vec4 form, 317 with the same first 316 the scalar one.
#[test]
fn element_wise_kernels_agree_bit_for_bit_in_vec4_and_scalar_form() {
    let gpu = gpu();
    let mut rng = Rng::new(15);
    let x: Vec<f32> = rng.vec(317).iter().map(|v| 3.0 * v).collect();
    let r = rng.vec(317);
    let run = |n: usize, act: Activation| {
        let tape = Tape::new();
        let xv = tape.leaf(tensor(&gpu, &x[..n], &[n]), true);
        let y = activation(&tape, &xv, act).unwrap();
        let sum = ops::elementwise::add(&y.value, &xv.value).unwrap();
        let mut out = y.value.to_vec().unwrap();
        out.extend(grads(&tape, &y, &r[..n], &[&xv]).remove(0));
        out.extend(sum.to_vec().unwrap());
        out
    };
    for act in [
        Activation::Relu,
        Activation::LeakyRelu(0.2),
        Activation::Tanh,
        Activation::Sigmoid,
    ] {
        let (v4, v1) = (run(316, act), run(317, act));
        for part in 0..3 {
            let (a, b) = (&v4[part * 316..][..316], &v1[part * 317..][..316]);
            let differ = a
                .iter()
                .zip(b)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(differ, 0, "{act:?}: part {part} (forward, backward, add)");
        }
    }
}

#[test]
fn sigmoid_is_stable_for_large_logits() {
    let gpu = gpu();
    let tape = Tape::no_grad();
    let x = tape.leaf(
        tensor(&gpu, &[-200.0, -30.0, 0.0, 30.0, 200.0], &[5]),
        false,
    );
    let y = ops::sigmoid(&tape, &x).unwrap().value.to_vec().unwrap();
    let want = act_cpu::forward(&[-200.0, -30.0, 0.0, 30.0, 200.0], Activation::Sigmoid);
    assert_close("sigmoid extremes", &y, &want, 1e-7, 1e-5);
}

#[test]
fn linear_matches_reference_and_gradients() {
    let gpu = gpu();
    linear_case(&gpu);
    gpu.set_subgroups(false);
    linear_case(&gpu);
}

fn linear_case(gpu: &dcgan::Gpu) {
    let gpu = gpu.clone();
    let mut rng = Rng::new(21);
    let (batch, inf, outf) = (5, 7, 70);
    let x = rng.vec(batch * inf);
    let w = rng.vec(outf * inf);
    let b = rng.vec(outf);
    let tape = Tape::new();
    let xv = tape.leaf(tensor(&gpu, &x, &[batch, inf]), true);
    let wv = tape.leaf(tensor(&gpu, &w, &[outf, inf]), true);
    let bv = tape.leaf(tensor(&gpu, &b, &[outf]), true);
    let y = ops::linear(&tape, &xv, &wv, Some(&bv)).unwrap();
    let f = |x: &[f64], w: &[f64], b: &[f64]| ops::linear::cpu::linear(x, w, Some(b), batch, inf);
    let (x64, w64, b64) = (to64(&x), to64(&w), to64(&b));
    assert_close(
        "linear forward",
        &y.value.to_vec().unwrap(),
        &f(&x64, &w64, &b64),
        ATOL,
        RTOL,
    );
    let r = rng.vec(batch * outf);
    let r64 = to64(&r);
    let got = grads(&tape, &y, &r, &[&xv, &wv, &bv]);
    let nx = numeric_grad(|x| f(x, &w64, &b64), &x64, &r64, H);
    let nw = numeric_grad(|w| f(&x64, w, &b64), &w64, &r64, H);
    let nb = numeric_grad(|b| f(&x64, &w64, b), &b64, &r64, H);
    assert_close("linear d/dx", &got[0], &nx, GRAD_ATOL, GRAD_RTOL);
    assert_close("linear d/dw", &got[1], &nw, GRAD_ATOL, GRAD_RTOL);
    assert_close("linear d/db", &got[2], &nb, GRAD_ATOL, GRAD_RTOL);
}

#[test]
fn matmul_spans_many_workgroups_on_both_kernel_families() {
    let gpu = gpu();
    let mut rng = Rng::new(22);
    let (m, k, n) = (131, 67, 259);
    let a = rng.vec(m * k);
    let b = rng.vec(k * n);
    let want = ops::linear::cpu::matmul(&to64(&a), &to64(&b), m, k, n);
    for subgroups in [true, false] {
        gpu.set_subgroups(subgroups);
        let c =
            ops::linear::matmul(&tensor(&gpu, &a, &[m, k]), &tensor(&gpu, &b, &[k, n])).unwrap();
        let what = format!("matmul (subgroups {subgroups})");
        assert_close(&what, &c.to_vec().unwrap(), &want, 1e-4, 1e-4);
    }
}

/// The subgroup GEMM reads A and B as vec4s where k and n are multiples of 4 (`GV`,
/// `ops::gemm::vec4_operands`): a 131 x 68 by 68 x 260 product takes that form, the same
/// product less B's last column the f32 form, and their common columns agree bit for bit (each
/// is the same sum in the same order), both within 1e-4 of the f64 product.
#[test]
fn gemm_vec4_and_scalar_forms_agree_bit_for_bit() {
    let gpu = gpu();
    let mut rng = Rng::new(23);
    let (m, k, n) = (131, 68, 260);
    let a = rng.vec(m * k);
    let b = rng.vec(k * n);
    let narrow: Vec<f32> = b.chunks(n).flat_map(|row| row[..n - 1].to_vec()).collect();
    let at = tensor(&gpu, &a, &[m, k]);
    let wide = ops::linear::matmul(&at, &tensor(&gpu, &b, &[k, n])).unwrap();
    let wide = wide.to_vec().unwrap();
    let thin = ops::linear::matmul(&at, &tensor(&gpu, &narrow, &[k, n - 1])).unwrap();
    let thin = thin.to_vec().unwrap();
    assert_close(
        "matmul, vec4 form",
        &wide,
        &ops::linear::cpu::matmul(&to64(&a), &to64(&b), m, k, n),
        1e-4,
        1e-4,
    );
    assert_close(
        "matmul, f32 form",
        &thin,
        &ops::linear::cpu::matmul(&to64(&a), &to64(&narrow), m, k, n - 1),
        1e-4,
        1e-4,
    );
    let differ = (0..m * (n - 1))
        .filter(|&i| wide[i / (n - 1) * n + i % (n - 1)].to_bits() != thin[i].to_bits())
        .count();
    assert_eq!(differ, 0, "values that differ between the two forms");
}

fn bn_case(training: bool, seed: u64, act: Option<Activation>) {
    bn_case_shaped(training, seed, act, (3, 5, 3, 4));
}

fn bn_case_shaped(
    training: bool,
    seed: u64,
    act: Option<Activation>,
    (n, c, h, w): (usize, usize, usize, usize),
) {
    let gpu = gpu();
    let mut rng = Rng::new(seed);
    let inner = h * w;
    let x: Vec<f32> = rng
        .vec(n * c * inner)
        .iter()
        .map(|v| 2.0 * v + 0.5)
        .collect();
    let gamma: Vec<f32> = rng.vec(c).iter().map(|v| 1.0 + 0.5 * v).collect();
    let beta = rng.vec(c);
    let rm0 = rng.vec(c);
    let rv0: Vec<f32> = rng.vec(c).iter().map(|v| 1.0 + 0.5 * v).collect();
    let (momentum, eps) = (0.1f32, 1e-5f32);
    let rm = tensor(&gpu, &rm0, &[c]);
    let rv = tensor(&gpu, &rv0, &[c]);
    let state = BatchNormState {
        running_mean: &rm,
        running_var: &rv,
        momentum,
        eps,
    };
    let tape = Tape::new();
    let xv = tape.leaf(tensor(&gpu, &x, &[n, c, h, w]), true);
    let gv = tape.leaf(tensor(&gpu, &gamma, &[c]), true);
    let bv = tape.leaf(tensor(&gpu, &beta, &[c]), true);
    let y = ops::batch_norm_activation(&tape, &xv, &gv, &bv, &state, training, act).unwrap();
    let (x64, g64, b64) = (to64(&x), to64(&gamma), to64(&beta));
    let (rm64, rv64) = (to64(&rm0), to64(&rv0));
    let bn = |x: &[f64], g: &[f64], b: &[f64]| {
        if training {
            bn_cpu::batch_norm_train(x, n, c, inner, g, b, eps as f64).0
        } else {
            bn_cpu::batch_norm_eval(x, c, inner, g, b, &rm64, &rv64, eps as f64)
        }
    };
    let f = |x: &[f64], g: &[f64], b: &[f64]| {
        let z = bn(x, g, b);
        match act {
            Some(a) => act_cpu::forward(&z, a),
            None => z,
        }
    };
    // Central differences need every pre-activation clear of the kink by more than H.
    if act.is_some() {
        let z = bn(&x64, &g64, &b64);
        let kinked = z.iter().filter(|v| v.abs() < 10.0 * H).count();
        assert_eq!(
            kinked, 0,
            "seed {seed}: {kinked} pre-activations on the kink"
        );
    }
    assert_close(
        "batch_norm forward",
        &y.value.to_vec().unwrap(),
        &f(&x64, &g64, &b64),
        1e-4,
        1e-4,
    );
    // Running statistics: moved with momentum in training (unbiased var), untouched otherwise.
    let (_, mean, var) = bn_cpu::batch_norm_train(&x64, n, c, inner, &g64, &b64, eps as f64);
    let m = (n * inner) as f64;
    let m64 = momentum as f64;
    let (want_rm, want_rv): (Vec<f64>, Vec<f64>) = if training {
        (
            (0..c)
                .map(|i| (1.0 - m64) * rm64[i] + m64 * mean[i])
                .collect(),
            (0..c)
                .map(|i| (1.0 - m64) * rv64[i] + m64 * var[i] * m / (m - 1.0))
                .collect(),
        )
    } else {
        (rm64.clone(), rv64.clone())
    };
    assert_close("running mean", &rm.to_vec().unwrap(), &want_rm, 1e-6, 1e-5);
    assert_close("running var", &rv.to_vec().unwrap(), &want_rv, 1e-6, 1e-5);

    let r = rng.vec(x.len());
    let r64 = to64(&r);
    let got = grads(&tape, &y, &r, &[&xv, &gv, &bv]);
    let nx = numeric_grad(|x| f(x, &g64, &b64), &x64, &r64, H);
    let ng = numeric_grad(|g| f(&x64, g, &b64), &g64, &r64, H);
    let nb = numeric_grad(|b| f(&x64, &g64, b), &b64, &r64, H);
    assert_close("batch_norm d/dx", &got[0], &nx, GRAD_ATOL, GRAD_RTOL);
    assert_close("batch_norm d/dgamma", &got[1], &ng, GRAD_ATOL, GRAD_RTOL);
    assert_close("batch_norm d/dbeta", &got[2], &nb, GRAD_ATOL, GRAD_RTOL);
}

#[test]
fn batch_norm_training_matches_reference_and_gradients() {
    bn_case(true, 31, None);
}

#[test]
fn batch_norm_with_fused_relu_and_leaky_relu_matches_reference_and_gradients() {
    bn_case(true, 33, Some(Activation::Relu));
    bn_case(true, 37, Some(Activation::LeakyRelu(0.2)));
    bn_case(false, 35, Some(Activation::LeakyRelu(0.2)));
}

#[test]
fn batch_norm_refuses_to_fuse_other_activations() {
    let gpu = gpu();
    let (rm, rv) = (tensor(&gpu, &[0.0; 2], &[2]), tensor(&gpu, &[1.0; 2], &[2]));
    let state = BatchNormState {
        running_mean: &rm,
        running_var: &rv,
        momentum: 0.1,
        eps: 1e-5,
    };
    let tape = Tape::new();
    let x = tape.leaf(tensor(&gpu, &[0.5; 8], &[2, 2, 2]), true);
    let g = tape.leaf(tensor(&gpu, &[1.0; 2], &[2]), true);
    let b = tape.leaf(tensor(&gpu, &[0.0; 2], &[2]), true);
    let r = ops::batch_norm_activation(&tape, &x, &g, &b, &state, true, Some(Activation::Tanh));
    assert!(r.is_err());
}

#[test]
fn batch_norm_inference_matches_reference_and_gradients() {
    bn_case(false, 32, None);
}

/// The element-wise kernels take 8, 4, 2 or 1 elements an invocation (what divides h * w;
/// the cases above take 4), as vec4s where h * w is a multiple of 4, and the reductions walk
/// channels of one element (or vec4) up to more than a workgroup's 256.
#[test]
fn batch_norm_at_every_elements_per_invocation() {
    for (i, shape) in [
        (2, 3, 2, 4),
        (3, 2, 1, 6),
        (5, 3, 3, 3),
        (2, 3, 1, 1),
        (3, 2, 17, 19),
        // Whole vec4s a channel plane (the vec4 forms): one a plane, 70 images (280 values a
        // channel, more than the 256 lanes that walk it); 140 a plane, 280 a channel.
        (70, 2, 2, 2),
        (2, 3, 20, 28),
    ]
    .into_iter()
    .enumerate()
    {
        let seed = 60 + i as u64;
        // The largest case has so many pre-activations (1,938) that some always lie within
        // ten gradient-check steps of the leaky ReLU's kink: it runs without the activation.
        let act =
            (shape.0 * shape.1 * shape.2 * shape.3 < 1_000).then_some(Activation::LeakyRelu(0.2));
        bn_case_shaped(true, seed, act, shape);
        bn_case_shaped(false, seed, None, shape);
    }
}

#[test]
fn batch_norm_over_many_elements_per_channel() {
    // 2 * 40 * 37 = 2960 values per channel: many strides of the 256-wide reduction.
    let gpu = gpu();
    let mut rng = Rng::new(33);
    let (n, c, h, w) = (2, 3, 40, 37);
    let x: Vec<f32> = rng.vec(n * c * h * w).iter().map(|v| 10.0 + v).collect();
    let ones = vec![1.0f32; c];
    let zeros = vec![0.0f32; c];
    let rm = tensor(&gpu, &zeros, &[c]);
    let rv = tensor(&gpu, &ones, &[c]);
    let state = BatchNormState {
        running_mean: &rm,
        running_var: &rv,
        momentum: 0.1,
        eps: 1e-5,
    };
    let tape = Tape::no_grad();
    let xv = tape.leaf(tensor(&gpu, &x, &[n, c, h, w]), false);
    let g = tape.leaf(tensor(&gpu, &ones, &[c]), false);
    let b = tape.leaf(tensor(&gpu, &zeros, &[c]), false);
    let y = ops::batch_norm(&tape, &xv, &g, &b, &state, true).unwrap();
    let want = bn_cpu::batch_norm_train(&to64(&x), n, c, h * w, &[1.0; 3], &[0.0; 3], 1e-5).0;
    assert_close(
        "batch_norm large",
        &y.value.to_vec().unwrap(),
        &want,
        1e-4,
        1e-4,
    );
}

#[test]
fn dropout_matches_reference_mask_and_gradient() {
    let gpu = gpu();
    let mut rng = Rng::new(41);
    let n = 3 * 7 * 9 * 5;
    let x = rng.vec(n);
    let (p, seed) = (0.5f32, 1234u32);
    let tape = Tape::new();
    let xv = tape.leaf(tensor(&gpu, &x, &[3, 7, 9, 5]), true);
    let y = ops::dropout(&tape, &xv, p, seed, true).unwrap();
    let want = ops::dropout::cpu::dropout(&to64(&x), p, seed);
    let got = y.value.to_vec().unwrap();
    assert_close("dropout forward", &got, &want, 0.0, 1e-6);
    let kept = got.iter().filter(|v| **v != 0.0).count() as f64 / n as f64;
    assert!((kept - 0.5).abs() < 0.06, "kept fraction {kept}");
    let r = rng.vec(n);
    let g = grads(&tape, &y, &r, &[&xv]);
    let num = numeric_grad(
        |x| ops::dropout::cpu::dropout(x, p, seed),
        &to64(&x),
        &to64(&r),
        H,
    );
    assert_close("dropout backward", &g[0], &num, GRAD_ATOL, GRAD_RTOL);
    // Inference mode is the identity; another seed gives another mask.
    let same = ops::dropout(&tape, &xv, p, seed, false).unwrap();
    assert_eq!(same.value.to_vec().unwrap(), x);
    let other = ops::dropout(&tape, &xv, p, seed + 1, true).unwrap();
    assert_ne!(other.value.to_vec().unwrap(), got);
}

#[test]
fn bce_with_logits_matches_reference_and_gradient() {
    let gpu = gpu();
    let mut rng = Rng::new(51);
    let n = 300;
    // Logits up to +-40 exercise the stable form; targets are 0/1 and soft.
    let x: Vec<f32> = rng.vec(n).iter().map(|v| 40.0 * v * v * v).collect();
    let t: Vec<f32> = (0..n)
        .map(|i| match i % 3 {
            0 => 0.0,
            1 => 1.0,
            _ => 0.5 + 0.5 * rng.uniform(),
        })
        .collect();
    let tape = Tape::new();
    let xv = tape.leaf(tensor(&gpu, &x, &[n]), true);
    let tt = tensor(&gpu, &t, &[n]);
    let loss = ops::binary_cross_entropy_with_logits(&tape, &xv, &tt).unwrap();
    let t64 = to64(&t);
    let want = ops::loss::cpu::bce_with_logits(&to64(&x), &t64);
    assert_close(
        "bce forward",
        &loss.value.to_vec().unwrap(),
        &[want],
        1e-5,
        1e-5,
    );
    let g = tape.backward(&loss, &[&xv]).unwrap();
    let num = numeric_grad(
        |x| vec![ops::loss::cpu::bce_with_logits(x, &t64)],
        &to64(&x),
        &[1.0],
        H,
    );
    assert_close(
        "bce backward",
        &g.get(&xv).unwrap().to_vec().unwrap(),
        &num,
        1e-6,
        1e-3,
    );
}

#[test]
fn reductions_match_reference_and_gradients() {
    let gpu = gpu();
    let mut rng = Rng::new(61);
    // Channel planes shorter than, equal to and longer than the 256 lanes that walk them;
    // the last two in whole vec4s (the vec4 form): 4 values a plane in 700 rows, 257 vec4s a
    // plane.
    for (o, c, i) in [
        (700, 3, 1),
        (3, 2, 256),
        (2, 3, 301),
        (700, 3, 4),
        (5, 3, 1028),
    ] {
        let x = rng.vec(o * c * i);
        let got = ops::reduce::channel_sum(&tensor(&gpu, &x, &[o, c, i]), o, c, i).unwrap();
        let want = ops::reduce::cpu::channel_sum(&to64(&x), o, c, i);
        let what = format!("channel_sum {o}x{c}x{i}");
        assert_close(&what, &got.to_vec().unwrap(), &want, 1e-4, 1e-5);
    }
    let (o, c, i) = (3, 5, 211);
    let x = rng.vec(o * c * i);
    let got = ops::reduce::channel_sum(&tensor(&gpu, &x, &[o, c, i]), o, c, i).unwrap();
    let want = ops::reduce::cpu::channel_sum(&to64(&x), o, c, i);
    assert_close("channel_sum", &got.to_vec().unwrap(), &want, 1e-4, 1e-5);

    let tape = Tape::new();
    let xv = tape.leaf(tensor(&gpu, &x, &[o, c, i]), true);
    let s = ops::sum(&tape, &xv).unwrap();
    let m = ops::mean(&tape, &xv).unwrap();
    let total: f64 = to64(&x).iter().sum();
    assert_close("sum", &s.value.to_vec().unwrap(), &[total], 1e-4, 1e-5);
    let mean = total / x.len() as f64;
    assert_close("mean", &m.value.to_vec().unwrap(), &[mean], 1e-6, 1e-5);
    let gs = tape.backward(&s, &[&xv]).unwrap();
    assert!(gs
        .get(&xv)
        .unwrap()
        .to_vec()
        .unwrap()
        .iter()
        .all(|&v| v == 1.0));
    let gm = tape.backward(&m, &[&xv]).unwrap();
    let want = 1.0 / x.len() as f32;
    assert!(gm
        .get(&xv)
        .unwrap()
        .to_vec()
        .unwrap()
        .iter()
        .all(|&v| v == want));
}

#[test]
fn reshape_shares_the_buffer() {
    let gpu = gpu();
    let t = Tensor::from_slice(&gpu, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
    let r = t.reshape(&[3, 2]).unwrap();
    assert!(r.same_storage(&t));
    assert_eq!(r.shape(), [3, 2]);
    assert_eq!(r.to_vec().unwrap(), t.to_vec().unwrap());
    assert!(t.reshape(&[4, 2]).is_err());
}

/// A step's report record (losses, D and G scores) lands in its own slot of the ring and
/// nowhere else, with the scores of the f64 definition; logits past one workgroup's 256, and
/// large ones (where a naive sigmoid overflows).
#[test]
fn step_scores_fill_their_ring_slot_with_the_reference_values() {
    use dcgan::ops::scores::{cpu, step_scores, RECORD};
    let gpu = gpu();
    let mut rng = Rng::new(77);
    let n = 300;
    let mut real: Vec<f32> = rng.vec(n).iter().map(|v| v * 6.0).collect();
    real[7] = 120.0;
    let mut fake: Vec<f32> = rng.vec(n).iter().map(|v| v * 6.0).collect();
    fake[11] = -120.0;
    let slots = 8;
    let ring = Tensor::zeros(&gpu, &[slots, RECORD]).unwrap();
    let (d, g) = (tensor(&gpu, &[0.75], &[1]), tensor(&gpu, &[1.5], &[1]));
    let (rt, ft) = (tensor(&gpu, &real, &[n]), tensor(&gpu, &fake, &[n]));
    step_scores(&rt, &ft, &d, &g, &ring, 5).unwrap();
    step_scores(&ft, &rt, &g, &d, &ring, 0).unwrap();
    let got = ring.to_vec().unwrap();
    let mut want = vec![0.0f64; slots * RECORD];
    want[5 * RECORD..6 * RECORD].copy_from_slice(&cpu::step_scores(
        &to64(&real),
        &to64(&fake),
        0.75,
        1.5,
    ));
    want[..RECORD].copy_from_slice(&cpu::step_scores(&to64(&fake), &to64(&real), 1.5, 0.75));
    assert_close("step scores ring", &got, &want, ATOL, RTOL);
    assert!(step_scores(&rt, &ft, &d, &g, &ring, slots).is_err());
}

/// A CPU adapter runs kernels with denormals flushed (src/gpu/fpenv.rs): an x86 core takes a
/// microcode assist for each denormal operand or result, which made a conv 37 times slower on
/// lavapipe. Products of 1e-20 and 1e-20 are 1e-40, below f32's smallest normal: flushed, each
/// is 0 and so is their sum; kept, 256 of them add up to about 2.56e-38. Enough rows and
/// columns for several workgroups, so that lavapipe's thread pool, not only its queue thread,
/// computes them. The calling thread's own arithmetic keeps its denormals.
#[test]
fn cpu_adapters_flush_denormals_and_the_caller_keeps_its_own() {
    let gpu = gpu();
    let n = 256;
    let a = tensor(&gpu, &vec![1e-20; n * n], &[n, n]);
    let c = ops::linear::matmul(&a, &a).unwrap().to_vec().unwrap();
    let cpu = gpu.info().device_type == wgpu::DeviceType::Cpu;
    if cpu && cfg!(target_arch = "x86_64") {
        assert!(
            c.iter().all(|&v| v == 0.0),
            "denormal products were kept: {:e}",
            c[0]
        );
    } else {
        // Elsewhere the hardware decides: flushed, or the exact sum.
        for &v in &c {
            assert!(v == 0.0 || (v - 2.56e-38).abs() < 1e-40, "{v:e}");
        }
    }
    let tiny = std::hint::black_box(1e-20f32) * std::hint::black_box(1e-20f32);
    assert!(tiny > 0.0, "the caller's thread flushes denormals now");
}
