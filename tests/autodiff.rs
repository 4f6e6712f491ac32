//! The tape: gradient accumulation, pruning to what is asked for, no-grad mode, and
//! bit-identical results for the same seed.

mod common;

use common::*;
use dcgan::ops::batch_norm::BatchNormState;
use dcgan::ops::{self, Conv2dOptions};
use dcgan::{Param, Tape, Tensor};

#[test]
fn a_parameter_used_twice_accumulates_both_gradients() {
    let gpu = gpu();
    let mut rng = Rng::new(71);
    let w = Param::new("w", tensor(&gpu, &rng.vec(4 * 3), &[4, 3]));
    let a = rng.vec(2 * 3);
    let b = rng.vec(2 * 3);
    let tape = Tape::new();
    let wv = tape.param(&w);
    assert_eq!(tape.param(&w).id, wv.id, "one leaf per parameter per tape");
    let ya = ops::linear(
        &tape,
        &tape.leaf(tensor(&gpu, &a, &[2, 3]), false),
        &wv,
        None,
    )
    .unwrap();
    let yb = ops::linear(
        &tape,
        &tape.leaf(tensor(&gpu, &b, &[2, 3]), false),
        &wv,
        None,
    )
    .unwrap();
    let la = ops::sum(&tape, &ya).unwrap();
    let lb = ops::sum(&tape, &yb).unwrap();
    let ga = tape.backward(&la, &[&wv]).unwrap();
    let gb = tape.backward(&lb, &[&wv]).unwrap();
    let both = ops::elementwise::add_vars(&tape, &la, &lb).unwrap();
    let gboth = tape.backward(&both, &[&wv]).unwrap();
    let ga = ga.get(&wv).unwrap().to_vec().unwrap();
    let gb = gb.get(&wv).unwrap().to_vec().unwrap();
    let gboth = gboth.get(&wv).unwrap().to_vec().unwrap();
    // d/dW sum(x W^T) puts the column sums of x in every row of W.
    for o in 0..4 {
        for k in 0..3 {
            let i = o * 3 + k;
            assert!((ga[i] - (a[k] + a[3 + k])).abs() < 1e-5);
            assert!((gb[i] - (b[k] + b[3 + k])).abs() < 1e-5);
            assert!((gboth[i] - (ga[i] + gb[i])).abs() < 1e-5, "accumulated");
        }
    }
}

#[test]
fn backward_only_differentiates_towards_what_is_asked() {
    let gpu = gpu();
    let mut rng = Rng::new(72);
    let tape = Tape::new();
    let x = tape.leaf(tensor(&gpu, &rng.vec(6), &[2, 3]), true);
    let w1 = tape.leaf(tensor(&gpu, &rng.vec(12), &[4, 3]), true);
    let w2 = tape.leaf(tensor(&gpu, &rng.vec(8), &[2, 4]), true);
    let h = ops::relu(&tape, &ops::linear(&tape, &x, &w1, None).unwrap()).unwrap();
    let y = ops::linear(&tape, &h, &w2, None).unwrap();
    let loss = ops::sum(&tape, &y).unwrap();
    let g = tape.backward(&loss, &[&w2]).unwrap();
    assert!(g.get(&w2).is_some());
    assert!(g.get(&w1).is_none(), "w1 was not asked for");
    assert!(g.get(&x).is_none());
    // The same tape serves a second backward for another target.
    let g = tape.backward(&loss, &[&w1, &x]).unwrap();
    assert!(g.get(&w1).is_some() && g.get(&x).is_some());
}

#[test]
fn no_grad_mode_records_nothing() {
    let gpu = gpu();
    let tape = Tape::no_grad();
    let x = tape.leaf(tensor(&gpu, &[1.0, -2.0, 3.0], &[1, 3]), true);
    assert!(!x.requires_grad);
    let y = ops::tanh(&tape, &x).unwrap();
    assert!(!y.requires_grad);
    assert!(tape.is_empty());
    let loss = ops::sum(&tape, &y).unwrap();
    assert!(tape.backward(&loss, &[&x]).unwrap().get(&x).is_none());
}

/// A small discriminator-like step: dropout, conv, batch norm, leaky ReLU, conv, BCE.
fn step(seed: u64) -> (Vec<u32>, Vec<u32>) {
    let gpu = gpu();
    let mut rng = Rng::new(seed);
    let w1 = Param::new("w1", tensor(&gpu, &rng.vec(8 * 3 * 25), &[8, 3, 5, 5]));
    let w2 = Param::new("w2", tensor(&gpu, &rng.vec(8 * 16), &[1, 8, 4, 4]));
    let g = Param::new("g", Tensor::full(&gpu, 1.0, &[8]).unwrap());
    let b = Param::new("b", Tensor::zeros(&gpu, &[8]).unwrap());
    let rm = Tensor::zeros(&gpu, &[8]).unwrap();
    let rv = Tensor::full(&gpu, 1.0, &[8]).unwrap();
    let x = tensor(&gpu, &rng.vec(4 * 3 * 8 * 8), &[4, 3, 8, 8]);
    let t = tensor(&gpu, &[1.0, 0.0, 1.0, 0.0], &[4]);
    let tape = Tape::new();
    let (w1v, w2v, gv, bv) = (
        tape.param(&w1),
        tape.param(&w2),
        tape.param(&g),
        tape.param(&b),
    );
    let h = ops::dropout(&tape, &tape.leaf(x, false), 0.5, 99, true).unwrap();
    let h = ops::conv2d(&tape, &h, &w1v, None, Conv2dOptions::same(8, 8, 5, 2)).unwrap();
    let state = BatchNormState {
        running_mean: &rm,
        running_var: &rv,
        momentum: 0.1,
        eps: 1e-5,
    };
    let h = ops::batch_norm(&tape, &h, &gv, &bv, &state, true).unwrap();
    let h = ops::leaky_relu(&tape, &h, 0.2).unwrap();
    let y = ops::conv2d(&tape, &h, &w2v, None, Conv2dOptions::valid(1)).unwrap();
    let loss = ops::binary_cross_entropy_with_logits(&tape, &y, &t).unwrap();
    let grads = tape.backward(&loss, &[&w1v]).unwrap();
    let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
    (
        bits(loss.value.to_vec().unwrap()),
        bits(grads.get(&w1v).unwrap().to_vec().unwrap()),
    )
}

#[test]
fn the_same_seed_gives_bit_identical_results() {
    let a = step(81);
    let b = step(81);
    assert_eq!(a, b);
    let c = step(82);
    assert_ne!(a.1, c.1);
}
