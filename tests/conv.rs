//! conv2d and conv_transpose2d: GPU against the CPU reference, finite-difference gradient
//! checks of input, weight and bias, activations fused into the epilogue, and MATLAB's "same"
//! convention pinned down.

mod common;

use common::*;
use dcgan::ops::conv::cpu;
use dcgan::ops::elementwise::{activation, cpu as act_cpu};
use dcgan::ops::{
    conv2d, conv2d_activation, conv_transpose2d, conv_transpose2d_activation, Activation,
    Conv2dOptions,
};
use dcgan::Tape;

const ATOL: f64 = 1e-4;
const RTOL: f64 = 1e-4;
/// Gradients are compared against f64 central differences of the CPU reference.
const GRAD_ATOL: f64 = 2e-4;
const GRAD_RTOL: f64 = 1e-3;

struct Case {
    x: [usize; 4],
    w: [usize; 4],
    opts: Conv2dOptions,
    bias: bool,
}

/// Checks a case on every kernel family the adapter has: the subgroup kernels where offered,
/// and always the portable ones.
fn run(case: &Case, transposed: bool, seed: u64, gradcheck: bool) {
    let gpu = gpu();
    if gpu.subgroup_size().is_some() {
        run_on(&gpu, case, transposed, seed, gradcheck);
    }
    gpu.set_subgroups(false);
    run_on(&gpu, case, transposed, seed, gradcheck);
}

fn run_on(gpu: &dcgan::Gpu, case: &Case, transposed: bool, seed: u64, gradcheck: bool) {
    let gpu = gpu.clone();
    let mut rng = Rng::new(seed);
    let xs = case.x;
    let ws = case.w;
    let x = rng.vec(xs.iter().product());
    let w = rng.vec(ws.iter().product());
    let bch = if transposed { ws[1] } else { ws[0] };
    let b = rng.vec(bch);
    let reference = |x: &[f64], w: &[f64], b: &[f64]| {
        let bias = case.bias.then_some(b);
        if transposed {
            cpu::conv_transpose2d(x, xs, w, ws, bias, case.opts)
        } else {
            cpu::conv2d(x, xs, w, ws, bias, case.opts)
        }
    };
    let (want, ys) = reference(&to64(&x), &to64(&w), &to64(&b));

    let tape = Tape::new();
    let xv = tape.leaf(tensor(&gpu, &x, &xs), true);
    let wv = tape.leaf(tensor(&gpu, &w, &ws), true);
    let bv = tape.leaf(tensor(&gpu, &b, &[bch]), true);
    let bias = case.bias.then_some(&bv);
    let y = if transposed {
        conv_transpose2d(&tape, &xv, &wv, bias, case.opts).unwrap()
    } else {
        conv2d(&tape, &xv, &wv, bias, case.opts).unwrap()
    };
    assert_eq!(y.shape(), ys, "output shape");
    let name = if transposed {
        "conv_transpose2d"
    } else {
        "conv2d"
    };
    assert_close(
        &format!("{name} forward"),
        &y.value.to_vec().unwrap(),
        &want,
        ATOL,
        RTOL,
    );
    if !gradcheck {
        return;
    }
    let r = rng.vec(want.len());
    let r64 = to64(&r);
    let mut wrt = vec![&xv, &wv];
    if case.bias {
        wrt.push(&bv);
    }
    let got = grads(&tape, &y, &r, &wrt);
    let (x64, w64, b64) = (to64(&x), to64(&w), to64(&b));
    let h = 1e-3;
    let nx = numeric_grad(|x| reference(x, &w64, &b64).0, &x64, &r64, h);
    assert_close(&format!("{name} d/dx"), &got[0], &nx, GRAD_ATOL, GRAD_RTOL);
    let nw = numeric_grad(|w| reference(&x64, w, &b64).0, &w64, &r64, h);
    assert_close(&format!("{name} d/dw"), &got[1], &nw, GRAD_ATOL, GRAD_RTOL);
    if case.bias {
        let nb = numeric_grad(|b| reference(&x64, &w64, b).0, &b64, &r64, h);
        assert_close(&format!("{name} d/db"), &got[2], &nb, GRAD_ATOL, GRAD_RTOL);
    }
}

#[test]
fn conv2d_k5_s2_matlab_same_asymmetric_padding() {
    // 8 x 6 input: MATLAB "same" pads 1 top/left and 2 bottom/right.
    let opts = Conv2dOptions::same(8, 6, 5, 2);
    assert_eq!(opts.padding, [1, 2, 1, 2]);
    let case = Case {
        x: [3, 5, 8, 6],
        w: [6, 5, 5, 5],
        opts,
        bias: true,
    };
    run(&case, false, 1, true);
}

#[test]
fn conv2d_k5_s2_same_on_odd_input_pads_symmetric() {
    let opts = Conv2dOptions::same(9, 7, 5, 2);
    assert_eq!(opts.padding, [2, 2, 2, 2]);
    let case = Case {
        x: [2, 3, 9, 7],
        w: [5, 3, 5, 5],
        opts,
        bias: true,
    };
    run(&case, false, 2, true);
}

#[test]
fn conv2d_k3_s1_no_bias() {
    let case = Case {
        x: [2, 3, 7, 5],
        w: [7, 3, 3, 3],
        opts: Conv2dOptions::new(1, [1, 0, 2, 1]),
        bias: false,
    };
    run(&case, false, 3, true);
}

#[test]
fn conv2d_s3_on_an_input_narrower_than_the_stride() {
    // The input gradient runs a grid slice per stride phase: 2 columns give only 2 of the 3
    // column phases, and the row phases of the 8 rows hold 3, 3 and 2 rows. Every input pixel
    // is under some output, so a phase left out shows as a wrong gradient, not a right zero.
    let case = Case {
        x: [2, 3, 8, 2],
        w: [5, 3, 3, 3],
        opts: Conv2dOptions::new(3, [1, 1, 1, 1]),
        bias: true,
    };
    run(&case, false, 31, true);
}

#[test]
fn conv2d_k4_valid_to_one_logit() {
    // The discriminator's last layer: 4 x 4 kernel, no padding, one output channel.
    let case = Case {
        x: [3, 6, 4, 4],
        w: [1, 6, 4, 4],
        opts: Conv2dOptions::valid(1),
        bias: true,
    };
    run(&case, false, 4, true);
}

#[test]
fn conv_transpose2d_of_a_1x1_input_is_a_dense_layer() {
    // A transposed conv from 1 x 1 to its kernel's size (conv_dense.wgsl's input gradient as
    // the forward, its forward as the input gradient): odd batch, channels not multiples of 4.
    let case = Case {
        x: [3, 5, 1, 1],
        w: [5, 3, 4, 4],
        opts: Conv2dOptions::valid(1),
        bias: true,
    };
    run(&case, true, 41, true);
}

#[test]
fn conv2d_spans_many_workgroups() {
    // More output channels than one workgroup's rows and more pixels than its columns.
    let case = Case {
        x: [2, 3, 20, 18],
        w: [70, 3, 5, 5],
        opts: Conv2dOptions::same(20, 18, 5, 2),
        bias: true,
    };
    run(&case, false, 5, false);
}

#[test]
fn conv_transpose2d_k5_s2_matlab_same_cropping() {
    let opts = Conv2dOptions::same_transposed(5, 2);
    assert_eq!(opts.padding, [1, 2, 1, 2]);
    let case = Case {
        x: [3, 5, 4, 3],
        w: [5, 6, 5, 5],
        opts,
        bias: true,
    };
    run(&case, true, 6, true);
}

/// G's last layer in small: a transposed conv onto 3 channels, whose forward CPU adapters run
/// on the narrow kernel (`conv_narrow.wgsl`) with full 4 x 4 blocks.
#[test]
fn conv_transpose2d_onto_three_channels() {
    let case = Case {
        x: [2, 5, 8, 8],
        w: [5, 3, 5, 5],
        opts: Conv2dOptions::same_transposed(5, 2),
        bias: true,
    };
    run(&case, true, 12, true);
}

/// D's first conv in small: 3 input channels, so its input gradient runs on the narrow
/// kernel on CPU adapters (4 x 4 blocks, 12 of them: two workgroups).
#[test]
fn conv2d_from_three_channels_input_gradient() {
    let case = Case {
        x: [2, 3, 16, 24],
        w: [4, 3, 5, 5],
        opts: Conv2dOptions::same(16, 24, 5, 2),
        bias: true,
    };
    run(&case, false, 13, true);
}

/// G's first layer in small: a full stride-1 transposed conv of 4 x 4 planes, which CPU
/// adapters run on the whole-plane kernel (`conv_planes.wgsl`): 4 channels a lane, the second
/// channel group partial.
#[test]
fn conv_transpose2d_of_whole_planes() {
    let case = Case {
        x: [3, 7, 4, 4],
        w: [7, 5, 5, 5],
        opts: Conv2dOptions::valid(1),
        bias: true,
    };
    run(&case, true, 14, true);
}

