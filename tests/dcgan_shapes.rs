//! The conv primitives at every DCGAN layer's real shape (batch 2): the subgroup kernels (the
//! fast path), the portable kernels (the plain one), the row-window kernels where a run on
//! them takes them (long runs; bit for bit the subgroup kernels' results), the shared-memory
//! kernels (for GPUs), the narrow (3-channel layers) and whole-plane (G's first layer, D's
//! last conv) input-gradient kernels with the paths they replace on CPU adapters, and for D's
//! logit layer the dense-layer kernels and the register kernels they replace, against an f64
//! reference written from the definition, and against each other, to 1e-4 of the output's
//! largest magnitude.

mod common;

use common::*;
use dcgan::ops::conv::{
    forward, forward_with, input_grad, input_grad_auto, input_grad_auto_general, input_grad_with,
    weight_grad, weight_grad_with, ForwardPath, Geometry, InputGradPath, WeightGradPath,
};
use dcgan::ops::Conv2dOptions;
use dcgan::{Gpu, Tensor};

const BATCH: usize = 2;
const REL: f64 = 1e-4;

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

fn assert_rel(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = max_abs(want);
    let (i, err) = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| {
            assert!(g.is_finite(), "{what}: {g}");
            (g as f64 - w).abs()
        })
        .enumerate()
        .fold((0, 0.0), |b, (i, e)| if e > b.1 { (i, e) } else { b });
    assert!(
        err <= REL * scale,
        "{what}: element {i} off by {err:e}, over {REL} x the largest magnitude {scale:e}"
    );
}