/// D's last conv in small: MATLAB's "same" padding at stride 2 onto a 4 x 4 output, whose
/// input gradient CPU adapters run on the whole-plane kernel (11 x 11 full planes cropped to
/// 8 x 8, 2 channels a lane, the last group partial).
#[test]
fn conv2d_input_gradient_on_whole_planes() {
    let case = Case {
        x: [2, 5, 8, 8],
        w: [6, 5, 5, 5],
        opts: Conv2dOptions::same(8, 8, 5, 2),
        bias: true,
    };
    run(&case, false, 15, true);
}

/// The whole-plane kernel reads dy as vec4s where a plane is whole vec4s, and the weights where
/// a channel group's are (`VA`, `VB`): G's first layer in small with 12 channels out (both,
/// 4 channels a lane and, in a run on the row windows, 8 with the second group partial), and
/// 3 x 3 planes onto 6 channels (neither), each against the f64 reference and its finite
/// differences.
#[test]
fn conv_transpose2d_of_whole_planes_in_vec4_and_scalar_form() {
    use dcgan::ops::conv::{planes_constants, Geometry};
    let gpu = gpu_with_subgroups("the whole-plane kernel");
    let cases = [
        (
            Case {
                x: [3, 7, 4, 4],
                w: [7, 12, 5, 5],
                opts: Conv2dOptions::valid(1),
                bias: true,
            },
            (1, 1),
        ),
        (
            Case {
                x: [2, 5, 3, 3],
                w: [5, 6, 5, 5],
                opts: Conv2dOptions::valid(1),
                bias: false,
            },
            (0, 0),
        ),
    ];
    for (i, (case, want)) in cases.iter().enumerate() {
        for (rows, ct) in [(false, [4, 4]), (true, [8, 8])] {
            gpu.set_row_windows(rows);
            let g = Geometry::transposed(&case.x, &case.w, case.opts).unwrap();
            let consts = planes_constants(&gpu, &g)
                .unwrap_or_else(|| panic!("case {i}: no whole-plane kernel"))
                .unwrap();
            let get = |name: &str| consts.iter().find(|(k, _)| *k == name).unwrap().1;
            assert_eq!((get("VA"), get("VB")), *want, "case {i}");
            assert_eq!(get("CT"), ct[i], "case {i}, row windows {rows}");
            run_on(&gpu, case, true, 16 + i as u64, true);
        }
    }
}

#[test]
fn conv_transpose2d_k5_s1_no_cropping() {
    // The generator's first transposed conv: 4 x 4 -> 8 x 8.
    let case = Case {
        x: [2, 6, 4, 3],
        w: [6, 3, 5, 5],
        opts: Conv2dOptions::valid(1),
        bias: true,
    };
    run(&case, true, 7, true);
}

#[test]
fn conv_transpose2d_k4_s3_uneven_crop() {
    let case = Case {
        x: [2, 3, 3, 4],
        w: [3, 5, 4, 4],
        opts: Conv2dOptions::new(3, [2, 0, 1, 2]),
        bias: false,
    };
    run(&case, true, 8, true);
}

#[test]
fn conv_transpose2d_spans_many_workgroups() {
    let case = Case {
        x: [2, 70, 6, 5],
        w: [70, 3, 5, 5],
        opts: Conv2dOptions::same_transposed(5, 2),
        bias: true,
    };
    run(&case, true, 9, false);
}

#[test]
fn matlab_same_sizes_match_the_dcgan_layers() {
    for (n, out) in [(64, 32), (32, 16), (16, 8), (8, 4)] {
        let o = Conv2dOptions::same(n, n, 5, 2);
        assert_eq!(o.padding, [1, 2, 1, 2]);
        assert_eq!(o.conv_out(n, n, 5, 5), Some((out, out)));
        let t = Conv2dOptions::same_transposed(5, 2);
        assert_eq!(t.transposed_out(out, out, 5, 5), Some((n, n)));
    }
    assert_eq!(
        Conv2dOptions::valid(1).transposed_out(4, 4, 5, 5),
        Some((8, 8))
    );
    assert_eq!(Conv2dOptions::valid(1).conv_out(4, 4, 4, 4), Some((1, 1)));
}

/// Pins which pixels MATLAB's padding lands on: with a one-hot kernel the output samples
/// the input at a known offset, and taps that fall in the padding read zero.
#[test]
fn matlab_same_padding_lands_top_left_1_bottom_right_2() {
    let gpu = gpu();
    let n = 8;
    let x: Vec<f32> = (0..n * n).map(|i| 1.0 + i as f32).collect();
    let opts = Conv2dOptions::same(n, n, 5, 2);
    let tape = Tape::no_grad();
    let xv = tape.leaf(tensor(&gpu, &x, &[1, 1, n, n]), false);
    let at = |ky: usize, kx: usize| {
        let mut w = vec![0f32; 25];
        w[ky * 5 + kx] = 1.0;
        let wv = tape.leaf(tensor(&gpu, &w, &[1, 1, 5, 5]), false);
        conv2d(&tape, &xv, &wv, None, opts)
            .unwrap()
            .value
            .to_vec()
            .unwrap()
    };
    // Tap (0, 0) reads input (2*oy - 1, 2*ox - 1): row/column 0 of the output is padding.
    let y = at(0, 0);
    assert_eq!(y[0], 0.0);
    assert_eq!(y[4 + 1], x[n + 1]); // out (1,1) <- in (1,1)
    assert_eq!(y[3 * 4 + 3], x[5 * n + 5]); // out (3,3) <- in (5,5)
                                            // Tap (4, 4) reads input (2*oy + 3, ...): out (3, *) reads row 9, the second bottom pad.
    let y = at(4, 4);
    assert_eq!(y[0], x[3 * n + 3]); // out (0,0) <- in (3,3)
    assert_eq!(y[2 * 4 + 2], x[7 * n + 7]); // out (2,2) <- in (7,7)
    assert_eq!(y[3 * 4], 0.0);
    assert_eq!(y[3], 0.0);

    // Transposed: one input pixel at (0, 0) and an all-ones kernel cover full-output rows
    // and columns 0..5; cropping 1 at top/left leaves output rows/columns 0..4.
    let mut xi = vec![0f32; 16];
    xi[0] = 1.0;
    let xt = tape.leaf(tensor(&gpu, &xi, &[1, 1, 4, 4]), false);
    let wt = tape.leaf(tensor(&gpu, &[1.0; 25], &[1, 1, 5, 5]), false);
    let y = conv_transpose2d(&tape, &xt, &wt, None, Conv2dOptions::same_transposed(5, 2)).unwrap();
    assert_eq!(y.shape(), [1, 1, 8, 8]);
    let y = y.value.to_vec().unwrap();
    for r in 0..8 {
        for c in 0..8 {
            let want = if r < 4 && c < 4 { 1.0 } else { 0.0 };
            assert_eq!(y[r * 8 + c], want, "convT output ({r}, {c})");
        }
    }
}

#[test]
fn mismatched_shapes_are_errors_not_panics() {
    let gpu = gpu();
    let tape = Tape::new();
    let x = tape.leaf(tensor(&gpu, &[0.0; 2 * 3 * 4 * 4], &[2, 3, 4, 4]), true);
    let w = tape.leaf(tensor(&gpu, &[0.0; 5 * 2 * 3 * 3], &[5, 2, 3, 3]), true);
    assert!(conv2d(&tape, &x, &w, None, Conv2dOptions::valid(1)).is_err());
    let w = tape.leaf(tensor(&gpu, &[0.0; 5 * 3 * 7 * 7], &[5, 3, 7, 7]), true);
    assert!(conv2d(&tape, &x, &w, None, Conv2dOptions::valid(1)).is_err());
}

/// A conv with an activation in its epilogue, on every kernel family: the forward against the
/// CPU reference; the gradients exactly equal to those of the unfused conv followed by the
/// activation op, and (for the smooth activations) against central differences.
fn run_activation(case: &Case, transposed: bool, seed: u64, act: Activation) {
    let gpu = gpu();
    let families = if gpu.subgroup_size().is_some() {
        vec![true, false]
    } else {
        vec![false]
    };
    for subgroups in families {
        gpu.set_subgroups(subgroups);
        let mut rng = Rng::new(seed);
        let (xs, ws) = (case.x, case.w);
        let x = rng.vec(xs.iter().product());
        let w = rng.vec(ws.iter().product());
        let bch = if transposed { ws[1] } else { ws[0] };
        let b = rng.vec(bch);
        let reference = |x: &[f64], w: &[f64], b: &[f64]| {
            let bias = case.bias.then_some(b);
            let z = if transposed {
                cpu::conv_transpose2d(x, xs, w, ws, bias, case.opts).0
            } else {
                cpu::conv2d(x, xs, w, ws, bias, case.opts).0
            };
            act_cpu::forward(&z, act)
        };
        let what = format!("{act:?} fused (subgroups {subgroups}, transposed {transposed})");
        let run_gpu = |fused: bool| {
            let tape = Tape::new();
            let xv = tape.leaf(tensor(&gpu, &x, &xs), true);
            let wv = tape.leaf(tensor(&gpu, &w, &ws), true);
            let bv = tape.leaf(tensor(&gpu, &b, &[bch]), true);
            let bias = case.bias.then_some(&bv);
            let y = match (fused, transposed) {
                (true, false) => conv2d_activation(&tape, &xv, &wv, bias, case.opts, Some(act)),
                (true, true) => {
                    conv_transpose2d_activation(&tape, &xv, &wv, bias, case.opts, Some(act))
                }
                (false, false) => conv2d(&tape, &xv, &wv, bias, case.opts)
                    .and_then(|z| activation(&tape, &z, act)),
                (false, true) => conv_transpose2d(&tape, &xv, &wv, bias, case.opts)
                    .and_then(|z| activation(&tape, &z, act)),
            }
            .unwrap();
            let r = Rng::new(seed + 1).vec(y.value.numel());
            let mut wrt = vec![&xv, &wv];
            if case.bias {
                wrt.push(&bv);
            }
            (y.value.to_vec().unwrap(), grads(&tape, &y, &r, &wrt), r)
        };
        let (y, g, r) = run_gpu(true);
        let (y_plain, g_plain, _) = run_gpu(false);
        let (x64, w64, b64) = (to64(&x), to64(&w), to64(&b));
        assert_close(
            &format!("{what} forward"),
            &y,
            &reference(&x64, &w64, &b64),
            ATOL,
            RTOL,
        );
        assert_eq!(
            y, y_plain,
            "{what}: forward differs from conv then activation"
        );
        assert_eq!(
            g, g_plain,
            "{what}: gradients differ from conv then activation"
        );
        if matches!(act, Activation::Tanh | Activation::Sigmoid) {
            let r64 = to64(&r);
            let h = 1e-3;
            let nx = numeric_grad(|x| reference(x, &w64, &b64), &x64, &r64, h);
            assert_close(&format!("{what} d/dx"), &g[0], &nx, GRAD_ATOL, GRAD_RTOL);
            let nw = numeric_grad(|w| reference(&x64, w, &b64), &w64, &r64, h);
            assert_close(&format!("{what} d/dw"), &g[1], &nw, GRAD_ATOL, GRAD_RTOL);
            let nb = numeric_grad(|b| reference(&x64, &w64, b), &b64, &r64, h);
            assert_close(&format!("{what} d/db"), &g[2], &nb, GRAD_ATOL, GRAD_RTOL);
        }
    }
}

#[test]
fn conv2d_with_fused_activations() {
    let case = Case {
        x: [3, 5, 8, 6],
        w: [6, 5, 5, 5],
        opts: Conv2dOptions::same(8, 6, 5, 2),
        bias: true,
    };
    run_activation(&case, false, 41, Activation::LeakyRelu(0.2));
    run_activation(&case, false, 42, Activation::Relu);
    run_activation(&case, false, 43, Activation::Sigmoid);
}

#[test]
fn conv_transpose2d_with_fused_activations() {
    let case = Case {
        x: [2, 6, 4, 3],
        w: [6, 3, 5, 5],
        opts: Conv2dOptions::same_transposed(5, 2),
        bias: true,
    };
    run_activation(&case, true, 44, Activation::Tanh);
    run_activation(&case, true, 45, Activation::LeakyRelu(0.2));
}

#[test]
fn conv_refuses_to_fuse_a_negative_slope() {
    let gpu = gpu();
    let tape = Tape::new();
    let x = tape.leaf(tensor(&gpu, &[0.5; 2 * 3 * 4 * 4], &[2, 3, 4, 4]), true);
    let w = tape.leaf(tensor(&gpu, &[0.1; 2 * 3 * 3 * 3], &[2, 3, 3, 3]), true);
    let act = Some(Activation::LeakyRelu(-0.5));
    assert!(conv2d_activation(&tape, &x, &w, None, Conv2dOptions::valid(1), act).is_err());
}

/// The input gradient by every path (direct per-phase kernel, GEMM + col2im in both GEMM
/// orientations, the shared-memory tiles, and on subgroup adapters the narrow and whole-plane
/// kernels where they apply), with bias and a fused activation, against the f64 definition.
/// (x, w, options, whether the narrow kernel serves the input gradient, whether the whole-plane
/// kernel does) of the input-gradient tests.
type DxCase = ([usize; 4], [usize; 4], Conv2dOptions, bool, bool);

fn input_grad_cases() -> [DxCase; 10] {
    // (x, w, options, whether the narrow kernel (at most 4 dx channels, dx a multiple of the
    // stride) serves it, whether the whole-plane kernel (every dx pixel inside the full
    // transposed conv's plane, dy at most 64 pixels) does)
    [
        // few input channels, stride 2, MATLAB's asymmetric padding: taps < output pixels;
        // narrow blocks of 2 x 1 pixels a phase
        (
            [3, 3, 10, 8],
            [7, 3, 5, 5],
            Conv2dOptions::same(10, 8, 5, 2),
            true,
            true,
        ),
        // stride 1 "valid": dy much smaller than dx, taps > output pixels; whole planes, 3
        // channel groups of 4, the last partial
        (
            [2, 9, 6, 7],
            [5, 9, 5, 5],
            Conv2dOptions::valid(1),
            false,
            true,
        ),
        // stride 3, uneven padding
        (
            [2, 4, 11, 9],
            [6, 4, 4, 3],
            Conv2dOptions::new(3, [2, 1, 0, 2]),
            false,
            true,
        ),
        // a single output pixel
        (
            [3, 5, 4, 4],
            [2, 5, 4, 4],
            Conv2dOptions::valid(1),
            false,
            true,
        ),
        // k 2, stride 3: the phases at offset 2 get no taps at all (dx is the bias there)
        // (and the taps miss dx's last 2 columns: no whole planes)
        (
            [2, 3, 8, 7],
            [4, 3, 2, 2],
            Conv2dOptions::valid(3),
            false,
            false,
        ),
        // more input channels and phase pixels than one 64 x 64 shared-memory tile holds, and
        // a depth (cout x the phase's taps) that is no multiple of its 16-deep slabs
        (
            [3, 67, 13, 11],
            [9, 67, 3, 3],
            Conv2dOptions::new(2, [1, 1, 0, 2]),
            false,
            true,
        ),
        // the narrow kernel's full 4 x 4 blocks (8 x 8 pixels), 18 of them: 3 workgroups
        // (dy of 96 pixels: no whole planes)
        (
            [3, 3, 16, 24],
            [5, 3, 5, 5],
            Conv2dOptions::same(16, 24, 5, 2),
            true,
            false,
        ),
        // 4 channels (its most), 3 x 3 kernel, padding 2 on top and none on the left: blocks
        // of 4 x 2
        (
            [2, 4, 12, 8],
            [6, 4, 3, 3],
            Conv2dOptions::new(2, [2, 1, 0, 2]),
            true,
            true,
        ),
        // stride 1 (one phase), 4 x 4 blocks
        (
            [2, 2, 8, 12],
            [3, 2, 3, 3],
            Conv2dOptions::new(1, [1, 1, 1, 1]),
            true,
            false,
        ),
        // whole planes at stride 2, 10 images: two workgroups of lanes
        (
            [10, 6, 9, 7],
            [4, 6, 3, 3],
            Conv2dOptions::valid(2),
            false,
            true,
        ),
    ]
}