/// One adapter for all layers of a test: each new device would compile every kernel again.
/// Returns whether the row-window input gradient was among the kernels checked.
fn check(gpu: &Gpu, name: &str, g: &Geometry, seed: u64) -> bool {
    let mut rng = Rng::new(seed);
    let xs = [g.batch, g.cin, g.h, g.w];
    let ws = [g.cout, g.cin, g.kh, g.kw];
    let ys = [g.batch, g.cout, g.oh, g.ow];
    let x = rng.vec(xs.iter().product());
    let w = rng.vec(ws.iter().product());
    let dy = rng.vec(ys.iter().product());
    let want = conv_reference(g, &to64(&x), &to64(&w), &to64(&dy));
    // x, w and dy on the device, for the kernel family now set.
    let upload = || {
        (
            Tensor::from_slice(gpu, &x, &xs).unwrap(),
            Tensor::from_slice(gpu, &w, &ws).unwrap(),
            Tensor::from_slice(gpu, &dy, &ys).unwrap(),
        )
    };
    let mut dx_rows = false;
    let mut families = vec![false];
    if gpu.subgroup_size().is_some() {
        families.insert(0, true);
    }
    let mut results: Vec<[Vec<f32>; 3]> = Vec::new();
    for &subgroups in &families {
        gpu.set_subgroups(subgroups);
        let (xt, wt, dyt) = upload();
        let got = [
            forward(&xt, &wt, None, g).unwrap().to_vec().unwrap(),
            input_grad(&dyt, &wt, None, g).unwrap().to_vec().unwrap(),
            weight_grad(&dyt, &xt, g).unwrap().to_vec().unwrap(),
        ];
        for (k, prim) in ["forward", "input_grad", "weight_grad"].iter().enumerate() {
            assert_rel(
                &format!("{name} {prim} (subgroups {subgroups}) vs f64"),
                &got[k],
                &want[k],
            );
        }
        results.push(got);
    }
    // The shared-memory kernels (for GPUs), on whatever adapter runs the tests.
    gpu.set_subgroups(true);
    let (xt, wt, dyt) = upload();
    let tiled = [
        forward_with(&xt, &wt, None, None, g, ForwardPath::SharedTiles),
        input_grad_with(&dyt, &wt, None, None, g, InputGradPath::SharedTiles),
        weight_grad_with(&dyt, &xt, g, WeightGradPath::SharedTiles),
    ];
    for (k, (prim, got)) in ["forward", "input_grad", "weight_grad"]
        .iter()
        .zip(tiled)
        .enumerate()
    {
        let got = got.unwrap().to_vec().unwrap();
        assert_rel(
            &format!("{name} {prim} (shared tiles) vs f64"),
            &got,
            &want[k],
        );
        assert_rel(
            &format!("{name} {prim}: shared tiles vs register kernel"),
            &got,
            &to64(&results[0][k]),
        );
    }
    // The row-window kernels (long runs, subgroup adapters) wherever a run on them takes them
    // at this layer: the same products in the same order as the flat register kernels, so
    // equal to them bit for bit. Such a run takes the narrow, whole-plane or dense kernel for
    // the input gradient of the 3-channel layers, G's first and D's last two: the row-window
    // input gradient there is a path no run uses, whose fully unrolled phases (25 taps at G's
    // first layer) took about a third of this file's cold compile; conv.rs tests it at small
    // odd shapes.
    if gpu.subgroup_size().is_some() {
        gpu.set_row_windows(true);
        dx_rows = input_grad_auto(gpu, g) == InputGradPath::RowWindows;
        gpu.set_row_windows(false);
        for (k, prim) in ["forward", "input_grad", "weight_grad"].iter().enumerate() {
            let (got, flat) = match k {
                0 => (
                    forward_with(&xt, &wt, None, None, g, ForwardPath::RowWindows),
                    forward_with(&xt, &wt, None, None, g, ForwardPath::Registers),
                ),
                1 if dx_rows => (
                    input_grad_with(&dyt, &wt, None, None, g, InputGradPath::RowWindows),
                    input_grad_with(&dyt, &wt, None, None, g, InputGradPath::Direct),
                ),
                1 => continue,
                _ => (
                    weight_grad_with(&dyt, &xt, g, WeightGradPath::RowWindows),
                    weight_grad_with(&dyt, &xt, g, WeightGradPath::Registers),
                ),
            };
            // 4 x 4 -> 1 (D's logit) has no block of 4 pixels nor an even output width; every
            // other layer has both.
            let Ok(got) = got else {
                assert!(g.oh * g.ow == 1, "{name} {prim}: no row-window kernel");
                continue;
            };
            let got = got.to_vec().unwrap();
            assert_rel(
                &format!("{name} {prim} (row windows) vs f64"),
                &got,
                &want[k],
            );
            assert!(
                got == flat.unwrap().to_vec().unwrap(),
                "{name} {prim}: row windows differ from the flat kernel"
            );
        }
    }
    // On CPU adapters the 3-channel layers' input gradient (G's last transposed conv, D's
    // first conv) runs on the narrow kernel, and G's first transposed conv and D's last conv's
    // on the whole-plane kernel: the path each replaces there (GEMM + col2im, or the direct
    // kernel), which GPUs take, at the real shape too.
    let auto = input_grad_auto(gpu, g);
    let general = input_grad_auto_general(gpu, g);
    if auto != general {
        let got = input_grad_with(&dyt, &wt, None, None, g, general).unwrap();
        assert_rel(
            &format!("{name} input_grad ({general:?}) vs f64"),
            &got.to_vec().unwrap(),
            &want[1],
        );
    }
    // In runs on the row windows the whole-plane kernel takes more channels a lane (4 instead
    // of 1 at the 16 x 16 layers, 8 instead of 4 at the 8 x 8 ones).
    gpu.set_row_windows(true);
    let long_run_planes = (input_grad_auto(gpu, g) == InputGradPath::Planes)
        .then(|| input_grad_with(&dyt, &wt, None, None, g, InputGradPath::Planes));
    gpu.set_row_windows(false);
    if let Some(got) = long_run_planes {
        assert_rel(
            &format!("{name} input_grad (whole planes, a run on the row windows) vs f64"),
            &got.unwrap().to_vec().unwrap(),
            &want[1],
        );
    }
    // D's logit layer runs on the dense-layer kernels by default: the register kernels they
    // replace, at its real shape, on both families.
    if g.is_dense(gpu) {
        for &subgroups in &families {
            gpu.set_subgroups(subgroups);
            let (xt, wt, dyt) = upload();
            let got = [
                forward_with(&xt, &wt, None, None, g, ForwardPath::Registers),
                input_grad_with(&dyt, &wt, None, None, g, InputGradPath::Direct),
                weight_grad_with(&dyt, &xt, g, WeightGradPath::Registers),
            ];
            for (k, got) in got.into_iter().enumerate() {
                let prim = ["forward", "input_grad", "weight_grad"][k];
                let got = got.unwrap().to_vec().unwrap();
                let what = format!("{name} {prim} (register kernels, subgroups {subgroups})");
                assert_rel(&format!("{what} vs f64"), &got, &want[k]);
                assert_rel(&format!("{what} vs dense"), &got, &to64(&results[0][k]));
            }
        }
    }
    if let [fast, plain] = &results[..] {
        for (k, prim) in ["forward", "input_grad", "weight_grad"].iter().enumerate() {
            assert_rel(
                &format!("{name} {prim}: subgroup vs portable kernel"),
                &fast[k],
                &to64(&plain[k]),
            );
        }
    }
    dx_rows
}