#[test]
fn input_gradient_paths_agree_with_the_reference() {
    use dcgan::ops::conv::{input_grad_with, Geometry, InputGradPath};
    let gpu = gpu();
    let cases = input_grad_cases();
    let mut families = vec![false];
    if gpu.subgroup_size().is_some() {
        families.push(true);
    }
    for (i, (xs, ws, opts, narrow, planes)) in cases.into_iter().enumerate() {
        let g = Geometry::conv(&xs, &ws, opts).unwrap();
        let mut rng = Rng::new(70 + i as u64);
        let w = rng.vec(ws.iter().product());
        let dy = rng.vec(g.batch * g.cout * g.oh * g.ow);
        let bias = rng.vec(g.cin);
        let zeros = vec![0.0; xs.iter().product()];
        let dx = conv_reference(&g, &to64(&zeros), &to64(&w), &to64(&dy))[1].clone();
        let want: Vec<f64> = dx
            .iter()
            .enumerate()
            .map(|(k, v)| (v + bias[(k / (g.h * g.w)) % g.cin] as f64).tanh())
            .collect();
        for &subgroups in &families {
            gpu.set_subgroups(subgroups);
            let mut paths = vec![
                InputGradPath::Direct,
                InputGradPath::Col2im,
                InputGradPath::SharedTiles,
            ];
            if subgroups {
                paths.extend([InputGradPath::Narrow, InputGradPath::Planes]);
            }
            // The whole-plane kernel takes up to 4 times the channels a lane in runs on the row
            // windows (cases 5, 7 and 9: 1 -> 4, 2 -> 8, 4 -> 8, with a partial last group).
            let long_run = [(InputGradPath::Planes, true)];
            let runs = paths
                .into_iter()
                .map(|p| (p, false))
                .chain(long_run.into_iter().filter(|_| subgroups));
            for (path, rows) in runs {
                gpu.set_row_windows(rows);
                let got = input_grad_with(
                    &tensor(&gpu, &dy, &[g.batch, g.cout, g.oh, g.ow]),
                    &tensor(&gpu, &w, &ws),
                    Some(&tensor(&gpu, &bias, &[g.cin])),
                    Some(Activation::Tanh),
                    &g,
                    path,
                );
                gpu.set_row_windows(false);
                let what = format!("case {i} {path:?} (subgroups {subgroups}, rows {rows})");
                let refused = match path {
                    InputGradPath::Narrow => (!narrow).then_some("narrow"),
                    InputGradPath::Planes => (!planes).then_some("whole-plane"),
                    _ => None,
                };
                if let Some(kernel) = refused {
                    let e = got.err().unwrap_or_else(|| panic!("{what}: not refused"));
                    assert!(e.to_string().contains(kernel), "{what}: {e}");
                    continue;
                }
                let got = got.unwrap();
                assert_eq!(got.shape(), xs);
                assert_close(&what, &got.to_vec().unwrap(), &want, ATOL, RTOL);
            }
        }
    }
}

#[test]
fn conv_forward_on_shared_memory_tiles_matches_reference() {
    // The 64 x 64 output tiles with 16-deep k slabs at shapes that fit none of them: channels
    // and pixels not multiples of 64 (and over 64, so tiles are partly filled in both
    // directions), k = cin * kh * kw not a multiple of 16, asymmetric padding, stride 1 and 2,
    // bias, and each epilogue.
    use dcgan::ops::conv::{forward_with, ForwardPath, Geometry};
    let gpu = gpu();
    let cases = [
        (
            [2, 3, 9, 7],
            [5, 3, 5, 5],
            Conv2dOptions::same(9, 7, 5, 2),
            None,
        ),
        (
            [3, 7, 20, 18],
            [70, 7, 3, 3],
            Conv2dOptions::new(1, [1, 0, 2, 1]),
            Some(Activation::LeakyRelu(0.2)),
        ),
        (
            [2, 5, 8, 6],
            [130, 5, 4, 4],
            Conv2dOptions::valid(2),
            Some(Activation::Tanh),
        ),
        (
            [1, 2, 6, 5],
            [3, 2, 3, 3],
            Conv2dOptions::new(2, [0, 2, 1, 0]),
            Some(Activation::Sigmoid),
        ),
    ];
    for (i, (xs, ws, opts, act)) in cases.into_iter().enumerate() {
        let mut rng = Rng::new(400 + i as u64);
        let x = rng.vec(xs.iter().product());
        let w = rng.vec(ws.iter().product());
        let b = rng.vec(ws[0]);
        let g = Geometry::conv(&xs, &ws, opts).unwrap();
        let y = forward_with(
            &tensor(&gpu, &x, &xs),
            &tensor(&gpu, &w, &ws),
            Some(&tensor(&gpu, &b, &[ws[0]])),
            act,
            &g,
            ForwardPath::SharedTiles,
        )
        .unwrap();
        let z = cpu::conv2d(&to64(&x), xs, &to64(&w), ws, Some(&to64(&b)), opts).0;
        let want = match act {
            Some(a) => act_cpu::forward(&z, a),
            None => z,
        };
        assert_close(
            &format!("shared-tile forward, case {i}"),
            &y.to_vec().unwrap(),
            &want,
            ATOL,
            RTOL,
        );
    }
}

/// Fails (never skips) where the adapter has no subgroups, which `what` needs.
fn require_subgroups(gpu: &dcgan::Gpu, what: &str) {
    assert!(
        gpu.subgroup_size().is_some(),
        "{what} need subgroups, which {} does not offer",
        gpu.info().name
    );
}

fn gpu_with_subgroups(what: &str) -> dcgan::Gpu {
    let gpu = gpu();
    require_subgroups(&gpu, what);
    gpu
}

/// (x, w, options) of the weight-gradient tests: outputs 5 x 4 (k5 s2 "same"), 10 x 9 with
/// uneven padding and 70 output channels, rows of 3 at stride 3, and 1 x 1.
fn weight_grad_cases() -> [([usize; 4], [usize; 4], Conv2dOptions); 4] {
    [
        (
            [3, 3, 10, 8],
            [7, 3, 5, 5],
            Conv2dOptions::same(10, 8, 5, 2),
        ),
        (
            [5, 6, 9, 11],
            [70, 6, 3, 4],
            Conv2dOptions::new(1, [1, 0, 2, 1]),
        ),
        (
            [2, 4, 11, 9],
            [3, 4, 4, 3],
            Conv2dOptions::new(3, [2, 1, 0, 2]),
        ),
        ([3, 5, 4, 4], [2, 5, 4, 4], Conv2dOptions::valid(1)),
    ]
}

/// A weight-gradient case's geometry, seeded x and dy, and the f64 reference dw.
fn weight_grad_inputs(
    xs: [usize; 4],
    ws: [usize; 4],
    opts: Conv2dOptions,
    seed: u64,
) -> (dcgan::ops::conv::Geometry, Vec<f32>, Vec<f32>, Vec<f64>) {
    let g = dcgan::ops::conv::Geometry::conv(&xs, &ws, opts).unwrap();
    let mut rng = Rng::new(seed);
    let x = rng.vec(xs.iter().product());
    let dy = rng.vec(g.batch * g.cout * g.oh * g.ow);
    let w0 = vec![0.0; ws.iter().product()];
    let want = conv_reference(&g, &to64(&x), &to64(&w0), &to64(&dy))[2].clone();
    (g, x, dy, want)
}

/// The weight gradient on the register kernels and on the shared-memory tiles (which split
/// the batch into partial sums as well), against the f64 definition: rows (cout) and columns
/// (cin x taps) over one 64 x 64 tile, depths (images x output pixels) no multiple of 16.
#[test]
fn weight_gradient_paths_agree_with_the_reference() {
    use dcgan::ops::conv::{weight_grad_with, WeightGradPath};
    let gpu = gpu();
    let cases = weight_grad_cases();
    let mut families = vec![false];
    if gpu.subgroup_size().is_some() {
        families.push(true);
    }
    for (i, (xs, ws, opts)) in cases.into_iter().enumerate() {
        let (g, x, dy, want) = weight_grad_inputs(xs, ws, opts, 90 + i as u64);
        for &subgroups in &families {
            gpu.set_subgroups(subgroups);
            for path in [WeightGradPath::Registers, WeightGradPath::SharedTiles] {
                let got = weight_grad_with(
                    &tensor(&gpu, &dy, &[g.batch, g.cout, g.oh, g.ow]),
                    &tensor(&gpu, &x, &xs),
                    &g,
                    path,
                )
                .unwrap();
                assert_eq!(got.shape(), ws);
                let what = format!("case {i} {path:?} (subgroups {subgroups})");
                assert_close(&what, &got.to_vec().unwrap(), &want, ATOL, RTOL);
            }
        }
    }
}

/// The subgroup weight gradient with several reduction steps (image, output pixel) a loop
/// iteration (`Gpu::weight_grad_unroll`): the same sums in the same order, so bit for bit the
/// one-step kernel's, including steps that cross rows and images, reduction splits whose
/// length is no multiple of the step (the masked tail) and outputs of one pixel.
#[test]
fn weight_gradient_unrolled_is_the_one_step_kernel_bit_for_bit() {
    use dcgan::ops::conv::{weight_grad_with, WeightGradPath};
    let gpu = gpu_with_subgroups("the unrolled weight gradient");
    let cases = weight_grad_cases();
    for (i, (xs, ws, opts)) in cases.into_iter().enumerate() {
        let (g, x, dy, want) = weight_grad_inputs(xs, ws, opts, 190 + i as u64);
        let run = |ku: u32| {
            gpu.set_weight_grad_unroll(ku);
            weight_grad_with(
                &tensor(&gpu, &dy, &[g.batch, g.cout, g.oh, g.ow]),
                &tensor(&gpu, &x, &xs),
                &g,
                WeightGradPath::Registers,
            )
            .unwrap()
            .to_vec()
            .unwrap()
        };
        let one = run(1);
        assert_close(&format!("case {i}, KU 1"), &one, &want, ATOL, RTOL);
        for ku in [2, 3, 4, 8] {
            let got = run(ku);
            let same = got
                .iter()
                .zip(&one)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "case {i}: KU {ku} differs from KU 1");
        }
        gpu.set_weight_grad_unroll(1);
    }
}

/// (x, w, options) of the row-window weight-gradient tests; the last is refused.
fn weight_grad_row_cases() -> [([usize; 4], [usize; 4], Conv2dOptions); 7] {
    [
        // k5 s2 "same": output 5 x 4 (one block a row), 3 x 5 = 15 kernel rows
        (
            [3, 3, 10, 8],
            [7, 3, 5, 5],
            Conv2dOptions::same(10, 8, 5, 2),
        ),
        // stride 1, asymmetric padding, output 8 x 10 (blocks of 2), 70 output channels
        (
            [5, 6, 9, 10],
            [70, 6, 3, 4],
            Conv2dOptions::new(1, [1, 0, 2, 1]),
        ),
        // stride 3, kernel 4 x 3, output 4 x 4
        (
            [2, 4, 11, 11],
            [3, 4, 4, 3],
            Conv2dOptions::new(3, [2, 1, 0, 2]),
        ),
        // output 8 x 16 (two blocks of 8 a row), 13 images
        (
            [13, 9, 16, 32],
            [11, 9, 5, 5],
            Conv2dOptions::same(16, 32, 5, 2),
        ),
        // 128 channels (a workgroup a kernel row, which needs channels a multiple of the
        // lanes x 4 kernel rows at 8, 16 and 32 lanes: the padded output rows left out), output
        // 4 x 4 from 8 x 8 at k5 s2 "same" (one block a row: the padded columns left out)
        (
            [5, 128, 8, 8],
            [6, 128, 5, 5],
            Conv2dOptions::same(8, 8, 5, 2),
        ),
        // one output row, kernel rows 0 to 3 wholly in the padding (no rows left at all),
        // padded columns on both sides of a 4-wide block
        (
            [3, 128, 1, 4],
            [3, 128, 5, 3],
            Conv2dOptions::new(1, [4, 0, 1, 1]),
        ),
        // odd output width: refused
        ([2, 3, 9, 9], [4, 3, 3, 3], Conv2dOptions::valid(1)),
    ]
}

/// (x, w, options) of the row-window forward and input-gradient tests: the forward runs on x,
/// the input gradient produces a gradient of x.
fn row_window_cases() -> [([usize; 4], [usize; 4], Conv2dOptions); 8] {
    [
        // output 6 x 16 (one-row blocks), input 12 x 32, k5 s2, MATLAB "same"
        (
            [3, 5, 12, 32],
            [7, 5, 5, 5],
            Conv2dOptions::same(12, 32, 5, 2),
        ),
        // output 8 x 8 (two-row blocks for 16 pixels a lane), 12 channels, k3 s1, uneven pad
        (
            [2, 12, 8, 8],
            [12, 12, 3, 3],
            Conv2dOptions::new(1, [1, 1, 2, 0]),
        ),
        // output 4 x 4 from k4 x 3 at stride 2
        (
            [2, 6, 8, 8],
            [9, 6, 4, 3],
            Conv2dOptions::new(2, [1, 2, 0, 1]),
        ),
        // stride 3, output 4 x 4
        (
            [1, 2, 12, 12],
            [3, 2, 3, 3],
            Conv2dOptions::new(3, [0, 2, 1, 0]),
        ),
        // k2 at stride 3: the input gradient's phases at offset 2 get no taps (bias only)
        ([2, 3, 12, 12], [4, 3, 2, 2], Conv2dOptions::valid(3)),
        // input 8 x 32 at stride 2: input-gradient phases of 4 x 16
        (
            [2, 5, 8, 32],
            [7, 5, 5, 5],
            Conv2dOptions::same(8, 32, 5, 2),
        ),
        // output 8 x 2 (blocks of 2 x 8): windows read as f32s, not vec4s
        (
            [2, 3, 8, 2],
            [4, 3, 3, 3],
            Conv2dOptions::new(1, [1, 1, 1, 1]),
        ),
        // a 3 x 7 kernel: the forward reads its weights as f32s (rows of up to 5 from vec4s)
        (
            [2, 3, 8, 16],
            [4, 3, 3, 7],
            Conv2dOptions::new(1, [1, 1, 3, 3]),
        ),
    ]
}

/// The row-window kernels read their windows (and the weight gradient its dy blocks) as vec4s
/// where the blocks and the rows allow it (`VA`, `shaders/conv_io.wgsl`), and as f32s
/// elsewhere; the forward reads a weight row's taps from two vec4s where the kernel is at
/// most 5 wide (`VB`), the weight gradient x as vec4s with dy. The bit-for-bit tests' cases
/// run both forms, as listed here, and D's layers the vec4 forms, from the aligned group that
/// holds each window's first position.
#[test]
fn row_window_kernels_read_vec4s_where_the_rows_allow() {
    use dcgan::ops::conv::{row_window_constants, Geometry, RowWindowPass};
    let gpu = gpu_with_subgroups("the row-window kernels");
    // Constant `name` of each of the `pass` kernel's dispatches.
    let get = |g: &Geometry, pass: RowWindowPass, name: &str| -> Vec<u32> {
        let all = row_window_constants(&gpu, g, pass)
            .unwrap_or_else(|| panic!("{pass:?} {g:?}: no row-window kernel"))
            .unwrap();
        all.iter()
            .map(|c| c.iter().find(|(k, _)| *k == name).map(|kv| kv.1))
            .map(|v| v.unwrap_or_else(|| panic!("{pass:?}: no {name} in {all:?}")))
            .collect()
    };
    let (fwd, dx, wgrad) = (
        RowWindowPass::Forward,
        RowWindowPass::InputGrad,
        RowWindowPass::WeightGrad,
    );
    let vec4_windows = [1, 1, 1, 1, 1, 1, 0, 1];
    // (weights: where they are whole vec4s, 875, 54 and 875 values in cases 0, 3 and 5)
    let vec4_weights = [0, 1, 1, 0, 1, 0, 1, 0];
    for (i, (xs, ws, opts)) in row_window_cases().into_iter().enumerate() {
        let g = Geometry::conv(&xs, &ws, opts).unwrap();
        let want = vec4_windows[i];
        assert_eq!(get(&g, fwd, "VA"), [want], "case {i}: forward");
        assert_eq!(get(&g, fwd, "VB"), [vec4_weights[i]], "case {i}: forward");
        let phases = get(&g, dx, "VA");
        assert!(phases.iter().all(|v| *v == want), "case {i}: {phases:?}");
        assert!(get(&g, dx, "VB").iter().all(|v| *v == 0), "case {i}");
    }
    // The weight gradient's: blocks of 4 or 8 over rows a multiple of 4 wide (cases 0, 3, 4,
    // 5); blocks of 2 (case 1) and 11-wide rows (case 2) as f32s.
    let vec4_cases = [1, 0, 0, 1, 1, 1];
    for (i, (xs, ws, opts)) in weight_grad_row_cases().into_iter().take(6).enumerate() {
        let g = Geometry::conv(&xs, &ws, opts).unwrap();
        let va = (get(&g, wgrad, "VA"), get(&g, wgrad, "VB"));
        assert_eq!(va, (vec![vec4_cases[i]], vec![vec4_cases[i]]), "case {i}");
    }
    // D's layers (5 x 5, stride 2, left padding 1): every window starts at 3 mod 4; the
    // forward's of 35, 19 and 11 positions take 10, 6 and 4 vec4s.
    for (n, cin, cout, nq) in [(32, 64, 128, 10), (16, 128, 256, 6), (8, 256, 512, 4)] {
        let g = Geometry::conv(
            &[128, cin, n, n],
            &[cout, cin, 5, 5],
            Conv2dOptions::same(n, n, 5, 2),
        )
        .unwrap();
        assert_eq!(get(&g, fwd, "VA"), [1], "{n} x {n}");
        assert_eq!(
            (get(&g, fwd, "OFF"), get(&g, fwd, "NQ")),
            (vec![3], vec![nq])
        );
        assert_eq!(get(&g, wgrad, "VA"), [1], "{n} x {n}");
    }
}