#[test]
fn generator_layers_at_dcgan_shapes() {
    let t = Conv2dOptions::same_transposed(5, 2);
    let layers = [
        ("ct1 512x4x4->256x8x8", 512, 4, 256, Conv2dOptions::valid(1)),
        ("ct2 256x8x8->128x16x16", 256, 8, 128, t),
        ("ct3 128x16x16->64x32x32", 128, 16, 64, t),
        ("ct4 64x32x32->3x64x64", 64, 32, 3, t),
    ];
    let gpu = gpu();
    let mut dx_rows = false;
    for (i, (name, cin, n, cout, opts)) in layers.into_iter().enumerate() {
        let g = Geometry::transposed(&[BATCH, cin, n, n], &[cin, cout, 5, 5], opts).unwrap();
        dx_rows |= check(&gpu, name, &g, 100 + i as u64);
    }
    // ct3's forward at least (the row-window input gradient of its conv geometry).
    assert!(dx_rows, "no layer checked the row-window input gradient");
}

#[test]
fn discriminator_layers_at_dcgan_shapes() {
    let layers = [
        ("conv1 3x64x64->64x32x32", 3, 64, 64, 5),
        ("conv2 64x32x32->128x16x16", 64, 32, 128, 5),
        ("conv3 128x16x16->256x8x8", 128, 16, 256, 5),
        ("conv4 256x8x8->512x4x4", 256, 8, 512, 5),
        ("conv5 512x4x4->1", 512, 4, 1, 4),
    ];
    let gpu = gpu();
    let mut dx_rows = false;
    for (i, (name, cin, n, cout, k)) in layers.into_iter().enumerate() {
        let opts = if k == 4 {
            Conv2dOptions::valid(1)
        } else {
            Conv2dOptions::same(n, n, 5, 2)
        };
        let g = Geometry::conv(&[BATCH, cin, n, n], &[cout, cin, k, k], opts).unwrap();
        dx_rows |= check(&gpu, name, &g, 200 + i as u64);
    }
    // conv2's at least.
    assert!(dx_rows, "no layer checked the row-window input gradient");
}

/// In inference mode on a tape that records nothing (sampling, `dcgan generate`), each batch
/// norm of G runs in the epilogue of the transposed conv before it and each of D's in its
/// conv's: the networks give the bits of the separate passes that a recording tape keeps,
/// one dispatch a layer fewer. The running statistics are first moved off their initial 0 and
/// 1 by training-mode passes, so the fold has something to apply.
#[test]
fn networks_in_inference_mode_fold_batch_norm_into_the_convs() {
    use dcgan::model::{Discriminator, Generator, LATENT};
    use dcgan::nn::init::InitRng;
    use dcgan::Tape;
    let gpu = gpu();
    let mut init = InitRng::new(5);
    let (g, d) = (
        Generator::new(&gpu, &mut init).unwrap(),
        Discriminator::new(&gpu, &mut init).unwrap(),
    );
    let z = tensor(&gpu, &Rng::new(77).vec(BATCH * LATENT), &[BATCH, LATENT]);
    for seed in 0..2 {
        let tape = Tape::new();
        let fake = g
            .forward(&tape, &tape.leaf(z.clone(), false), true)
            .unwrap();
        d.forward(&tape, &fake, true, seed).unwrap();
    }
    // (images, logits, dispatches) in inference mode on `tape`.
    let infer = |tape: &Tape| {
        gpu.reset_stats();
        let images = g
            .forward(tape, &tape.leaf(z.clone(), false), false)
            .unwrap();
        let logits = d.forward(tape, &images, false, 0).unwrap();
        let dispatches = gpu.stats().dispatches;
        (
            images.value.to_vec().unwrap(),
            logits.value.to_vec().unwrap(),
            dispatches,
        )
    };
    // GPUs fold by default and CPU adapters do not (`Gpu::batch_norm_fold`): both ways here.
    gpu.set_batch_norm_fold(true);
    let (fused_images, fused_logits, fused_n) = infer(&Tape::no_grad());
    let (pair_images, pair_logits, pair_n) = infer(&Tape::new());
    gpu.set_batch_norm_fold(false);
    let (unfolded_images, unfolded_logits, unfolded_n) = infer(&Tape::no_grad());
    let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
    assert!(
        same(&fused_images, &pair_images),
        "G: the fused batch norms differ from the separate passes"
    );
    assert!(
        same(&fused_logits, &pair_logits),
        "D: the fused batch norms differ from the separate passes"
    );
    assert!(
        same(&unfolded_images, &pair_images) && same(&unfolded_logits, &pair_logits),
        "with the fold off, inference differs from the separate passes"
    );
    assert_eq!(
        unfolded_n, pair_n,
        "with the fold off, the passes are the separate ones"
    );
    // Each of the 6 batch norms: a table in place of the statistics and the apply pass, and
    // with new tensors poisoned (as the tests run), one fill in place of two.
    let per_norm = 1 + gpu.poisons_uninit() as u64;
    assert_eq!(
        fused_n + 6 * per_norm,
        pair_n,
        "dispatches: fused {fused_n}, separate {pair_n}"
    );
    // Something was normalised: the running statistics moved, and the images are not flat.
    let spread = pair_images.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(spread > 0.01, "G's images are flat ({spread})");
}