/// The row-window weight gradient (whole kernel rows a lane, output columns in blocks of 4 or
/// 2) against the f64 definition and bit for bit against the register kernel: stride 1, 2 and
/// 3, blocks of 4 and of 2, lanes of 2 and 3 kernel rows (`dcgan_shapes` has 4), kernel row
/// counts that leave lanes idle, more output channels than a row tile, reduction splits, taps
/// in the padding; odd widths are refused.
#[test]
fn weight_gradient_on_row_windows_is_the_register_kernels_bit_for_bit() {
    use dcgan::ops::conv::{weight_grad_with, WeightGradPath};
    let gpu = gpu_with_subgroups("the row-window weight gradient");
    let cases = weight_grad_row_cases();
    let refused = cases.len() - 1;
    for (i, (xs, ws, opts)) in cases.into_iter().enumerate() {
        let (g, x, dy, want) = weight_grad_inputs(xs, ws, opts, 290 + i as u64);
        let run = |path| {
            weight_grad_with(
                &tensor(&gpu, &dy, &[g.batch, g.cout, g.oh, g.ow]),
                &tensor(&gpu, &x, &xs),
                &g,
                path,
            )
        };
        let rows = run(WeightGradPath::RowWindows);
        if i == refused {
            let e = rows
                .err()
                .unwrap_or_else(|| panic!("case {i}: not refused"));
            assert!(e.to_string().contains("row-window weight gradient"), "{e}");
            continue;
        }
        assert!(
            g.ow % 2 == 0 && (i != 1 || g.ow % 4 == 2),
            "case {i}: {g:?}"
        );
        let rows = rows.unwrap().to_vec().unwrap();
        assert_close(&format!("case {i}, row windows"), &rows, &want, ATOL, RTOL);
        let flat = run(WeightGradPath::Registers).unwrap().to_vec().unwrap();
        let same = rows
            .iter()
            .zip(&flat)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(
            same,
            "case {i}: row windows differ from the register kernel"
        );
    }
}

/// The row-window forward and weight gradient leave out the taps that land in the padding
/// where the kernel can know them: window positions outside the input where a block spans the
/// output width, and (weight gradient, channels a multiple of a workgroup's kernel rows, at
/// least 1/16 of the (output row, kernel row) pairs padded) the padded output rows of each
/// kernel row. D's layers as the DCGAN runs them (batch 128; the constants do not depend on
/// it), and the cases the bit-for-bit tests run.
#[test]
fn row_window_kernels_leave_out_the_padding_taps_they_can_know() {
    use dcgan::ops::conv::{row_window_constants, Geometry, RowWindowPass};
    let gpu = gpu_with_subgroups("the row-window kernels");
    // Constant `name` of the `pass` kernel (its one dispatch).
    let get = |g: &Geometry, pass: RowWindowPass, name: &str| -> u32 {
        let all = row_window_constants(&gpu, g, pass)
            .unwrap_or_else(|| panic!("{pass:?} {g:?}: no row-window kernel"))
            .unwrap();
        all[0]
            .iter()
            .find(|(k, _)| *k == name)
            .unwrap_or_else(|| panic!("{pass:?}: no {name} in {all:?}"))
            .1
    };
    let (fwd_pass, wgrad_pass) = (RowWindowPass::Forward, RowWindowPass::WeightGrad);
    // (input, channels in, out): D's 5 x 5, stride 2 "same" convs (left padding 1).
    // Forward blocks: 16 x 1 at 16 x 16 outputs, 8 x 2 at 8 x 8, 4 x 4 at 4 x 4, all the
    // output width: windows of 35, 19 and 11 inputs, of which positions 1 to w lie inside.
    // Weight-gradient blocks: 8 columns (two a row at 16 x 16), 8, 4.
    type Case = (usize, usize, usize, (u32, u32), (u32, u32, u32));
    let cases: [Case; 3] = [
        (32, 64, 128, (1, 33), (0, 19, 0)),
        (16, 128, 256, (1, 17), (1, 17, 1)),
        (8, 256, 512, (1, 9), (1, 9, 1)),
    ];
    for (n, cin, cout, fwd, wgrad) in cases {
        let g = Geometry::conv(
            &[128, cin, n, n],
            &[cout, cin, 5, 5],
            Conv2dOptions::same(n, n, 5, 2),
        )
        .unwrap();
        assert_eq!(
            (get(&g, fwd_pass, "XLO"), get(&g, fwd_pass, "XHI")),
            fwd,
            "forward at {n} x {n}"
        );
        let w = (
            get(&g, wgrad_pass, "XLO"),
            get(&g, wgrad_pass, "XHI"),
            get(&g, wgrad_pass, "KYU"),
        );
        assert_eq!(w, wgrad, "weight gradient at {n} x {n}");
    }
    // The bit-for-bit tests' cases: 3 channels (no workgroup a kernel row), then the two with
    // 128 channels, the second a 4-wide window of 6 with padding on both sides.
    let g = Geometry::conv(
        &[3, 3, 10, 8],
        &[7, 3, 5, 5],
        Conv2dOptions::same(10, 8, 5, 2),
    );
    assert_eq!(get(&g.unwrap(), wgrad_pass, "KYU"), 0);
    let g = Geometry::conv(
        &[3, 128, 1, 4],
        &[3, 128, 5, 3],
        Conv2dOptions::new(1, [4, 0, 1, 1]),
    );
    let g = g.unwrap();
    assert_eq!(
        (
            get(&g, wgrad_pass, "XLO"),
            get(&g, wgrad_pass, "XHI"),
            get(&g, wgrad_pass, "KYU")
        ),
        (1, 5, 1)
    );
}

/// The row-window input gradient multiplies by no zero weight: each stride phase is a dispatch
/// of its own, built for that phase's kernel rows and taps in x, so that the phases' taps add
/// up to the kernel's (a phase with no tap in x, stride above the kernel width, keeps one
/// masked tap; one with no kernel row keeps one and runs no iteration).
#[test]
fn row_window_input_gradient_builds_each_stride_phase_for_its_own_taps() {
    use dcgan::ops::conv::{
        input_grad_with, row_window_constants, Geometry, InputGradPath, RowWindowPass,
    };
    let gpu = gpu_with_subgroups("the row-window kernels");
    // (x, w, options, (kernel rows, taps in x) per stride phase, y-major): 5 x 5 at stride 2
    // with MATLAB "same" padding (top and left 1: phase 0 starts at ky = kx = 1), 3 x 3 at
    // stride 2 (padding 1 likewise), 2 x 2 at stride 3 (phase 2 has none, in y and in x).
    type Case = ([usize; 4], [usize; 4], Conv2dOptions, &'static [(u32, u32)]);
    let cases: [Case; 3] = [
        (
            [2, 5, 12, 32],
            [7, 5, 5, 5],
            Conv2dOptions::same(12, 32, 5, 2),
            &[(2, 2), (2, 3), (3, 2), (3, 3)],
        ),
        (
            [1, 4, 8, 8],
            [3, 4, 3, 3],
            Conv2dOptions::new(2, [1, 1, 1, 1]),
            &[(1, 1), (1, 2), (2, 1), (2, 2)],
        ),
        (
            [2, 3, 12, 12],
            [4, 3, 2, 2],
            Conv2dOptions::valid(3),
            &[(1, 1); 9],
        ),
    ];
    for (i, (xs, ws, opts, want)) in cases.into_iter().enumerate() {
        let g = Geometry::conv(&xs, &ws, opts).unwrap();
        let get = |c: &[(&str, u32)], name: &str| c.iter().find(|(k, _)| *k == name).unwrap().1;
        let taps: Vec<(u32, u32)> = row_window_constants(&gpu, &g, RowWindowPass::InputGrad)
            .unwrap_or_else(|| panic!("case {i}: no row-window kernel"))
            .unwrap()
            .iter()
            .map(|c| (get(c, "TY"), get(c, "TX")))
            .collect();
        assert_eq!(
            taps, want,
            "case {i}: (kernel rows, taps in x) per stride phase"
        );
        let dy = tensor(
            &gpu,
            &Rng::new(900 + i as u64).vec(g.batch * g.cout * g.oh * g.ow),
            &[g.batch, g.cout, g.oh, g.ow],
        );
        let w = tensor(
            &gpu,
            &Rng::new(950 + i as u64).vec(ws.iter().product()),
            &ws,
        );
        gpu.sync().unwrap();
        gpu.reset_stats();
        input_grad_with(&dy, &w, None, None, &g, InputGradPath::RowWindows).unwrap();
        gpu.sync().unwrap();
        // Plus the NaN fill of the uninitialised dx where the device poisons new tensors.
        assert_eq!(
            gpu.stats().dispatches,
            want.len() as u64 + u64::from(gpu.poisons_uninit()),
            "case {i}: one dispatch per stride phase"
        );
    }
}

/// The row-window kernels (each lane's pixels a block of one image, taps sharing loaded
/// inputs) against the f64 definition and bit for bit against the flat register kernels,
/// which add the same products in the same order: blocks of one row and of several rows,
/// stride 1, 2 and 3, kernels that are not square, asymmetric padding, channel counts that
/// leave part of a row tile idle, fewer blocks than a workgroup's lanes, and stride phases
/// with no taps. (`dcgan_shapes` covers row tiles of 64 channels and several tiles.)
#[test]
fn row_window_kernels_agree_with_the_reference_and_the_flat_kernels() {
    use dcgan::ops::conv::{forward_with, input_grad_with, ForwardPath, Geometry, InputGradPath};
    let gpu = gpu_with_subgroups("the row-window kernels");
    // (x, w, options): the forward runs on x; the input gradient produces a gradient of x.
    let cases = row_window_cases();
    let (mut forwards, mut input_grads) = (0, 0);
    for (i, (xs, ws, opts)) in cases.into_iter().enumerate() {
        let g = Geometry::conv(&xs, &ws, opts).unwrap();
        let mut rng = Rng::new(500 + i as u64);
        let x = rng.vec(xs.iter().product());
        let w = rng.vec(ws.iter().product());
        let dy = rng.vec(g.batch * g.cout * g.oh * g.ow);
        let (bo, bi) = (rng.vec(g.cout), rng.vec(g.cin));
        let (xt, wt) = (tensor(&gpu, &x, &xs), tensor(&gpu, &w, &ws));
        let dyt = tensor(&gpu, &dy, &[g.batch, g.cout, g.oh, g.ow]);
        let (bot, bit) = (tensor(&gpu, &bo, &[g.cout]), tensor(&gpu, &bi, &[g.cin]));
        let act = Activation::LeakyRelu(0.2);
        let fwd = |path| forward_with(&xt, &wt, Some(&bot), Some(act), &g, path);
        let dx = |path| input_grad_with(&dyt, &wt, Some(&bit), Some(act), &g, path);
        // Every case fits both kernels' blocks (see the last check for one that does not).
        let rows = fwd(ForwardPath::RowWindows)
            .unwrap_or_else(|e| panic!("case {i}: {e}"))
            .to_vec()
            .unwrap();
        let z = cpu::conv2d(&to64(&x), xs, &to64(&w), ws, Some(&to64(&bo)), opts).0;
        let want = act_cpu::forward(&z, act);
        assert_close(
            &format!("row-window forward, case {i}"),
            &rows,
            &want,
            ATOL,
            RTOL,
        );
        let flat = fwd(ForwardPath::Registers).unwrap().to_vec().unwrap();
        assert!(
            rows == flat,
            "case {i}: row-window forward differs from the flat kernel"
        );
        forwards += 1;
        let rows = dx(InputGradPath::RowWindows)
            .unwrap_or_else(|e| panic!("case {i}: {e}"))
            .to_vec()
            .unwrap();
        let zeros = vec![0.0; xs.iter().product()];
        let d = conv_reference(&g, &to64(&zeros), &to64(&w), &to64(&dy))[1].clone();
        let want: Vec<f64> = d
            .iter()
            .enumerate()
            .map(|(k, v)| {
                let z = v + bi[(k / (g.h * g.w)) % g.cin] as f64;
                if z > 0.0 {
                    z
                } else {
                    0.2 * z
                }
            })
            .collect();
        assert_close(
            &format!("row-window input gradient, case {i}"),
            &rows,
            &want,
            ATOL,
            RTOL,
        );
        let flat = dx(InputGradPath::Direct).unwrap().to_vec().unwrap();
        assert!(
            rows == flat,
            "case {i}: row-window input gradient differs from the direct kernel"
        );
        input_grads += 1;
    }
    assert_eq!((forwards, input_grads), (8, 8));
    // Stride phases of 5 x 3 pixels fit no block of 4 or more: an error, not a wrong answer.
    let g = Geometry::conv(
        &[1, 2, 10, 6],
        &[3, 2, 5, 5],
        Conv2dOptions::same(10, 6, 5, 2),
    )
    .unwrap();
    let dy = tensor(
        &gpu,
        &vec![1.0; g.cout * g.oh * g.ow],
        &[1, g.cout, g.oh, g.ow],
    );
    let w = tensor(&gpu, &vec![1.0; 150], &[3, 2, 5, 5]);
    assert!(input_grad_with(&dy, &w, None, None, &g, InputGradPath::RowWindows).is_err());
}

#[test]
fn the_run_length_decides_the_conv_kernels() {
    use dcgan::ops::conv::{row_windows_chosen, ConvKernels, Geometry, ROW_WINDOWS_MIN_IMAGES};
    let gpu = gpu();
    // D's second layer at batch 4: both forward-shaped primitives have row-window kernels.
    let g = Geometry::conv(
        &[4, 64, 32, 32],
        &[128, 64, 5, 5],
        Conv2dOptions::same(32, 32, 5, 2),
    )
    .unwrap();
    assert!(!ConvKernels::Flat.apply(&gpu, u64::MAX));
    assert_eq!(row_windows_chosen(&gpu, &g), (false, false));
    require_subgroups(&gpu, "the row-window kernels");
    assert!(ConvKernels::RowWindows.apply(&gpu, 0));
    assert_eq!(row_windows_chosen(&gpu, &g), (true, true));
    // Auto: DCGAN_CONV_ROWS decides where set; else CPU adapters take the row windows for
    // long runs only (compiling them costs a minute or two there), GPUs keep the flat kernels.
    let cpu = gpu.info().device_type == wgpu::DeviceType::Cpu;
    for (images, long) in [
        (ROW_WINDOWS_MIN_IMAGES, true),
        (ROW_WINDOWS_MIN_IMAGES - 1, false),
    ] {
        let want = dcgan::gpu::row_windows_env().unwrap_or(cpu && long);
        assert_eq!(
            ConvKernels::Auto.apply(&gpu, images),
            want,
            "{images} images"
        );
        assert_eq!(gpu.row_windows(), want);
        assert_eq!(row_windows_chosen(&gpu, &g), (want, want));
    }
}

/// The dense-layer kernels (`conv_dense.wgsl`: a kernel that covers the whole unpadded input,
/// one output pixel, like D's 1-logit layer) against the f64 definition and against the
/// register kernels they replace, with bias and fused activations: batches that leave the
/// last block of 8 images part empty, output channels that leave the weight gradient's
/// last block of 4 part empty, a reduction longer than a workgroup's 64 lanes x 4, and
/// geometries the kernels refuse (padding, more than one output pixel, K not a multiple of 4).
#[test]
fn dense_layer_kernels_agree_with_the_reference() {
    use dcgan::ops::conv::{
        forward_with, input_grad_with, weight_grad_with, ForwardPath, Geometry, InputGradPath,
        WeightGradPath,
    };
    let gpu = gpu();
    let cases: [([usize; 4], [usize; 4]); 4] = [
        ([3, 5, 4, 4], [2, 5, 4, 4]),
        ([11, 7, 2, 2], [5, 7, 2, 2]),
        ([9, 67, 4, 4], [1, 67, 4, 4]),
        ([2, 3, 1, 4], [6, 3, 1, 4]),
    ];
    for (i, (xs, ws)) in cases.into_iter().enumerate() {
        let opts = Conv2dOptions::valid(1);
        let g = Geometry::conv(&xs, &ws, opts).unwrap();
        assert!(g.is_dense(&gpu), "case {i} should be a dense layer");
        let mut rng = Rng::new(500 + i as u64);
        let x = rng.vec(xs.iter().product());
        let w = rng.vec(ws.iter().product());
        let dy = rng.vec(g.batch * g.cout);
        let (bo, bi) = (rng.vec(g.cout), rng.vec(g.cin));
        let zeros_x = vec![0.0; x.len()];
        let zeros_w = vec![0.0; w.len()];
        let (x64, w64, dy64) = (to64(&x), to64(&w), to64(&dy));
        let y = cpu::conv2d(&x64, xs, &w64, ws, Some(&to64(&bo)), opts).0;
        let want_y = act_cpu::forward(&y, Activation::LeakyRelu(0.2));
        let dx = conv_reference(&g, &to64(&zeros_x), &w64, &dy64)[1].clone();
        let hw = g.h * g.w;
        let want_dx: Vec<f64> = dx
            .iter()
            .enumerate()
            .map(|(k, v)| (v + bi[(k / hw) % g.cin] as f64).tanh())
            .collect();
        let want_dw = conv_reference(&g, &x64, &to64(&zeros_w), &dy64)[2].clone();
        let (xt, wt, dyt) = (
            tensor(&gpu, &x, &xs),
            tensor(&gpu, &w, &ws),
            tensor(&gpu, &dy, &[g.batch, g.cout, 1, 1]),
        );
        let (bot, bit) = (tensor(&gpu, &bo, &[g.cout]), tensor(&gpu, &bi, &[g.cin]));
        let fwd = |path| {
            forward_with(
                &xt,
                &wt,
                Some(&bot),
                Some(Activation::LeakyRelu(0.2)),
                &g,
                path,
            )
            .unwrap()
            .to_vec()
            .unwrap()
        };
        let dxg = |path| {
            input_grad_with(&dyt, &wt, Some(&bit), Some(Activation::Tanh), &g, path)
                .unwrap()
                .to_vec()
                .unwrap()
        };
        let dwg = |path| {
            weight_grad_with(&dyt, &xt, &g, path)
                .unwrap()
                .to_vec()
                .unwrap()
        };
        let dense = [
            fwd(ForwardPath::Dense),
            dxg(InputGradPath::Dense),
            dwg(WeightGradPath::Dense),
        ];
        let registers = [
            fwd(ForwardPath::Registers),
            dxg(InputGradPath::Direct),
            dwg(WeightGradPath::Registers),
        ];
        let want = [want_y, want_dx, want_dw];
        for k in 0..3 {
            let prim = ["forward", "input_grad", "weight_grad"][k];
            assert_close(
                &format!("case {i} dense {prim}"),
                &dense[k],
                &want[k],
                ATOL,
                RTOL,
            );
            assert_close(
                &format!("case {i} dense {prim} vs register kernel"),
                &dense[k],
                &to64(&registers[k]),
                ATOL,
                RTOL,
            );
        }
    }
    // Refused: padding, more than one output pixel, K = 3 * 3 * 3 not a multiple of 4.
    for (xs, ws, opts) in [
        (
            [2, 4, 4, 4],
            [1, 4, 4, 4],
            Conv2dOptions::new(1, [1, 0, 0, 0]),
        ),
        ([2, 4, 5, 4], [1, 4, 4, 4], Conv2dOptions::valid(1)),
        ([2, 3, 3, 3], [1, 3, 3, 3], Conv2dOptions::valid(1)),
    ] {
        let g = Geometry::conv(&xs, &ws, opts).unwrap();
        assert!(!g.is_dense(&gpu), "{xs:?} {ws:?} {opts:?}");
        let x = tensor(&gpu, &vec![0.5; xs.iter().product()], &xs);
        let w = tensor(&gpu, &vec![0.5; ws.iter().product()], &ws);
        let dy = tensor(
            &gpu,
            &vec![0.5; g.batch * g.cout * g.oh * g.ow],
            &[g.batch, g.cout, g.oh, g.ow],
        );
        let err = forward_with(&x, &w, None, None, &g, ForwardPath::Dense).unwrap_err();
        assert!(err.to_string().contains("dense-layer kernel"), "{err}");
        assert!(input_grad_with(&dy, &w, None, None, &g, InputGradPath::Dense).is_err());
        assert!(weight_grad_with(&dy, &x, &g, WeightGradPath::Dense).is_err());
    }
}

/// An inference-mode batch norm in the epilogue (`Epilogue::batch_norm`, the generator's
/// layers when it samples) stores the bits of the conv followed by `batch_norm` in inference
/// mode, on every kernel family and path a conv2d or conv_transpose2d forward can take, and
/// both agree with the f64 reference. llvmpipe never contracts a multiply and an add, so the
/// same arithmetic in the same order rounds the same.
#[test]
fn batch_norm_in_the_epilogue_is_the_conv_then_batch_norm_bit_for_bit() {
    use dcgan::ops::batch_norm::{self, cpu as bn_cpu, BatchNormState};
    use dcgan::ops::conv::{
        forward_epilogue, forward_with, input_grad_epilogue, input_grad_with, Epilogue,
        ForwardPath, Geometry, InputGradPath,
    };
    let gpu = gpu();
    // (x, w, options, whether the narrow input gradient serves it, whether the whole-plane
    // one does, whether the row windows do): odd sizes, strides 1 and 2, more channels than
    // a 64-row tile.
    let (dx, rw) = (input_grad_cases(), row_window_cases());
    let cases = [dx[0], dx[7], dx[5]]
        .map(|(x, w, o, narrow, planes)| (x, w, o, narrow, planes, false))
        .into_iter()
        .chain(
            rw[..2]
                .iter()
                .map(|&(x, w, o)| (x, w, o, false, false, true)),
        );
    let mut families = vec![false];
    if gpu.subgroup_size().is_some() {
        families.push(true);
    }
    let mut checked = 0;
    for (i, (xs, ws, opts, narrow, planes, rows)) in cases.enumerate() {
        let g = Geometry::conv(&xs, &ws, opts).unwrap();
        let mut rng = Rng::new(900 + i as u64);
        let x = rng.vec(xs.iter().product());
        let w = rng.vec(ws.iter().product());
        let dy = rng.vec(g.batch * g.cout * g.oh * g.ow);
        let (xt, wt) = (tensor(&gpu, &x, &xs), tensor(&gpu, &w, &ws));
        let dyt = tensor(&gpu, &dy, &[g.batch, g.cout, g.oh, g.ow]);
        // Batch-norm parameters and running statistics of `c` channels, and the check of one
        // primitive's output `z` (before the bias) on `c` channels of `inner` pixels.
        type Run<'a> =
            dyn Fn(Option<&dcgan::Tensor>, Epilogue) -> dcgan::Result<dcgan::Tensor> + 'a;
        let check = |c: usize, inner: usize, z: &[f64], run: &Run, what: &str| {
            let mut r = Rng::new(1000 + c as u64);
            let bias = r.vec(c);
            let gamma: Vec<f32> = r.vec(c).iter().map(|v| 1.0 + v).collect();
            let beta = r.vec(c);
            let mean = r.vec(c);
            let var: Vec<f32> = r.vec(c).iter().map(|v| 0.5 + v.abs()).collect();
            let t = |v: &[f32]| tensor(&gpu, v, &[c]);
            let (bt, gt, et, mt, vt) = (t(&bias), t(&gamma), t(&beta), t(&mean), t(&var));
            let state = BatchNormState {
                running_mean: &mt,
                running_var: &vt,
                momentum: 0.1,
                eps: 1e-5,
            };
            let act = if i % 2 == 0 {
                Activation::Relu
            } else {
                Activation::LeakyRelu(0.2)
            };
            // The unfused pair: the conv with its bias, then batch_norm from running stats.
            let tape = Tape::no_grad();
            let y = tape.leaf(run(Some(&bt), None.into()).unwrap(), false);
            let (gv, ev) = (tape.leaf(gt.clone(), false), tape.leaf(et.clone(), false));
            let pair =
                dcgan::ops::batch_norm_activation(&tape, &y, &gv, &ev, &state, false, Some(act))
                    .unwrap()
                    .value
                    .to_vec()
                    .unwrap();
            let table = batch_norm::inference_epilogue(Some(&bt), &gt, &et, &state).unwrap();
            let epi = Epilogue {
                batch_norm: true,
                act: Some(act),
            };
            let fused = run(Some(&table), epi).unwrap().to_vec().unwrap();
            assert!(
                pair.iter()
                    .zip(&fused)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{what}: the fused batch norm differs from the pair"
            );
            let biased: Vec<f64> = z
                .iter()
                .enumerate()
                .map(|(k, v)| v + bias[(k / inner) % c] as f64)
                .collect();
            let normed = bn_cpu::batch_norm_eval(
                &biased,
                c,
                inner,
                &to64(&gamma),
                &to64(&beta),
                &to64(&mean),
                &to64(&var),
                1e-5,
            );
            assert_close(what, &fused, &act_cpu::forward(&normed, act), ATOL, RTOL);
            // The bias slot must hold the whole table.
            let e = run(Some(&bt), epi).err();
            assert!(
                e.is_some_and(|e| e.to_string().contains("inference_epilogue")),
                "{what}: a plain bias was taken for the table"
            );
        };
        let z_fwd = cpu::conv2d(&to64(&x), xs, &to64(&w), ws, None, opts).0;
        let zeros = vec![0.0; xs.iter().product()];
        let z_dx = conv_reference(&g, &to64(&zeros), &to64(&w), &to64(&dy))[1].clone();
        for &subgroups in &families {
            gpu.set_subgroups(subgroups);
            let mut fwd_paths = vec![ForwardPath::Registers, ForwardPath::SharedTiles];
            let mut dx_paths = vec![
                InputGradPath::Direct,
                InputGradPath::Col2im,
                InputGradPath::SharedTiles,
            ];
            if subgroups && narrow {
                dx_paths.push(InputGradPath::Narrow);
            }
            if subgroups && planes {
                dx_paths.push(InputGradPath::Planes);
            }
            if subgroups && rows {
                fwd_paths.push(ForwardPath::RowWindows);
                dx_paths.push(InputGradPath::RowWindows);
            }
            for path in fwd_paths {
                let run = |b: Option<&dcgan::Tensor>, epi: Epilogue| {
                    if epi.batch_norm {
                        forward_epilogue(&xt, &wt, b, epi, &g, path)
                    } else {
                        forward_with(&xt, &wt, b, epi.act, &g, path)
                    }
                };
                let what = format!("case {i} forward {path:?} (subgroups {subgroups})");
                check(g.cout, g.oh * g.ow, &z_fwd, &run, &what);
                checked += 1;
            }
            for path in dx_paths {
                let run = |b: Option<&dcgan::Tensor>, epi: Epilogue| {
                    if epi.batch_norm {
                        input_grad_epilogue(&dyt, &wt, b, epi, &g, path)
                    } else {
                        input_grad_with(&dyt, &wt, b, epi.act, &g, path)
                    }
                };
                let what = format!("case {i} input gradient {path:?} (subgroups {subgroups})");
                check(g.cin, g.h * g.w, &z_dx, &run, &what);
                checked += 1;
            }
        }
    }
    gpu.set_subgroups(true);
    let expected = if families.len() == 2 { 25 + 34 } else { 25 };
    assert_eq!(checked, expected);
}
